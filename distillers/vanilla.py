"""The floor every method must beat: the video student trained with cross-entropy alone."""

from __future__ import annotations

from typing import ClassVar

import torch

from distillers.base import Distiller, Outputs
from distillers.label_use import item_cross_entropy


class Vanilla(Distiller):
    """Student-only training with cross-entropy; no teacher is loaded or needed. Every method in the
    zoo must beat this floor on the same folds and seeds to claim that distillation helped.

    With nights nobody scored, it learns from the scored ones only, drawing each batch from them:
    the same number of steps and items per step as every other method (see
    :class:`datamodules.PairedDataModule`'s ``unscored_ratio``)."""

    uses_teacher: ClassVar[bool] = False
    learns_from_unscored: ClassVar[bool] = False

    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"ce": item_cross_entropy(student.logits, batch["label"])}
