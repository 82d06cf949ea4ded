"""The base of every trainable module here: the EEG teacher and all distillers.

It owns what they share: the data-dependent values linked from the datamodule, the optimiser and
LR scheduler built from the config, and the validation/test metrics. Subclasses only say how a batch
becomes logits (``predict_logits``) and how a training batch becomes a loss.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from sacd.metrics import StagingMetrics, StagingReport
from sacd.stages import STAGES

MONITOR = "val/macro_f1"
#: batch entries a prediction carries along, to place each epoch (a night's ``night``/``onset``/``valid``)
PASSED_THROUGH = ("subject", "night", "epoch", "onset", "valid", "index", "label")


class StagingModule(L.LightningModule):
    """Shared base: data spec, optimiser, metrics and the evaluation steps.

    Args:
        num_classes: number of stages (linked from the datamodule).
        class_names: stage names in label order (linked from the datamodule).
        eeg_shape: (channels, samples) of one EEG epoch (linked from the datamodule).
        video_shape: (channels, frames, height, width) of one clip (linked from the datamodule).
        eeg_sample_rate: EEG sampling rate in Hz (linked from the datamodule).
        num_train_samples: training epochs in the dataset, for memory banks (linked).
        optimizer: optimiser factory, e.g. ``torch.optim.SGD`` with its init_args in YAML.
        lr_scheduler: optional LR scheduler factory (``MultiStepLR``, ``CosineAnnealingLR``...).
    """

    #: the folder a logger with no ``name`` writes this model's runs to (None: the class name in lower case)
    run_name: ClassVar[str | None] = None
    #: whether training items nobody scored (label ``UNSCORED``) help this model; the datamodule draws
    #: scored items only for a model without
    learns_from_unscored: ClassVar[bool] = False

    def __init__(
        self,
        *,
        num_classes: int = len(STAGES),
        class_names: Sequence[str] = STAGES,
        eeg_shape: tuple[int, int] = (1, 3840),
        video_shape: tuple[int, int, int, int] = (1, 16, 112, 112),
        eeg_sample_rate: float = 128.0,
        num_train_samples: int | None = None,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        lr_scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__()
        if len(class_names) != num_classes:
            raise ValueError(f"class_names {list(class_names)} do not match num_classes={num_classes}")
        self.num_classes = num_classes
        self.class_names = list(class_names)
        self.eeg_shape = tuple(eeg_shape)
        self.video_shape = tuple(video_shape)
        self.eeg_sample_rate = float(eeg_sample_rate)
        self.num_train_samples = num_train_samples
        self.optimizer_factory = optimizer
        self.lr_scheduler_factory = lr_scheduler
        self.val_metrics = StagingMetrics(self.class_names)
        self.test_metrics = StagingMetrics(self.class_names)
        self.test_report: StagingReport | None = None

    # -- what subclasses provide -------------------------------------------------------------
    def predict_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits (B, num_classes) of the deployed model for a batch; evaluation uses only this."""
        raise NotImplementedError

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters handed to the optimiser (subclasses with frozen parts rely on the filter)."""
        return (p for p in self.parameters() if p.requires_grad)

    # -- optimisation ------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.trainable_parameters())
        if self.lr_scheduler_factory is None:
            return optimizer
        scheduler = self.lr_scheduler_factory(optimizer)
        config = {"scheduler": scheduler, "interval": "epoch"}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = MONITOR
        return {"optimizer": optimizer, "lr_scheduler": config}

    # -- evaluation --------------------------------------------------------------------------
    def _evaluate(self, batch: dict[str, torch.Tensor], metrics: StagingMetrics, stage: str) -> torch.Tensor:
        logits = self.predict_logits(batch)
        target = batch["label"]
        metrics.update(logits, target)
        self.log(f"{stage}/loss", F.cross_entropy(logits, target), batch_size=len(target), sync_dist=True)
        return logits

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, self.val_metrics, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        """Update the test metrics; return the epoch-level predictions for the report writer."""
        probs = self._evaluate(batch, self.test_metrics, "test").detach().float().softmax(dim=-1)
        keep = {key: batch[key] for key in ("index", "subject", "epoch", "label", "label_true") if key in batch}
        return {"probs": probs, "pred": probs.argmax(dim=-1), **keep}

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        probs = self.predict_logits(batch).softmax(dim=-1)
        keep = {key: batch[key] for key in PASSED_THROUGH if key in batch}
        return {"probs": probs, "pred": probs.argmax(dim=-1), **keep}

    def _log_report(self, metrics: StagingMetrics, stage: str) -> StagingReport:
        report = metrics.compute()
        metrics.reset()
        scalars = report.scalars(prefix=f"{stage}/")
        # torchmetrics already synchronised these across processes; sync_dist only keeps Lightning quiet
        self.log(MONITOR.replace("val/", f"{stage}/"), scalars.pop(f"{stage}/macro_f1"), prog_bar=True, sync_dist=True)
        self.log_dict(scalars, sync_dist=True)
        return report

    def on_validation_epoch_end(self) -> None:
        self._log_report(self.val_metrics, "val")

    def on_test_epoch_end(self) -> None:
        self.test_report = self._log_report(self.test_metrics, "test")
