"""The training order is a function of (seed, epoch), so a resumed run draws the same batches."""

from __future__ import annotations

import torch

from datamodules.sampling import EpochSampler


def test_order_depends_on_seed_and_epoch_only():
    sampler = EpochSampler(50, seed=3)
    first = list(sampler)
    assert sorted(index for index, _ in first) == list(range(50)) and list(sampler) == first
    assert [draw for _, draw in first] == list(range(50))  # draw numbers: unique over the run
    sampler.set_epoch(2)
    third = list(sampler)
    assert third != first and [draw for _, draw in third] == list(range(100, 150))
    fresh = EpochSampler(50, seed=3)  # a resumed run builds a new sampler and Lightning sets its epoch
    fresh.set_epoch(2)
    assert list(fresh) == third
    assert list(EpochSampler(50, seed=4)) != first


def test_weights_draw_with_replacement_towards_rare_classes():
    weights = torch.tensor([1.0] * 90 + [9.0] * 10)
    drawn = torch.tensor(EpochSampler(100, seed=0, weights=weights).indices())
    assert len(drawn) == 100 and (drawn >= 90).sum() > 30  # the 10 heavy items are half the mass
