"""CCL: compositional contrastive learning (Chen, Xian, Koepke, Shan and Akata, CVPR 2021,
"Distilling Audio-Visual Knowledge by Compositional Contrastive Learning"; released code yanbeic/CCL).

A composition head fuses the fixed teacher embedding ``e`` with the student's ``v`` into
``m = e + W[n(e); n(v)]`` and classifies it. Three pairs are contrasted, each in both directions,
over the keys of the batch: (video, composed), (video, teacher) and (composed, teacher). A symmetric
KL ties the student's class distribution to the composition head's.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from distillers.base import Distiller, Outputs
from distillers.heads import CompositionHead
from distillers.label_use import LabelUse, item_cross_entropy
from distillers.losses import CCLContrastLoss, SymmetricKLLoss


class CCL(Distiller):
    """CCL as released: ``ce``, ``compose``, ``contrast`` (three pairs) and ``jsd`` (weight 0.5).

    The released training loop steps two optimisers on two sums. The student learns from
    CE(student) + C(video, composed) + C(video, teacher) + JSD; the composition head from
    CE(composed) + C(video, composed) + C(composed, teacher) + JSD. Here one optimiser steps on one
    sum with the same gradients: CE(composed) and C(composed, teacher) are computed from a second
    pass of the head over the detached student embedding, so they train the head and send nothing
    into the student. Defaults are the release's for its audio teacher (``main.py``): tau 0.5 and
    JSD weight 0.5; its two optimisers share their settings, so one optimiser loses nothing.

    Departures: where the student's and teacher's embedding widths differ (the release assumed 512
    and 512), the student embedding is first mapped to the teacher's width by a linear layer
    (``align``, trained with the student); with equal widths there is none. An anchor whose keys all
    share its class scores 0 for the other-class mean, where the release divides by zero. The
    symmetric KL is exact, without the release's 1e-10 inside its logarithm. Items nobody scored
    (which the release does not know) take part in the contrast with the teacher's predicted stage
    (``unscored_labels: teacher``) or not at all (``ignore``), and in the JSD always.

    Args:
        student: the video network.
        temperature: tau of the contrastive softmax.
    """

    default_loss_weights: ClassVar[dict[str, float]] = {"ce": 1.0, "compose": 1.0, "contrast": 1.0, "jsd": 0.5}
    label_terms: ClassVar[dict[str, LabelUse]] = {"ce": "scored", "compose": "scored", "contrast": "staged"}

    def __init__(self, student: nn.Module, temperature: float = 0.5, **kwargs: Any) -> None:
        super().__init__(student, **kwargs)
        student_dim, teacher_dim = self.embedding_dims()
        self.align = nn.Identity() if student_dim == teacher_dim else nn.Linear(student_dim, teacher_dim)
        self.composition = CompositionHead(teacher_dim, teacher_dim, self.num_classes)
        self.contrast_loss = CCLContrastLoss(temperature)
        self.jsd_loss = SymmetricKLLoss(1.0)

    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        labels, stages = batch["label"], batch["stage"]
        video, eeg = self.align(student.features), teacher.features.detach()
        composed_logits, composed = self.composition(eeg, video)
        head_logits, head_composed = self.composition(eeg, video.detach())  # trains the head alone
        contrast = (
            self._both_ways(video, composed, stages)
            + self._both_ways(video, eeg, stages)
            + self._both_ways(head_composed, eeg, stages)
        )
        return {
            "ce": item_cross_entropy(student.logits, labels),
            "compose": item_cross_entropy(head_logits, labels),
            "contrast": contrast,
            "jsd": self.jsd_loss(student.logits, composed_logits),
        }

    def _both_ways(self, a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.contrast_loss(a, b, labels) + self.contrast_loss(b, a, labels)
