"""SP: samples the teacher finds similar stay similar for the student (Tung and Mori, 2019)."""

from __future__ import annotations

from typing import ClassVar

import torch

from distillers.base import Distiller, Outputs
from distillers.label_use import item_cross_entropy
from distillers.losses import SPLoss


class SP(Distiller):
    """Cross-entropy plus similarity preservation of the pooled embeddings (weight 3000).

    Source: Tung and Mori, "Similarity-Preserving Knowledge Distillation" (ICCV 2019); the weight is
    RepDistiller's (``-b 3000``). Departure: the batch similarity matrices are built from the pooled
    embeddings, where RepDistiller uses the last feature map before pooling.
    """

    default_loss_weights: ClassVar[dict[str, float]] = {"ce": 1.0, "sp": 3000.0}
    sp_loss = SPLoss()

    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"ce": item_cross_entropy(student.logits, batch["label"]), "sp": self.sp_loss(student.features, teacher.features)}
