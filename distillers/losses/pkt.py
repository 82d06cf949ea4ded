"""Probabilistic knowledge transfer (Passalis and Tefas, 2018): match the cosine-similarity
distributions each sample induces over the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _similarity_distribution(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Row-stochastic (B, B) matrix from cosine similarities shifted to [0, 1]."""
    x = F.normalize(x, p=2, dim=1, eps=eps)
    similarity = (x @ x.t() + 1.0) / 2.0
    return similarity / similarity.sum(dim=1, keepdim=True)


class PKTLoss(nn.Module):
    """``sum_ij p_t(j|i) log(p_t(j|i) / p_s(j|i))`` over the batch, with the paper's cosine kernel."""

    def __init__(self, eps: float = 1e-7) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        p_student = _similarity_distribution(student.flatten(1), self.eps)
        p_teacher = _similarity_distribution(teacher.flatten(1).detach(), self.eps)
        return (p_teacher * torch.log((p_teacher + self.eps) / (p_student + self.eps))).sum()
