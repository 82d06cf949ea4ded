"""PKT: the student's embeddings induce the teacher's similarity distributions (Passalis and Tefas, 2018)."""

from __future__ import annotations

from typing import ClassVar

import torch

from distillers.base import Distiller, Outputs
from distillers.label_use import item_cross_entropy
from distillers.losses import PKTLoss


class PKT(Distiller):
    """Cross-entropy plus the PKT divergence of the pooled embeddings (weight 30000).

    Source: Passalis and Tefas, "Learning Deep Representations with Probabilistic Knowledge Transfer"
    (ECCV 2018); the weight is RepDistiller's (``-b 30000``), set for its loss, which averages over the
    B x B pairs, as :class:`distillers.losses.PKTLoss` does. Departures: none.
    """

    default_loss_weights: ClassVar[dict[str, float]] = {"ce": 1.0, "pkt": 30000.0}
    pkt_loss = PKTLoss()

    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"ce": item_cross_entropy(student.logits, batch["label"]), "pkt": self.pkt_loss(student.features, teacher.features)}
