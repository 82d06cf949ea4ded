"""Memory banks: FIFO order, momentum, labels, checkpoints, dtype under autocast, and DDP consistency."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from distillers.memory import EMPTY, IndexedBank, QueueBank


def test_queue_is_first_in_first_out_with_labels_and_ids():
    bank = QueueBank(size=5, dim=2)
    assert not bank.filled().any() and (bank.labels == EMPTY).all()
    first = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    bank.push(first, torch.tensor([0, 1, 2]), torch.tensor([10, 11, 12]))
    torch.testing.assert_close(bank.features[:3], F.normalize(first, dim=1))
    assert bank.ids.tolist() == [10, 11, 12, EMPTY, EMPTY] and int(bank.pointer) == 3
    bank.push(torch.ones(4, 2), torch.tensor([3, 4, 4, 3]), torch.tensor([13, 14, 15, 16]))
    # slots 3, 4 then wrap to 0, 1: the two oldest entries (10, 11) were replaced
    assert bank.ids.tolist() == [15, 16, 12, 13, 14] and bank.labels.tolist() == [4, 3, 2, 3, 4]
    assert int(bank.pointer) == 2 and bank.filled().all()
    bank.push(torch.randn(7, 2), torch.arange(7), torch.arange(100, 107))  # more than fits: the newest 5
    assert sorted(bank.ids.tolist()) == [102, 103, 104, 105, 106]


def test_indexed_bank_blends_with_momentum_at_sample_ids():
    bank = IndexedBank(size=4, dim=3, momentum=0.5, seed=1)
    torch.testing.assert_close(bank.features.norm(dim=1), torch.ones(4))  # random unit vectors to start
    before = bank.features.clone()
    new = torch.tensor([[0.0, 0.0, 2.0], [1.0, 1.0, 0.0]])
    bank.update(new, torch.tensor([3, 1]), torch.tensor([2, 0]))
    for slot, row in ((2, 0), (0, 1)):
        expected = F.normalize(0.5 * before[slot] + 0.5 * F.normalize(new[row], dim=0), dim=0)
        torch.testing.assert_close(bank.features[slot], expected)
    torch.testing.assert_close(bank.features[[1, 3]], before[[1, 3]])
    assert bank.labels.tolist() == [1, EMPTY, 3, EMPTY] and bank.ids.tolist() == [0, EMPTY, 2, EMPTY]
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        bank.update(new, torch.tensor([0, 0]), torch.tensor([0, 4]))
    negatives = bank.sample_negatives(torch.tensor([0, 3]), 50, generator=torch.Generator().manual_seed(0))
    assert negatives.shape == (2, 50) and not (negatives[0] == 0).any() and not (negatives[1] == 3).any()
    assert negatives.min() >= 0 and negatives.max() < 4


def test_banks_round_trip_through_state_dict_and_keep_their_dtype_under_autocast():
    bank = QueueBank(size=6, dim=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = torch.nn.Linear(4, 4)(torch.randn(3, 4))
        assert features.dtype == torch.bfloat16
        bank.push(features, torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))
    assert bank.features.dtype == torch.float32
    restored = QueueBank(size=6, dim=4)
    restored.load_state_dict(bank.state_dict())
    for name in ("features", "labels", "ids", "pointer"):
        assert torch.equal(getattr(restored, name), getattr(bank, name)), name
    assert set(bank.state_dict()) == {"features", "labels", "ids", "pointer"}


def _ddp_worker(rank: int, world: int, folder: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world)
    torch.manual_seed(rank)
    queue, indexed = QueueBank(size=16, dim=3), IndexedBank(size=12, dim=3, momentum=0.7)
    for step in range(3):
        size = 3 + rank  # ranks bring batches of different sizes
        ids = torch.arange(size) + 4 * rank + step
        queue.push(torch.randn(size, 3), ids % 5, ids)
        indexed.update(torch.randn(size, 3), ids % 5, ids % 12)
    torch.save({"queue": queue.state_dict(), "indexed": indexed.state_dict()}, f"{folder}/rank{rank}.pt")
    dist.destroy_process_group()


def test_ddp_ranks_hold_identical_banks_after_updates(tmp_path):
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    mp.spawn(_ddp_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    zero, one = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for bank in ("queue", "indexed"):
        for name, value in zero[bank].items():
            assert torch.equal(value, one[bank][name]), (bank, name)
    # both ranks' samples are in the queue: 3 steps x (3 + 4) = 21 pushes through 16 slots
    assert int(zero["queue"]["pointer"]) == 21 % 16
    assert {4, 5, 6, 7, 8}.issubset(set(zero["queue"]["ids"].tolist()))
