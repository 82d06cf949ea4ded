"""Sample orders: training order that depends only on (seed, epoch), so a resumed run draws the
batches an uninterrupted one would; and evaluation shards that count every sample once under DDP.

A DataLoader's own shuffle continues one random stream across epochs, which a run resumed from a
checkpoint cannot rebuild. Lightning calls ``set_epoch`` on the sampler before every epoch, and
this sampler draws the epoch's order from a generator seeded by the seed and the epoch alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DistributedSampler, Sampler


class EpochSampler(Sampler[tuple[int, int]]):
    """A shuffle (or, with ``weights``, a draw with replacement) that is a function of (seed, epoch).

    It yields ``(index, draw)`` keys: the sample to load and a number unique to this draw over the
    whole run (``epoch * num_samples + position``). Datasets with random augmentation seed it from
    the draw, so an augmentation too is a function of (seed, epoch) and not of how often a worker
    process happened to load the sample: a resumed run, or one with other ``num_workers``, sees the
    same clips. :class:`datamodules.base.IndexedDataset` understands these keys.

    Args:
        num_samples: size of the dataset.
        seed: the run's data seed.
        weights: per-sample weights for sampling with replacement (class balancing); None shuffles.
    """

    def __init__(self, num_samples: int, seed: int, weights: torch.Tensor | None = None) -> None:
        self.num_samples = num_samples
        self.seed = seed
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def indices(self) -> list[int]:
        """This epoch's sample order."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        if self.weights is None:
            return torch.randperm(self.num_samples, generator=generator).tolist()
        return torch.multinomial(self.weights, self.num_samples, replacement=True, generator=generator).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        first_draw = self.epoch * self.num_samples
        return iter([(index, first_draw + position) for position, index in enumerate(self.indices())])


class EvaluationShard(DistributedSampler):
    """This rank's share of an evaluation set under DDP: every sample exactly once across ranks.

    ``DistributedSampler`` pads the set with repeated samples so every rank gets the same number,
    which would count those samples twice in validation and test metrics. Here rank ``r`` takes
    samples ``r, r + world, r + 2 * world, ...`` in order; ranks may differ by one sample, which the
    epoch-level metric synchronisation handles. Being a ``DistributedSampler``, Lightning keeps it.
    """

    def __init__(self, num_samples: int, num_replicas: int, rank: int) -> None:
        if num_samples < num_replicas:
            raise ValueError(
                f"an evaluation set of {num_samples} samples cannot be shared by {num_replicas} processes; "
                "use fewer devices for evaluation (e.g. `sacd test --trainer.devices 1`)"
            )
        super().__init__(range(num_samples), num_replicas=num_replicas, rank=rank, shuffle=False)
        self.total = num_samples
        self.num_samples = len(range(rank, num_samples, num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.total, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples
