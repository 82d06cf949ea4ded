"""The files of one staged night: hypnogram CSV and EDF+, a PNG, and the summary with sleep statistics."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sacd.atomic import atomic_write_text, staged
from sacd.figures import constant_note, draw_hypnogram, in_hypnogram_order, new_figure, save_png, stage_color
from sacd.sleep_stats import UNSCORED, sleep_summary


def write_night(folder: Path, night: Any, merged: dict[str, np.ndarray], class_names: list[str],
                epoch_seconds: float, smoothing_epochs: int) -> Path:  # fmt: skip
    """Stage one night from its per-epoch probabilities and write its four files; return the folder."""
    probs = merged["probs"].astype(np.float64)
    valid = merged["valid"].astype(bool)
    onsets = merged["onset"].astype(np.float64)
    smoothed = smooth_probabilities(probs, valid, smoothing_epochs)
    stages = np.where(valid, smoothed.argmax(axis=1), UNSCORED)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "hypnogram.csv", predictions_rows(onsets, stages, smoothed, class_names))
    write_stage_annotations(folder / "hypnogram.edf", stages, epoch_seconds, night.name, class_names)
    summary = sleep_summary(stages, epoch_seconds, class_names)
    record: dict[str, Any] = {
        "night": night.name,
        "videos": [str(path) for path in night.videos],
        "start_seconds": float(night.start_seconds),
        "epoch_seconds": epoch_seconds,
        "epochs": int(len(stages)),
        "unscored_epochs": int((~valid).sum()),
        "smoothing_epochs": smoothing_epochs,
        **summary.to_dict(),
    }
    reference = None
    if night.reference is not None:
        reference = reference_labels(night.reference, onsets, epoch_seconds)
        record["agreement"] = agreement(reference, stages, class_names)
    figure = night_figure(stages, smoothed, valid, class_names, epoch_seconds, night.name, reference,
                          record.get("agreement"))
    save_png(figure, folder / "hypnogram.png")
    atomic_write_text(folder / "summary.json", summary_json(record))
    print(f"\n{summary.format_table(f'{night.name}: {len(stages)} epochs')}")
    if record["unscored_epochs"]:
        print(f"  {record['unscored_epochs']} epoch(s) unscored: gaps or undecodable video")
    if "agreement" in record:
        scores = record["agreement"]
        print(f"  against {night.reference.name}: accuracy {scores['acc']:.3f}  macro-F1 {scores['macro_f1']:.3f}  "
              f"kappa {scores['kappa']:.3f} ({scores['num_epochs']} epochs)")  # fmt: skip
    print(f"  written to {folder}")
    return folder


def write_stage_annotations(path: Path, stages: np.ndarray, epoch_seconds: float, name: str,
                            class_names: list[str]) -> None:  # fmt: skip
    """An annotations-only EDF+ with Sleep-EDF stage labels, written through a temporary file."""
    from datamodules.generator.export import write_annotations_edf

    with staged([path]) as (tmp,):
        write_annotations_edf(stages, epoch_seconds, tmp, patient_code=name, class_names=class_names)


def reference_labels(path: Path, onsets: np.ndarray, epoch_seconds: float) -> np.ndarray:
    """The reference hypnogram's stage at each predicted epoch's onset (-1 where it has none)."""
    from datamodules.recorded.hypnogram import read_hypnogram

    hypnogram = read_hypnogram(path, epoch_seconds=epoch_seconds)
    position = (onsets - hypnogram.onset_seconds) / hypnogram.epoch_seconds
    index = np.round(position).astype(np.int64)
    aligned = (np.abs(position - index) < 1e-3) & (index >= 0) & (index < len(hypnogram.labels))
    labels = np.full(len(onsets), UNSCORED, dtype=np.int64)
    labels[aligned] = hypnogram.labels[index[aligned]]
    return labels


def agreement(reference: np.ndarray, stages: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """Staging metrics of the prediction against the reference, over epochs both scored."""
    from sacd.metrics import StagingMetrics

    both = (reference >= 0) & (stages >= 0)
    metrics = StagingMetrics(class_names)
    if both.any():
        metrics.update(torch.as_tensor(stages[both]), torch.as_tensor(reference[both]))
    return metrics.compute().to_dict() if both.any() else {"num_epochs": 0, "acc": float("nan"),
                                                           "macro_f1": float("nan"), "kappa": float("nan")}  # fmt: skip


def night_figure(stages: np.ndarray, probs: np.ndarray, valid: np.ndarray, class_names: list[str],
                 epoch_seconds: float, title: str, reference: np.ndarray | None = None,
                 scores: dict[str, Any] | None = None):  # fmt: skip
    """Hypnogram(s) above a stacked strip of class probabilities, stages in one palette and order;
    with a reference, its hypnogram on top and the agreement in the prediction's title."""
    rows = 3 if reference is not None else 2
    figure = new_figure(12, 2.2 * rows)
    axes = figure.subplots(rows, 1, sharex=True, height_ratios=[1] * (rows - 1) + [0.8])
    epochs = np.arange(len(stages))
    predicted = f"predicted from video{constant_note(stages, class_names)}"
    if reference is not None:
        draw_hypnogram(axes[0], epochs, reference, class_names, epoch_seconds)
        axes[0].set_title(f"{title}: reference", loc="left", fontsize=10)
        if scores and scores.get("num_epochs"):
            predicted += (f"; against the reference: accuracy {scores['acc']:.3f}, macro-F1 {scores['macro_f1']:.3f}, "
                          f"kappa {scores['kappa']:.3f} ({scores['num_epochs']} epochs)")  # fmt: skip
    draw_hypnogram(axes[rows - 2], epochs, stages, class_names, epoch_seconds)
    axes[rows - 2].set_title(f"{title}: {predicted}", loc="left", fontsize=10)
    hours = np.r_[epochs, len(epochs)] * epoch_seconds / 3600.0
    stacked = in_hypnogram_order(class_names)[::-1]  # N3 at the bottom, W on top, as in the hypnogram
    strip = np.where(valid[:, None], probs, 0.0).T[[class_names.index(name) for name in stacked]]
    axes[-1].stackplot(hours, np.c_[strip, strip[:, -1:]], labels=stacked, step="post",
                       colors=[stage_color(name) for name in stacked])  # fmt: skip
    axes[-1].set_ylim(0, 1)
    axes[-1].set_ylabel("probability")
    axes[-1].set_xlabel("hours from the first epoch")
    handles, labels = axes[-1].get_legend_handles_labels()
    axes[-1].legend(handles[::-1], labels[::-1], loc="center left", bbox_to_anchor=(1.005, 0.5), fontsize="small",
                    frameon=False)  # outside the strip: never over the data
    return figure


