"""Label-aware contrastive losses between student anchors and a bank of teacher keys (SACD's contrast).

Pairing a video clip only with its own EEG epoch ignores that every epoch of the same sleep stage is
a valid target; both losses here treat all keys of the anchor's class as positives. Anchors and keys
are L2-normalised inside, so the caller may pass raw projections. ``key_mask`` leaves keys out per
anchor (e.g. memory-bank slots not filled yet). A label of ``UNSCORED`` (an item nobody scored,
left out) takes no part: such a key is no key and such an anchor has no positive, so it is not counted.

Both losses are written with masks only: no step depends on a value read back from the device
(no boolean indexing, ``nonzero`` or ``.item()``), so they never stall a GPU's queue. Anchors with
nothing to compare get weight 0; with no such anchor at all the loss is a zero that still belongs
to the graph, so a step can always call ``backward``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from sacd.stages import UNSCORED


def _masks(
    anchor_labels: torch.Tensor, key_labels: torch.Tensor, key_mask: torch.Tensor | None, shape: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(usable, same_class) boolean (B, N) masks; ``same_class`` is already restricted to usable keys."""
    if key_mask is None:
        usable = torch.ones(shape, dtype=torch.bool, device=key_labels.device)
    else:
        if tuple(key_mask.shape) != shape:
            raise ValueError(f"key_mask must have shape {shape}, got {tuple(key_mask.shape)}")
        usable = key_mask.to(torch.bool)
    usable = usable & (key_labels != UNSCORED).view(1, -1)
    same_class = (anchor_labels.view(-1, 1) == key_labels.view(1, -1)) & usable
    return usable, same_class


def _mean_over(per_anchor: torch.Tensor, counted: torch.Tensor) -> torch.Tensor:
    """Mean of ``per_anchor`` over the anchors where ``counted`` holds (0, still in the graph, if none)."""
    weights = counted.to(per_anchor.dtype)
    return (per_anchor * weights).sum() / weights.sum().clamp_min(1.0)


