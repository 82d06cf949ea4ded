"""CCL's class-aware contrastive objective over the keys of one batch (Chen et al., CVPR 2021).

Each anchor's cosine similarities to the batch's keys, divided by ``tau``, are softmaxed over the
keys, giving ``p_ij``. Keys of the anchor's class should take the probability mass and keys of the
other classes should not, so the loss of anchor ``i`` is

    L_i = mean_{j: y_j = y_i} -log(p_ij + eps) + mean_{j: y_j != y_i} -log(1 - p_ij + eps),

averaged over anchors. This is the ``NCELoss`` of the authors' released code (``loss/nce_loss.py``
in yanbeic/CCL, eps = 1e-10); CCL uses tau = 0.5 for its audio teacher. Anchor ``i``'s own pair
(key ``i``) always shares its class, so the first mean is never empty. When every key shares the
anchor's class the second mean is empty and is taken as 0 (the released code divides 0 by 0 there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sacd.stages import UNSCORED

EPSILON = 1e-10


class CCLContrastLoss(nn.Module):
    """Class-aware softmax contrast of (B, D) anchors against the (B, D) keys of the same batch."""

    def __init__(self, temperature: float = 0.5, eps: float = EPSILON) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature
        self.eps = eps

    def forward(self, anchors: torch.Tensor, keys: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if anchors.shape != keys.shape:
            raise ValueError(f"anchors and keys must be paired (B, D) tensors, got {tuple(anchors.shape)} and {tuple(keys.shape)}")
        dtype = torch.promote_types(anchors.dtype, torch.float32)  # softmax and logs in at least float32
        cosine = F.normalize(anchors.to(dtype), dim=1) @ F.normalize(keys.to(dtype), dim=1).t()
        known = labels != UNSCORED
        scaled = (cosine / self.temperature).masked_fill(~known.view(1, -1), torch.finfo(cosine.dtype).min)
        p = torch.softmax(scaled, dim=1)
        pair = known.view(-1, 1) & known.view(1, -1)
        same = (labels.view(-1, 1) == labels.view(1, -1)) & pair
        other = pair & ~same
        pull = torch.where(same, -torch.log(p + self.eps), torch.zeros_like(p)).sum(1) / same.sum(1).clamp_min(1)
        push = torch.where(other, -torch.log(1.0 - p + self.eps), torch.zeros_like(p)).sum(1) / other.sum(1).clamp_min(1)
        weights = known.to(p.dtype)
        return ((pull + push) * weights).sum().div(weights.sum().clamp_min(1.0)).to(anchors.dtype)
