"""Memory banks of past embeddings, for contrastive distillers (CRD, CCL, SACD).

A bank is a module whose state lives in buffers, so it is saved in checkpoints and moves with the
module. Updates run under ``no_grad``, cast incoming features to the bank's dtype (banks stay
float32 under bf16/fp16 autocast), and, under DDP, first gather every rank's batch in rank order so
that every rank applies the same update and holds the same bank.

- :class:`QueueBank` is first-in-first-out over the most recent ``size`` embeddings, with their
  labels and sample ids (label-aware negatives for SACD/CCL).
- :class:`IndexedBank` keeps one slot per training sample (``size = num_train_samples``), updated
  with momentum at the sample's id (CRD).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sacd.distributed import gather_across_processes

EMPTY = -1


class _Bank(nn.Module):
    """Buffers shared by both banks: L2-normalised features, labels and sample ids per slot."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"a memory bank needs size >= 1 and dim >= 1, got size={size}, dim={dim}")
        self.register_buffer("features", torch.zeros(size, dim))
        self.register_buffer("labels", torch.full((size,), EMPTY, dtype=torch.long))
        self.register_buffer("ids", torch.full((size,), EMPTY, dtype=torch.long))

    @property
    def size(self) -> int:
        return len(self.features)

    def filled(self) -> torch.Tensor:
        """Boolean mask of the slots holding an embedding."""
        return self.ids != EMPTY

    def _incoming(self, features: torch.Tensor, labels: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if features.shape[-1] != self.features.shape[1]:
            raise ValueError(f"bank holds {self.features.shape[1]}-d features, got {tuple(features.shape)}")
        features = F.normalize(features.detach().to(self.features.dtype), dim=1)
        return gather_across_processes(features, labels.detach().long(), ids.detach().long())


class QueueBank(_Bank):
    """First-in-first-out queue of the last ``size`` embeddings with their labels and sample ids."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__(size, dim)
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def push(self, features: torch.Tensor, labels: torch.Tensor, ids: torch.Tensor) -> None:
        """Write a batch (from every rank under DDP) over the oldest entries."""
        features, labels, ids = self._incoming(features, labels, ids)
        if len(features) > self.size:  # only the newest entries fit
            features, labels, ids = features[-self.size :], labels[-self.size :], ids[-self.size :]
        slots = (self.pointer + torch.arange(len(features), device=self.features.device)) % self.size
        self.features[slots] = features
        self.labels[slots] = labels
        self.ids[slots] = ids
        self.pointer.copy_((self.pointer + len(features)) % self.size)


class IndexedBank(_Bank):
    """One slot per training sample, updated with momentum: ``m * old + (1 - m) * new``, renormalised.

    Slots start as random unit vectors (as in CRD) so negatives are defined from the first step.
    """

    def __init__(self, size: int, dim: int, momentum: float = 0.5, seed: int = 0) -> None:
        super().__init__(size, dim)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        generator = torch.Generator().manual_seed(seed)
        self.features.copy_(F.normalize(torch.randn(size, dim, generator=generator), dim=1))

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor, ids: torch.Tensor) -> None:
        """Blend the batch (from every rank under DDP) into the slots of its sample ids."""
        features, labels, ids = self._incoming(features, labels, ids)
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= self.size):
            raise IndexError(f"sample ids must be in [0, {self.size}), got {int(ids.min())}..{int(ids.max())}")
        blended = self.momentum * self.features[ids] + (1.0 - self.momentum) * features
        self.features[ids] = F.normalize(blended, dim=1)
        self.labels[ids] = labels
        self.ids[ids] = ids

    def sample_negatives(self, positives: torch.Tensor, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, count) random slot indices per row, never the row's own sample id."""
        draws = torch.randint(0, self.size - 1, (len(positives), count), generator=generator).to(positives.device)
        return draws + (draws >= positives[:, None]).long()  # skip each row's own slot
