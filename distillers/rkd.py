"""RKD: the student's embeddings keep the teacher's distances and angles among samples (Park et al., 2019)."""

from __future__ import annotations

from typing import ClassVar

import torch

from distillers.base import Distiller, Outputs
from distillers.label_use import item_cross_entropy
from distillers.losses import RKDLoss


class RKD(Distiller):
    """Cross-entropy plus distance (weight 25) and angle (weight 50) relations of the pooled embeddings.

    Source: Park, Kim, Lu and Cho, "Relational Knowledge Distillation" (CVPR 2019); the weights are
    the paper's and RepDistiller's, which also applies RKD to the pooled embeddings. Departures: none.
    """

    default_loss_weights: ClassVar[dict[str, float]] = {"ce": 1.0, "distance": 25.0, "angle": 50.0}
    rkd_loss = RKDLoss()

    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        distance, angle = self.rkd_loss(student.features, teacher.features)
        return {"ce": item_cross_entropy(student.logits, batch["label"]), "distance": distance, "angle": angle}
