"""The floor every method must beat: the video student trained with cross-entropy alone."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from distillers.base import Distiller, Outputs


class Vanilla(Distiller):
    """Student-only training; no teacher is loaded or needed."""

    uses_teacher: ClassVar[bool] = False

    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"ce": F.cross_entropy(student.logits, batch["label"])}
