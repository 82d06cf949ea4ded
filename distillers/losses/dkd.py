"""Decoupled knowledge distillation (Zhao et al., 2022): target-class and non-target-class parts of KD.

TCKD matches the binary (target vs rest) probabilities; NCKD matches the distribution among the
non-target classes. KD couples the second to the teacher's confidence; DKD weights them separately.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _binary(probs: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """(B, 2): probability of the target class and of all the others."""
    target = (probs * target_mask).sum(dim=1, keepdim=True)
    return torch.cat([target, 1.0 - target], dim=1)


class DKDLoss(nn.Module):
    """Returns ``(tckd, nckd)``, each ``T^2 * KL(teacher || student)`` averaged over the batch, or
    per item with ``reduction="none"`` (then a negative target, an item without one, gives 0)."""

    def __init__(self, temperature: float = 4.0, reduction: str = "batchmean") -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if reduction not in ("batchmean", "none"):
            raise ValueError(f"reduction must be 'batchmean' or 'none', got {reduction!r}")
        self.temperature = temperature
        self.reduction = reduction

    def forward(
        self, student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.temperature
        teacher_logits = teacher_logits.detach()
        known = target >= 0
        target_mask = F.one_hot(target.clamp_min(0), student_logits.shape[1]).to(student_logits.dtype)
        b_student = _binary(F.softmax(student_logits / t, dim=1), target_mask)
        b_teacher = _binary(F.softmax(teacher_logits / t, dim=1), target_mask)
        tckd = F.kl_div(b_student.clamp_min(1e-12).log(), b_teacher, reduction="none").sum(1) * t * t
        # Non-target distribution: push the target logit to -inf before the softmax.
        hide = target_mask * 1e4
        log_q_student = F.log_softmax(student_logits / t - hide, dim=1)
        log_q_teacher = F.log_softmax(teacher_logits / t - hide, dim=1)
        nckd = F.kl_div(log_q_student, log_q_teacher, reduction="none", log_target=True).sum(1) * t * t
        if self.reduction == "none":
            zero = torch.zeros_like(tckd)
            return tckd.where(known, zero), nckd.where(known, zero)
        return tckd.mean(), nckd.mean()
