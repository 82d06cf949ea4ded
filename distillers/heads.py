"""Small trainable heads that contrastive and compositional distillers add beside the student."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Projection(nn.Module):
    """A linear map into a shared contrastive space, L2-normalised (CRD's embedding head)."""

    def __init__(self, in_dim: int, out_dim: int = 128) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(features), dim=1)


class CompositionHead(nn.Module):
    """CCL's composition of teacher and student embeddings, ``m = e + W [n(e); n(v)]``, and a linear
    classifier on ``m`` (``models/composition_classifier.py`` of the CCL release, with normalisation on).

    The residual keeps the fixed teacher embedding as the base and lets the student's embedding move
    it; the head is used in training only (CCL and SACD), so it shapes the student without being
    deployed. Returns the class logits of ``m`` and ``m`` itself.
    """

    def __init__(self, teacher_dim: int, student_dim: int, num_classes: int) -> None:
        super().__init__()
        self.compose = nn.Linear(teacher_dim + student_dim, teacher_dim)
        self.classifier = nn.Linear(teacher_dim, num_classes)

    def forward(self, teacher: torch.Tensor, student: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, composed embedding); the teacher side is detached."""
        teacher = teacher.detach()
        joint = torch.cat([F.normalize(teacher, dim=1), F.normalize(student, dim=1)], dim=1)
        composed = teacher + self.compose(joint)
        return self.classifier(composed), composed
