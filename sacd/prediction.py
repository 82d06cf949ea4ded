"""What ``sacd predict`` writes for each staged night, from Lightning's predict loop.

Per night, in ``OUTPUT_DIR/<night>/``:

- ``hypnogram.csv``: one row per epoch: onset, stage (``?`` where unscored), probability of each class;
- ``hypnogram.edf``: the same stages as EDF+ annotations with the standard labels ("Sleep stage W",
  "Sleep stage 1" ... "Sleep stage R", "Sleep stage ?"), readable by MNE and sleep-scoring software;
- ``hypnogram.png``: the hypnogram above a strip of class probabilities (and, given a reference
  hypnogram, the reference above the prediction);
- ``summary.json``: sleep statistics (time in bed, total sleep time, efficiency, latencies, WASO,
  awakenings, minutes and percent per stage), how many epochs were unscored and why, and, given
  a reference, the agreement metrics.

Probabilities can be averaged over a centred window of neighbouring epochs before the stage is
chosen (``smoothing_epochs``; 1 turns it off). Existing outputs are never replaced unless
``overwrite`` is set; the check runs before any video is decoded.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import BasePredictionWriter

from sacd.night_outputs import smooth_probabilities, write_night

OUTPUT_FILES = ("hypnogram.csv", "hypnogram.edf", "hypnogram.png", "summary.json")


class NightWriter(BasePredictionWriter):
    """Collect the student's per-epoch probabilities and write each night's hypnogram, plot and summary.

    Args:
        output_dir: folder that receives one sub-folder per night.
        smoothing_epochs: odd window of epochs whose probabilities are averaged (1: no smoothing).
        overwrite: replace a night's existing outputs (otherwise they are an error).
    """

    def __init__(self, output_dir: str = "predictions", smoothing_epochs: int = 1, overwrite: bool = False) -> None:
        super().__init__(write_interval="batch")
        smooth_probabilities(np.zeros((0, 1)), np.zeros(0, dtype=bool), smoothing_epochs)  # validates the window
        self.output_dir = Path(output_dir)
        self.smoothing_epochs = smoothing_epochs
        self.overwrite = overwrite
        self.written: dict[str, Path] = {}
        self._parts: dict[int, list[dict[str, np.ndarray]]] = defaultdict(list)
        self._started = 0.0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "predict":
            return
        nights = getattr(trainer.datamodule, "nights", None)
        if nights is None:
            raise TypeError("NightWriter writes nights: use it with datamodules.NightVideos (sacd predict)")
        check_writable(self.output_dir)
        if not self.overwrite:
            existing = [str(self.output_dir / night.name / name) for night in nights for name in OUTPUT_FILES
                        if (self.output_dir / night.name / name).exists()]  # fmt: skip
            if existing:
                raise FileExistsError(
                    f"predictions already exist ({', '.join(existing[:3])}{' ...' if len(existing) > 3 else ''}); "
                    "pass --trainer.callbacks.init_args.overwrite true (or another output_dir) to replace them"
                )

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._parts.clear()
        self._started = time.perf_counter()

    def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, prediction: Any,
                           batch_indices: Any, batch: Any, batch_idx: int, dataloader_idx: int) -> None:  # fmt: skip
        keep = {key: prediction[key].detach().cpu().numpy() for key in ("probs", "night", "epoch", "onset", "valid")}
        for night in np.unique(keep["night"]):
            rows = keep["night"] == night
            self._parts[int(night)].append({key: value[rows] for key, value in keep.items()})

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds = time.perf_counter() - self._started
        nights = trainer.datamodule.nights
        class_names = list(getattr(pl_module, "class_names", []))
        epoch_seconds = float(trainer.datamodule.epoch_seconds)
        total = 0
        for index, parts in sorted(self._parts.items()):
            night = nights[index]
            merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
            order = np.argsort(merged["epoch"], kind="stable")
            merged = {key: value[order] for key, value in merged.items()}
            total += len(order)
            folder = self.output_dir / night.name
            self.written[night.name] = write_night(folder, night, merged, class_names, epoch_seconds,
                                                   self.smoothing_epochs)  # fmt: skip
        if total:
            print(f"\nStaged {total} epochs of {len(self._parts)} night(s) in {seconds:.1f} s "
                  f"({total / max(seconds, 1e-9):.1f} epochs/s); outputs in {self.output_dir}")  # fmt: skip


def check_writable(folder: Path) -> None:
    """An error naming the folder now, rather than after a night of decoding, if outputs cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".sacd-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise PermissionError(
            f"cannot write predictions to {folder} ({error.strerror or error}); choose a writable "
            "--trainer.callbacks.init_args.output_dir"
        ) from error


__all__ = ["NightWriter", "check_writable", "smooth_probabilities"]
