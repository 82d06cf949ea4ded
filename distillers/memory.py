"""The memory bank of the contrastive distillers (CRD and SACD): one momentum-updated slot per training sample.

A bank is a module whose state lives in buffers, so it is saved in checkpoints and moves with the
module. Updates run under ``no_grad``, cast incoming features to the bank's dtype (banks stay
float32 under bf16/fp16 autocast), and, under DDP, first gather every rank's batch in rank order so
that every rank applies the same update and holds the same bank. Nothing here reads a value back
from the device during a training step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sacd.distributed import gather_across_processes

EMPTY = -1


class IndexedBank(nn.Module):
    """One slot per training sample, updated with momentum: ``m * old + (1 - m) * new``, renormalised.

    Slots start as random unit vectors (as in CRD) so negatives are defined from the first step; a
    slot's label and sample id are ``EMPTY`` until its sample has been seen.
    """

    def __init__(self, size: int, dim: int, momentum: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"a memory bank needs size >= 1 and dim >= 1, got size={size}, dim={dim}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("features", F.normalize(torch.randn(size, dim, generator=generator), dim=1))
        self.register_buffer("labels", torch.full((size,), EMPTY, dtype=torch.long))
        self.register_buffer("ids", torch.full((size,), EMPTY, dtype=torch.long))

    @property
    def size(self) -> int:
        return len(self.features)

    def filled(self) -> torch.Tensor:
        """Boolean mask of the slots whose sample has been seen."""
        return self.ids != EMPTY

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor, ids: torch.Tensor) -> None:
        """Blend the batch (from every rank under DDP) into the slots of its sample ids."""
        if features.shape[-1] != self.features.shape[1]:
            raise ValueError(f"bank holds {self.features.shape[1]}-d features, got {tuple(features.shape)}")
        if ids.device.type == "cpu":  # on an accelerator this check would wait for the device
            _check_ids(ids, self.size)
        features = F.normalize(features.detach().to(self.features.dtype), dim=1)
        features, labels, ids = gather_across_processes(features, labels.detach().long(), ids.detach().long())
        blended = self.momentum * self.features[ids] + (1.0 - self.momentum) * features
        self.features[ids] = F.normalize(blended, dim=1)
        self.labels[ids] = labels
        self.ids[ids] = ids

    def draw_slots(self, count: int) -> torch.Tensor:
        """Up to ``count`` distinct slots drawn at random (all slots when the bank is no larger);
        filled or not, so that the number is fixed: callers mask with :meth:`filled`."""
        if count >= self.size:
            return torch.arange(self.size, device=self.features.device)
        return torch.randperm(self.size, device=self.features.device)[:count]

    def sample_negatives(self, positives: torch.Tensor, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, count) random slot indices per row, uniform over the other ``size - 1`` slots."""
        device = positives.device if generator is None else generator.device
        draws = torch.randint(0, self.size - 1, (len(positives), count), generator=generator, device=device)
        draws = draws.to(positives.device)
        return draws + (draws >= positives[:, None]).long()  # skip each row's own slot


def _check_ids(ids: torch.Tensor, size: int) -> None:
    if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= size):
        raise IndexError(f"sample ids must be in [0, {size}), got {int(ids.min())}..{int(ids.max())}")
