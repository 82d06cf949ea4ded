"""FitNets hints across modalities (Romero et al., 2015).

The teacher's hint is a 1-D EEG feature map (B, C_t, L_t); the student's a 3-D video feature map
(B, C_s, T, H, W). Both cover the same 30 s epoch, so the regressor keeps the shared time axis:
it averages the student's map over space, maps channels with a 1x1 convolution and resamples time
to the teacher's length before the squared error.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def as_sequence(features: torch.Tensor) -> torch.Tensor:
    """View any feature map as (B, C, L) over time: (B, D) -> L=1, (B, C, T, H, W) -> mean over H, W."""
    if features.dim() == 2:
        return features.unsqueeze(-1)
    if features.dim() == 3:
        return features
    if features.dim() == 5:
        return features.mean(dim=(3, 4))
    raise ValueError(f"cannot read a time axis from a feature map of shape {tuple(features.shape)}")


class HintLoss(nn.Module):
    """Regress a student feature map onto a teacher's with a learnt 1x1 conv, then mean squared error."""

    def __init__(self, student_channels: int, teacher_channels: int) -> None:
        super().__init__()
        self.regressor = nn.Sequential(
            nn.Conv1d(student_channels, teacher_channels, kernel_size=1, bias=False),
            nn.BatchNorm1d(teacher_channels),
        )

    def forward(self, student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
        target = as_sequence(teacher_features).detach()
        hint = self.regressor(as_sequence(student_features))
        if hint.shape[-1] != target.shape[-1]:
            hint = F.interpolate(hint, size=target.shape[-1], mode="linear", align_corners=False)
        return F.mse_loss(hint, target)
