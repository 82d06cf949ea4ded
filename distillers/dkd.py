"""DKD: KD split into target-class and non-target-class terms, weighted apart (Zhao et al., 2022)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from distillers.base import Distiller, Outputs
from distillers.label_use import LabelUse, item_cross_entropy
from distillers.losses.dkd import DKDLoss


class DKD(Distiller):
    """Cross-entropy plus alpha * TCKD + beta * NCKD (alpha 1, beta 8, T 4), ramped in over a warm-up.

    Source: Zhao, Cui, Song, Qiu and Liang, "Decoupled Knowledge Distillation" (CVPR 2022) and its
    code (mdistiller): alpha, beta, T, cross-entropy weight 1 and the linear warm-up over 20 epochs
    (epochs counted from 1). Departures: none. The target class of an item nobody scored is the
    teacher's predicted stage (``unscored_labels: teacher``) or the item is left out of TCKD and
    NCKD (``ignore``).

    Args:
        student: the video network.
        temperature: softmax temperature T.
        warmup_epochs: the distillation terms grow linearly to full weight over this many epochs.
    """

    default_loss_weights: ClassVar[dict[str, float]] = {"ce": 1.0, "tckd": 1.0, "nckd": 8.0}
    label_terms: ClassVar[dict[str, LabelUse]] = {"ce": "scored", "tckd": "staged", "nckd": "staged"}

    def __init__(self, student: nn.Module, temperature: float = 4.0, warmup_epochs: int = 20, **kwargs: Any) -> None:
        super().__init__(student, **kwargs)
        self.dkd_loss = DKDLoss(temperature, reduction="none")
        self.warmup_epochs = warmup_epochs

    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        ramp = min((self.current_epoch + 1) / max(self.warmup_epochs, 1), 1.0)
        tckd, nckd = self.dkd_loss(student.logits, teacher.logits, batch["stage"])
        return {"ce": item_cross_entropy(student.logits, batch["label"]), "tckd": ramp * tckd, "nckd": ramp * nckd}
