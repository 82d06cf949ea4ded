"""CRD's noise-contrastive estimation loss over memory-bank scores (Tian, Krishnan and Isola, ICLR 2020).

Each anchor is scored against its positive (the other modality's bank entry of the same sample) and
K negatives drawn from the other modality's bank. With x = exp(s / tau) / Z and the noise
distribution P_n = 1 / N over the N training samples, the probability that a pair came from the
data rather than the noise is h(x) = x / (x + K P_n). The loss is the binary NCE objective

    L = -E[log h(x_pos)] - sum_k E[log(1 - h(x_neg_k))],

computed from log x and log(x + K P_n), with the normaliser Z estimated once, from the first
batch, as N times the mean of exp(s / tau) (RepDistiller's ``crd/memory.py``), and then kept fixed
(a buffer, so it is saved and identical across processes). K is the number of negatives an anchor
actually has scored: the drawn entries, less any a mask leaves out or counts as positives.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class CRDNCELoss(nn.Module):
    """Binary NCE over (B, 1 + K) anchor-to-bank scores; column 0 holds each anchor's positive.

    Args:
        num_samples: N, the number of training samples (the noise distribution is uniform over them).
        temperature: tau applied to the cosine scores.
    """

    def __init__(self, num_samples: int, temperature: float = 0.07) -> None:
        super().__init__()
        if num_samples < 2:
            raise ValueError(f"CRD needs at least 2 training samples, got num_samples={num_samples}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.num_samples = num_samples
        self.temperature = temperature
        self.register_buffer("normaliser", torch.tensor(-1.0))
        self._normaliser_known = False  # once the buffer holds Z, later steps never read it back

    def forward(
        self,
        scores: torch.Tensor,
        positive_mask: torch.Tensor | None = None,
        valid_mask: torch.Tensor | None = None,
        anchor_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """NCE loss, averaged over anchors (those of ``anchor_mask``: 0, still in the graph, if none).

        Args:
            scores: (B, 1 + K) cosine scores of each anchor with its positive (column 0) and K bank
                entries.
            positive_mask: (B, 1 + K), True where a bank entry also counts as a positive (CRD's
                class-conditional variant: entries of the anchor's class); column 0 is always positive.
                The positive term is then the mean over an anchor's positives.
            valid_mask: (B, 1 + K), False for entries to leave out.
            anchor_mask: (B,), False for anchors to leave out.
        """
        scaled = scores.to(torch.promote_types(scores.dtype, torch.float32)) / self.temperature
        self._estimate_normaliser(scaled)
        positive = torch.zeros_like(scaled, dtype=torch.bool)
        positive[:, 0] = True
        if positive_mask is not None:
            positive |= positive_mask.to(torch.bool)
        valid = torch.ones_like(positive) if valid_mask is None else valid_mask.to(torch.bool).clone()
        valid[:, 0] = True
        positives, negatives = positive & valid, ~positive & valid
        log_x = scaled - torch.log(self.normaliser.to(scaled.dtype))
        log_noise = torch.log(negatives.sum(1, keepdim=True).to(scaled.dtype) / self.num_samples)  # log(K P_n)
        log_total = torch.logaddexp(log_x, log_noise)  # log(x + K P_n)
        log_data = log_x - log_total  # log h(x)
        log_not_data = log_noise - log_total  # log(1 - h(x))
        positive_term = log_data.where(positives, 0.0).sum(1) / positives.sum(1)
        negative_term = log_not_data.where(negatives, 0.0).sum(1)
        per_anchor = -(positive_term + negative_term)
        if anchor_mask is None:
            return per_anchor.mean().to(scores.dtype)
        counted = anchor_mask.to(per_anchor.dtype)
        return ((per_anchor * counted).sum() / counted.sum().clamp_min(1.0)).to(scores.dtype)

    @torch.no_grad()
    def _estimate_normaliser(self, scaled: torch.Tensor) -> None:
        if self._normaliser_known:
            return
        if self.normaliser.item() <= 0:  # read once: a fresh loss, or one loaded from a checkpoint
            estimate = scaled.double().exp().mean() * self.num_samples  # float64 sum, stored as float32
            if dist.is_available() and dist.is_initialized():
                dist.all_reduce(estimate)
                estimate /= dist.get_world_size()
            self.normaliser.copy_(estimate.to(self.normaliser.dtype))
        self._normaliser_known = True

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._normaliser_known = False  # the loaded Z (or its absence) is read at the next step
