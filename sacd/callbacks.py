"""Callbacks the CLI always adds: the test report writer and the end-of-fit summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn

from sacd.atomic import atomic_write_text
from sacd.distributed import gather_across_processes, gather_objects, world_size
from sacd.reference_levels import context_lines
from sacd.staging import StagingModule


def results_dir(trainer: L.Trainer) -> Path:
    """Where a run's results belong: beside the evaluated checkpoint, else in the log folder."""
    if trainer.ckpt_path:
        return Path(trainer.ckpt_path).parent
    return Path(trainer.log_dir or trainer.default_root_dir)


class TestReportWriter(L.Callback):
    """After ``test``, print the staging table and write it next to the checkpoint.

    Files are named after the checkpoint: ``<ckpt>.test.json`` and ``<ckpt>.test.csv`` (the metrics)
    and ``<ckpt>.test_predictions.csv`` (one row per test epoch: subject, epoch, true and predicted
    stage, class probabilities, in test-set order, from which hypnograms are drawn). All are written
    atomically, so testing several checkpoints never overwrites another's results.
    """

    def __init__(self) -> None:
        self.last_paths: tuple[Path, Path] | None = None
        self._rows: list[dict[str, torch.Tensor]] = []

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._rows = []

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:  # fmt: skip
        if isinstance(outputs, dict) and "probs" in outputs:
            self._rows.append({key: value.detach().cpu() for key, value in outputs.items()})

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not isinstance(pl_module, StagingModule) or pl_module.test_report is None:
            return
        rows = _gathered_in_dataset_order(self._rows)  # collectives: every rank takes part
        folder = results_dir(trainer)
        if not trainer.is_global_zero:
            return
        report = pl_module.test_report
        if trainer.fast_dev_run:  # a trial of the code path, not a result: shown, never written
            print(f"\n{report.format_table(f'Test ({type(pl_module).__name__}, fast_dev_run: nothing written)')}")
            return
        stem = Path(trainer.ckpt_path).stem if trainer.ckpt_path else "test"
        json_path, csv_path = folder / f"{stem}.test.json", folder / f"{stem}.test.csv"
        if rows and "subject" in rows[0]:
            report.subjects = sorted({int(s) for batch in rows for s in batch["subject"].tolist()})
        report.save(json_path, csv_path)
        self.last_paths = (json_path, csv_path)
        if rows:
            atomic_write_text(folder / f"{stem}.test_predictions.csv", predictions_csv(rows, report.class_names))
        source = trainer.ckpt_path or "current weights"
        print(f"\n{report.format_table(f'Test ({type(pl_module).__name__}, {source})')}")
        teacher = pl_module.hparams.get("teacher_checkpoint") if hasattr(pl_module, "uses_teacher") else False
        print("\n".join(["", *context_lines(report, teacher)]))
        if report.degenerate:
            print(f"\nWARNING: degenerate run: {report.degenerate}. It learned nothing usable on these subjects; do not "
                  "compare methods with it (train longer, on more data, or with another learning rate).")  # fmt: skip
        print(f"\nTest metrics written to {json_path} and {csv_path}")


