"""Probabilistic knowledge transfer (Passalis and Tefas, ECCV 2018): match the cosine-similarity
distributions each sample induces over the batch.

The loss is the mean, over the B x B entries, of ``p_t(j|i) log(p_t(j|i) / p_s(j|i))``. It is a
mean, not a sum, because the weight every benchmark uses (30000, RepDistiller's ``-b 30000``)
was set for RepDistiller's PKT loss, which averages over the pairs; a sum would make the effective
weight B^2 times larger. Vectors are normalised by ``||x|| + eps`` and probabilities smoothed by
``eps`` as in that code (and the authors' own).
"""

from __future__ import annotations

import torch
from torch import nn


def _similarity_distribution(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Row-stochastic (B, B) matrix from cosine similarities shifted to [0, 1]."""
    x = x / (x.norm(dim=1, keepdim=True) + eps)
    similarity = (x @ x.t() + 1.0) / 2.0
    return similarity / similarity.sum(dim=1, keepdim=True)


class PKTLoss(nn.Module):
    """``mean_ij p_t(j|i) log((p_t(j|i) + eps) / (p_s(j|i) + eps))`` with the paper's cosine kernel."""

    def __init__(self, eps: float = 1e-7) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        p_student = _similarity_distribution(student.flatten(1), self.eps)
        p_teacher = _similarity_distribution(teacher.flatten(1).detach(), self.eps)
        return (p_teacher * torch.log((p_teacher + self.eps) / (p_student + self.eps))).mean()
