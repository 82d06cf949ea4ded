"""The floor every method must beat: the video student trained with cross-entropy alone."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from distillers.base import Distiller, Outputs


class Vanilla(Distiller):
    """Student-only training with cross-entropy; no teacher is loaded or needed. Every method in the
    zoo must beat this floor on the same folds and seeds to claim that distillation helped."""

    uses_teacher: ClassVar[bool] = False

    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"ce": F.cross_entropy(student.logits, batch["label"])}
