"""Relational knowledge distillation (Park et al., 2019): match distances and angles among samples.

Relations between samples do not depend on the embedding size, so an EEG teacher and a video
student with different widths can be compared directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _normalised_distances(x: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances divided by their mean over distinct pairs (B, B)."""
    distances = torch.cdist(x, x)
    pairs = len(x) * (len(x) - 1)  # the diagonal is zero, so the sum over all entries is the off-diagonal sum
    return distances / (distances.sum() / pairs).clamp_min(1e-12)


def _angles(x: torch.Tensor) -> torch.Tensor:
    """cos of the angle at j between i and k, for every (j, i, k): (B, B, B)."""
    directions = F.normalize(x.unsqueeze(0) - x.unsqueeze(1), p=2, dim=2)  # [j, i] = unit(x_i - x_j)
    return torch.bmm(directions, directions.transpose(1, 2))


class RKDLoss(nn.Module):
    """Huber (smooth L1) loss between student and teacher distance and angle structures.

    Returns ``(distance_loss, angle_loss)``; the paper weights them 25 and 50. Batches of fewer than
    two samples have no relations and give zero.
    """

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        student, teacher = student.flatten(1), teacher.flatten(1).detach()
        if len(student) < 2:
            zero = student.sum() * 0.0
            return zero, zero
        distance = F.smooth_l1_loss(_normalised_distances(student), _normalised_distances(teacher))
        angle = F.smooth_l1_loss(_angles(student), _angles(teacher))
        return distance, angle
