"""The memory bank: momentum, labels, slot draws, checkpoints, dtype under autocast, and DDP consistency."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from distillers.memory import EMPTY, IndexedBank


def test_indexed_bank_blends_with_momentum_at_sample_ids():
    bank = IndexedBank(size=4, dim=3, momentum=0.5, seed=1)
    torch.testing.assert_close(bank.features.norm(dim=1), torch.ones(4))  # random unit vectors to start
    assert not bank.filled().any() and (bank.labels == EMPTY).all()
    before = bank.features.clone()
    new = torch.tensor([[0.0, 0.0, 2.0], [1.0, 1.0, 0.0]])
    bank.update(new, torch.tensor([3, 1]), torch.tensor([2, 0]))
    for slot, row in ((2, 0), (0, 1)):
        expected = F.normalize(0.5 * before[slot] + 0.5 * F.normalize(new[row], dim=0), dim=0)
        torch.testing.assert_close(bank.features[slot], expected)
    torch.testing.assert_close(bank.features[[1, 3]], before[[1, 3]])
    assert bank.labels.tolist() == [1, EMPTY, 3, EMPTY] and bank.ids.tolist() == [0, EMPTY, 2, EMPTY]
    assert bank.filled().tolist() == [True, False, True, False]
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        bank.update(new, torch.tensor([0, 0]), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="3-d features"):
        bank.update(torch.ones(2, 5), torch.tensor([0, 0]), torch.tensor([0, 1]))


def test_negatives_never_draw_the_anchors_own_slot_and_cover_the_others():
    bank = IndexedBank(size=4, dim=3)
    negatives = bank.sample_negatives(torch.tensor([0, 3]), 200, generator=torch.Generator().manual_seed(0))
    assert negatives.shape == (2, 200) and not (negatives[0] == 0).any() and not (negatives[1] == 3).any()
    assert set(negatives[0].tolist()) == {1, 2, 3} and set(negatives[1].tolist()) == {0, 1, 2}


def test_slot_draws_are_distinct_and_of_a_fixed_number():
    bank = IndexedBank(size=10, dim=2)
    torch.manual_seed(0)
    slots = bank.draw_slots(4)
    assert slots.shape == (4,) and len(set(slots.tolist())) == 4 and 0 <= int(slots.min()) and int(slots.max()) < 10
    assert bank.draw_slots(10).tolist() == list(range(10)) == bank.draw_slots(50).tolist()


def test_bank_round_trips_through_state_dict_and_keeps_its_dtype_under_autocast():
    bank = IndexedBank(size=6, dim=4, momentum=0.9)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = torch.nn.Linear(4, 4)(torch.randn(3, 4))
        assert features.dtype == torch.bfloat16
        bank.update(features, torch.tensor([0, 1, 2]), torch.tensor([5, 1, 2]))
    assert bank.features.dtype == torch.float32
    restored = IndexedBank(size=6, dim=4, seed=7)
    restored.load_state_dict(bank.state_dict())
    for name in ("features", "labels", "ids"):
        assert torch.equal(getattr(restored, name), getattr(bank, name)), name
    assert set(bank.state_dict()) == {"features", "labels", "ids"}


def _ddp_worker(rank: int, world: int, folder: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world)
    torch.manual_seed(rank)
    bank = IndexedBank(size=12, dim=3, momentum=0.7)
    for step in range(3):
        size = 3 + rank  # ranks bring batches of different sizes
        ids = torch.arange(size) + 4 * rank + step
        bank.update(torch.randn(size, 3), ids % 5, ids % 12)
    torch.save(bank.state_dict(), f"{folder}/rank{rank}.pt")
    dist.destroy_process_group()


def test_ddp_ranks_hold_identical_banks_after_updates(tmp_path):
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    mp.spawn(_ddp_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    zero, one = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for name, value in zero.items():
        assert torch.equal(value, one[name]), name
    # both ranks' samples are in the bank: rank 0 wrote ids 0..4, rank 1 ids 4..9
    assert set(zero["ids"][zero["ids"] >= 0].tolist()) == set(range(10))
