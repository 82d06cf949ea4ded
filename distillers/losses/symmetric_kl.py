"""Symmetric KL between two soft predictions (what CCL's released code calls its "JSD" loss).

Forward KL alone lets one distribution spread mass where the other has none; adding the reverse
direction also penalises that, which suits a weaker modality copying a stronger one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SymmetricKLLoss(nn.Module):
    """``T^2 * mean_b [KL(p || q) + KL(q || p)]`` with ``p = softmax(a / T)``, ``q = softmax(b / T)``.

    Both arguments receive gradients: a caller that distils from a fixed target detaches it (SACD's
    teacher logits), one that trains both sides does not (CCL's student and composition head).
    ``T^2`` keeps the gradient scale independent of the temperature.
    """

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(self, logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        log_p = F.log_softmax(logits_a / t, dim=-1)
        log_q = F.log_softmax(logits_b / t, dim=-1)
        # KL(p||q) + KL(q||p) = sum (p - q)(log p - log q).
        symmetric = (log_p.exp() - log_q.exp()) * (log_p - log_q)
        return symmetric.sum(dim=-1).mean() * t * t