def _gathered_in_dataset_order(batches: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    """Every rank's prediction rows as one batch in dataset order (under DDP each rank saw a shard).

    Single-process rows come back unchanged. Rows carry the sample's dataset ``index``, which
    restores the test set's order after the gather.
    """
    if world_size() == 1 or not batches:
        return batches
    keys = sorted(batches[0])
    local = [torch.cat([batch[key] for batch in batches]) for key in keys]
    merged = dict(zip(keys, gather_across_processes(*local)))
    if "index" in merged:
        order = torch.argsort(merged["index"])
        merged = {key: value[order] for key, value in merged.items()}
    return [merged]


def predictions_csv(batches: list[dict[str, torch.Tensor]], class_names: list[str]) -> str:
    """CSV text of per-epoch predictions: subject, epoch, label, pred, one probability per class, and
    ``label_true`` (the latent stage) where the data knows it, so a run can be scored against either."""
    keys = ["subject", "epoch", "label", "pred"]
    extra = ["label_true"] if batches and all("label_true" in batch for batch in batches) else []
    header = [*keys, *(f"p_{name}" for name in class_names), *extra]
    lines = [",".join(header)]
    for batch in batches:
        size = len(batch["pred"])
        missing = torch.full((size,), -1, dtype=torch.long)
        columns = [batch.get(key, missing).tolist() for key in keys]
        after = [batch[key].tolist() for key in extra]
        probabilities = batch["probs"].tolist()
        for i in range(size):
            fields = [str(int(column[i])) for column in columns] + [f"{p:.6f}" for p in probabilities[i]]
            lines.append(",".join(fields + [str(int(column[i])) for column in after]))
    return "\n".join(lines) + "\n"


class FitSummary(L.Callback):
    """After ``fit``, say where the checkpoints and the per-epoch metrics went."""

    @rank_zero_only
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        lines = ["", "Fit finished."]
        callback = trainer.checkpoint_callback
        if callback is not None and getattr(callback, "best_model_path", ""):
            score = callback.best_model_score
            score_text = f" ({callback.monitor} {float(score):.4f})" if score is not None else ""
            lines.append(f"  best checkpoint: {callback.best_model_path}{score_text}")
        if callback is not None and getattr(callback, "last_model_path", ""):
            lines.append(f"  last checkpoint: {callback.last_model_path}")
        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger):
                lines.append(f"  per-epoch metrics: {Path(logger.log_dir) / 'metrics.csv'}")
            elif isinstance(logger, TensorBoardLogger):
                lines.append(f"  TensorBoard: tensorboard --logdir {logger.save_dir}")
            elif logger.log_dir:
                lines.append(f"  logs ({type(logger).__name__}): {logger.log_dir}")
        print("\n".join(lines))


class EnvironmentRecord(L.Callback):
    """At the start of ``fit``, write ``environment.json`` (package versions, git revision, command)
    into the run's log folder, beside the ``config.yaml`` the CLI saves, so every result can be traced."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        import json
        import sys

        from sacd.environment import environment_versions

        folder = Path(trainer.log_dir or trainer.default_root_dir)  # a broadcast under DDP: every rank asks
        if not trainer.is_global_zero or trainer.fast_dev_run:  # fast_dev_run writes nothing
            return
        record = {"versions": environment_versions(), "command": sys.argv, "ckpt_path": trainer.ckpt_path}
        atomic_write_text(folder / "environment.json", json.dumps(record, indent=2, default=str) + "\n")


class ResumableRandomness(L.Callback):
    """Save the global random states (torch, numpy, python) with every checkpoint and restore them
    when training resumes, at the start of the next training epoch: the point the uninterrupted run
    was at when it saved. With the epoch-seeded sampler, dropout, memory-bank draws and augmentation
    then continue as if the run had never stopped.

    Under DDP every rank's states are gathered into the checkpoint (``rng_states_per_rank``) and each
    rank restores its own; a checkpoint resumed on a different number of processes restores none
    and says so, since no rank's stream would match the original run anyway.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        # every rank builds the checkpoint dict (only rank 0 writes it), so the gather is collective
        checkpoint["rng_states_per_rank"] = gather_objects(random_states())

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        per_rank = checkpoint.get("rng_states_per_rank")
        if per_rank is None:  # checkpoints from before per-rank states
            per_rank = [checkpoint["rng_states"]] if "rng_states" in checkpoint else []
        if len(per_rank) == trainer.world_size:
            self._pending = per_rank[trainer.global_rank]
        elif per_rank:
            rank_zero_warn(f"the checkpoint holds random states for {len(per_rank)} process(es) and this run has "
                           f"{trainer.world_size}; training continues with freshly seeded random states")  # fmt: skip

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._pending is not None:
            set_random_states(self._pending)
            self._pending = None


def random_states() -> dict[str, Any]:
    """The global random states as tensors, lists and numbers (what ``torch.load(weights_only=True)`` reads)."""
    import random

    import numpy as np

    name, keys, position, has_gauss, gauss = np.random.get_state()
    version, internal, python_gauss = random.getstate()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(gauss)],
        "python": [version, list(internal), python_gauss],
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    """Restore states saved by :func:`random_states`."""
    import random

    import numpy as np

    torch.set_rng_state(states["torch"])
    name, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    version, internal, python_gauss = states["python"]
    random.setstate((version, tuple(internal), python_gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
