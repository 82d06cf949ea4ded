"""A callback for the DDP tests: each rank saves what it ended a fit with, so ranks can be compared."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch


class RankStateProbe(L.Callback):
    """At the end of ``fit``, write ``rank<r>.pt`` with this rank's weights, buffers, logged metrics
    and the training samples it saw."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.trained_on: list[list[int]] = []  # sample indices per training epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.trained_on.append([])

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        self.trained_on[-1].extend(batch["index"].tolist())

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        state = {key: value.detach().cpu().clone() for key, value in pl_module.state_dict().items()}
        metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
        record = {"state": state, "metrics": metrics, "world_size": trainer.world_size, "steps": trainer.global_step,
                  "trained_on": self.trained_on}
        torch.save(record, self.folder / f"rank{trainer.global_rank}.pt")