def _unit_rows(anchors: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = torch.promote_types(anchors.dtype, torch.float32)  # logs and sorting in at least float32
    return F.normalize(anchors.to(dtype), p=2, dim=1), F.normalize(keys.to(dtype), p=2, dim=1)


class LabelAwareNCELoss(nn.Module):
    """Supervised-contrastive NCE: every usable key of the anchor's class is a positive.

    ``L_i = -mean_{p in P_i} (s_ip - logsumexp_{j usable} s_ij)`` with ``s = <a, k> / tau``, averaged
    over anchors that have at least one positive.
    """

    def __init__(self, temperature: float = 0.07) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(
        self,
        anchors: torch.Tensor,
        anchor_labels: torch.Tensor,
        keys: torch.Tensor,
        key_labels: torch.Tensor,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        usable, positive = _masks(anchor_labels, key_labels, key_mask, (len(anchors), len(keys)))
        a, k = _unit_rows(anchors, keys)
        logits = a @ k.t() / self.temperature
        # A finite floor, not -inf: a row with no usable key then stays finite, and so do its gradients.
        hidden = torch.finfo(logits.dtype).min
        log_denominator = torch.logsumexp(logits.masked_fill(~usable, hidden), dim=1, keepdim=True)
        log_prob = torch.where(positive, logits - log_denominator, torch.zeros_like(logits))
        count = positive.sum(dim=1)
        per_anchor = -log_prob.sum(dim=1) / count.clamp_min(1).to(logits.dtype)
        return _mean_over(per_anchor, count > 0).to(anchors.dtype)


class BankTripletLoss(nn.Module):
    """Triplet hinge over mined same-class (positive) and other-class (negative) keys.

    Distances are squared Euclidean between unit vectors, ``d = ||a - k||^2``, as in FaceNet
    (Schroff et al., CVPR 2015) and the SACD release's triplet loss (``loss/Khn.py``); a triplet
    costs ``relu(d_ap - d_an + margin)``. Two ways to mine ``k`` keys of each kind per anchor:

    - ``"semi_hard"`` (FaceNet's sense, the default): a triplet is semi-hard when the negative is
      farther than the positive but within the margin, ``d_ap < d_an < d_ap + margin``. A positive is
      semi-hard when it is in at least one semi-hard triplet (it is closer than some negative, but
      not by the margin). Each anchor takes its ``k`` farthest semi-hard positives and, for each of
      them, its ``k`` nearest semi-hard negatives.
    - ``"hardest"``: the ``k`` farthest positives and the ``k`` nearest negatives, all ``k x k`` pairs.

    ``L_i`` is the mean hinge over anchor ``i``'s mined triplets; the loss is the mean over anchors
    that have at least one. Mining the bank, rather than drawing random triplets, gives a signal where
    random triplets are mostly satisfied already; semi-hard mining avoids the collapse that always
    pushing against the hardest negative can cause (FaceNet, section 3.2).
    """

    def __init__(self, margin: float = 0.5, k: int = 5, mining: Literal["semi_hard", "hardest"] = "semi_hard") -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(f"margin must be non-negative, got {margin}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if mining not in ("semi_hard", "hardest"):
            raise ValueError(f"mining must be 'semi_hard' or 'hardest', got {mining!r}")
        self.margin = margin
        self.k = int(k)
        self.mining = mining

    def forward(
        self,
        anchors: torch.Tensor,
        anchor_labels: torch.Tensor,
        keys: torch.Tensor,
        key_labels: torch.Tensor,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        usable, positive = _masks(anchor_labels, key_labels, key_mask, (len(anchors), len(keys)))
        negative = usable & ~positive
        a, k = _unit_rows(anchors, keys)
        distances = (2.0 - 2.0 * a @ k.t()).clamp_min(0.0)  # ||a - k||^2 of unit vectors
        mine = self._semi_hard if self.mining == "semi_hard" else self._hardest
        positive_distance, negative_distance, triplet = mine(distances, positive, negative)
        hinge = F.relu(positive_distance - negative_distance + self.margin) * triplet.to(distances.dtype)
        count = triplet.sum(dim=(1, 2))
        per_anchor = hinge.sum(dim=(1, 2)) / count.clamp_min(1).to(distances.dtype)
        return _mean_over(per_anchor, count > 0).to(anchors.dtype)

    def _hardest(self, d: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(B, k, 1) positive and (B, 1, k) negative distances, and the (B, k, k) mask of real pairs."""
        k = min(self.k, d.shape[1])
        far = d.masked_fill(~positive, float("-inf")).topk(k, dim=1).values
        near = d.masked_fill(~negative, float("inf")).topk(k, dim=1, largest=False).values
        far_ok, near_ok = torch.isfinite(far), torch.isfinite(near)
        far, near = far.where(far_ok, 0.0), near.where(near_ok, 0.0)
        return far.unsqueeze(2), near.unsqueeze(1), far_ok.unsqueeze(2) & near_ok.unsqueeze(1)

    def _semi_hard(self, d: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(B, k, 1) distances of the mined positives, (B, k, k) of each one's negatives, and the triplet mask."""
        batch, keys = d.shape
        k = min(self.k, keys)
        ordered = d.masked_fill(~negative, float("inf")).sort(dim=1).values  # negatives first, nearest first
        negatives = negative.sum(dim=1, keepdim=True)
        # For every key, the position of the nearest negative strictly farther from the anchor than it.
        after = torch.searchsorted(ordered.detach(), d.detach().contiguous(), right=True)
        next_negative = ordered.gather(1, after.clamp_max(keys - 1))
        semi_hard = positive & (after < negatives) & (next_negative < d + self.margin)
        far, chosen = d.masked_fill(~semi_hard, float("-inf")).topk(k, dim=1)
        far_ok = torch.isfinite(far)
        slots = after.gather(1, chosen).unsqueeze(2) + torch.arange(k, device=d.device)  # (B, k, k)
        in_range = slots < negatives.unsqueeze(2)
        near = ordered.gather(1, slots.clamp_max(keys - 1).view(batch, -1)).view(batch, k, k)
        far = far.where(far_ok, 0.0).unsqueeze(2)
        real = far_ok.unsqueeze(2) & in_range
        near = near.where(real, 0.0)
        return far, near, real & (near < far + self.margin)
