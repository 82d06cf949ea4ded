"""Similarity-preserving distillation (Tung and Mori, 2019): samples similar for the teacher should
be similar for the student."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _similarity(x: torch.Tensor) -> torch.Tensor:
    gram = x @ x.t()
    return F.normalize(gram, p=2, dim=1)


class SPLoss(nn.Module):
    """``||norm(F_s F_s^T) - norm(F_t F_t^T)||_F^2 / B^2`` with row-wise L2-normalised Gram matrices."""

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        student, teacher = student.flatten(1), teacher.flatten(1).detach()
        difference = _similarity(student) - _similarity(teacher)
        return (difference**2).sum() / len(student) ** 2
