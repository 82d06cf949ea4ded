"""The floor for learning from unscored nights: the teacher's hard predictions as labels."""

from __future__ import annotations

from typing import ClassVar

import torch

from distillers.base import Distiller, Outputs
from distillers.label_use import LabelUse, item_cross_entropy


class PseudoLabel(Distiller):
    """Cross-entropy on the scored items plus cross-entropy on the teacher's predicted stage of the
    unscored ones (weights 1 and 1), each averaged over its own items.

    The obvious baseline for paired nights nobody scored: label them with the EEG teacher and train
    the video student as if a scorer had. A distiller that learns from unscored nights must beat this
    to show that its soft targets, features or relations carry more than the teacher's top class.
    Source: Lee, "Pseudo-Label" (ICML 2013 workshop), ``L = CE_scored + alpha * CE_pseudo``.
    Departures: the pseudo-labels come from the frozen EEG teacher, not from the student being
    trained, so ``alpha`` is constant (Lee ramps it up to 3 while the student's own guesses are still
    poor); on fully scored data this is the Vanilla student, trained on all its items.
    """

    label_terms: ClassVar[dict[str, LabelUse]] = {"ce": "scored", "pseudo": "unscored"}
    default_loss_weights: ClassVar[dict[str, float]] = {"ce": 1.0, "pseudo": 1.0}

    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        predicted = teacher.logits.detach().argmax(dim=1)
        return {
            "ce": item_cross_entropy(student.logits, batch["label"]),
            "pseudo": item_cross_entropy(student.logits, predicted),
        }
