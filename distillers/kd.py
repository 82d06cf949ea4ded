"""Knowledge distillation from the teacher's softened class distribution (Hinton et al., 2015)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from distillers.base import Distiller, Outputs
from distillers.label_use import item_cross_entropy
from distillers.losses import KDLoss


class KD(Distiller):
    """Cross-entropy plus ``T^2``-scaled KL to the teacher's soft targets (0.1 CE + 0.9 KD by default).

    Source: Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network" (2015); the
    weights 0.1 / 0.9 and T = 4 are RepDistiller's (``-r 0.1 -a 0.9``, ``--kd_T 4``). Departures: none.

    Args:
        student: the video network.
        temperature: softmax temperature T.
    """

    default_loss_weights: ClassVar[dict[str, float]] = {"ce": 0.1, "kd": 0.9}

    def __init__(self, student: nn.Module, temperature: float = 4.0, **kwargs: Any) -> None:
        super().__init__(student, **kwargs)
        self.kd_loss = KDLoss(temperature)

    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            "ce": item_cross_entropy(student.logits, batch["label"]),
            "kd": self.kd_loss(student.logits, teacher.logits),
        }
