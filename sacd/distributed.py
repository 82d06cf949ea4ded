"""Collectives that also work in a single process, for code that runs the same with and without DDP."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist


def world_size() -> int:
    """Number of processes in the default group (1 when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def gather_across_processes(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Concatenate each tensor's first dimension over all DDP ranks, in rank order (identity alone).

    Ranks may hold different lengths (the last, short batch; unevenly sharded evaluation sets): each
    tensor is padded to the longest for the collective and trimmed after.
    """
    world = world_size()
    if world == 1:
        return tensors
    length = torch.tensor([len(tensors[0])], device=tensors[0].device)
    lengths = [torch.zeros_like(length) for _ in range(world)]
    dist.all_gather(lengths, length)
    longest = int(max(int(n) for n in lengths))
    gathered = []
    for tensor in tensors:
        padded = torch.zeros((longest, *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
        padded[: len(tensor)] = tensor
        parts = [torch.zeros_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded)
        gathered.append(torch.cat([part[: int(n)] for part, n in zip(parts, lengths)]))
    return tuple(gathered)


def gather_objects(value: Any) -> list[Any]:
    """Every rank's ``value`` (picklable), in rank order; ``[value]`` in a single process."""
    world = world_size()
    if world == 1:
        return [value]
    values: list[Any] = [None] * world
    dist.all_gather_object(values, value)
    return values
