"""Callbacks the CLI always adds: the test report writer and the end-of-fit summary."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only

from sacd.staging import StagingModule


def results_dir(trainer: L.Trainer) -> Path:
    """Where a run's results belong: beside the evaluated checkpoint, else in the log folder."""
    if trainer.ckpt_path:
        return Path(trainer.ckpt_path).parent
    return Path(trainer.log_dir or trainer.default_root_dir)


class TestReportWriter(L.Callback):
    """After ``test``, print the staging table and write it as JSON and CSV next to the checkpoint.

    Files are named after the checkpoint (``<ckpt>.test.json``, ``<ckpt>.test.csv``) and written
    atomically, so testing several checkpoints never overwrites another's results.
    """

    def __init__(self) -> None:
        self.last_paths: tuple[Path, Path] | None = None

    @rank_zero_only
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not isinstance(pl_module, StagingModule) or pl_module.test_report is None:
            return
        report = pl_module.test_report
        stem = Path(trainer.ckpt_path).stem if trainer.ckpt_path else "test"
        folder = results_dir(trainer)
        json_path, csv_path = folder / f"{stem}.test.json", folder / f"{stem}.test.csv"
        report.save(json_path, csv_path)
        self.last_paths = (json_path, csv_path)
        source = trainer.ckpt_path or "current weights"
        print(f"\n{report.format_table(f'Test ({type(pl_module).__name__}, {source})')}")
        print(f"\nTest metrics written to {json_path} and {csv_path}")


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
            elif logger.log_dir:
                lines.append(f"  logs ({type(logger).__name__}): {logger.log_dir}")
        print("\n".join(lines))