def smooth_probabilities(probs: np.ndarray, valid: np.ndarray, window: int) -> np.ndarray:
    """Average each epoch's class probabilities over a centred window of valid epochs (window 1: unchanged)."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smoothing_epochs must be a positive odd number of epochs, got {window}")
    if window == 1 or len(probs) == 0:
        return probs.copy()
    half = window // 2
    weights = valid.astype(np.float64)
    padded_probs = np.pad(probs * weights[:, None], ((half, half), (0, 0)))
    padded_weights = np.pad(weights, (half, half))
    kernel = np.ones(window)
    sums = np.stack([np.convolve(padded_probs[:, k], kernel, mode="valid") for k in range(probs.shape[1])], axis=1)
    counts = np.convolve(padded_weights, kernel, mode="valid")
    smoothed = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1e-12)[:, None], probs)
    return smoothed


def predictions_rows(onsets: np.ndarray, stages: np.ndarray, probs: np.ndarray, class_names: list[str]) -> str:
    """CSV text: epoch, onset_seconds, stage (``?`` when unscored), p_<class>..."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["epoch", "onset_seconds", "stage", *(f"p_{name}" for name in class_names)])
    for epoch, (onset, stage, row) in enumerate(zip(onsets, stages, probs)):
        label = "?" if stage == UNSCORED else class_names[stage]
        writer.writerow([epoch, f"{onset:g}", label, *(f"{p:.6f}" for p in row)])
    return buffer.getvalue()


def summary_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, default=_plain) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return str(value)
