"""SACD as a distiller: switchable terms, both flavours of each term, banks and heads."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY_STUDENT

from distillers import SACD
from distillers.losses import SimilarityGraphKLLoss, SymmetricKLLoss
from sacd.models import X3D

ALL_TERMS = ["ce", "compose", "contrast", "structure", "logits"]


def _batch(size: int = 6, offset: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(offset)
    return {
        "eeg": torch.randn(size, 1, 3840, generator=generator),
        "video": torch.randn(size, 1, 4, 32, 32, generator=generator),
        "label": torch.arange(size) % 3,
        "index": torch.arange(offset, offset + size),
    }


def _model(tiny_teacher, cls=SACD, **kwargs):
    torch.manual_seed(0)
    return cls(X3D(**TINY_STUDENT["init_args"]), teacher_checkpoint=str(tiny_teacher), num_train_samples=32,
               video_shape=(1, 4, 32, 32), **kwargs)


def _losses(model, batch):
    student, teacher = model.student_outputs(batch["video"]), model.teacher_outputs(batch["eeg"])
    return model.applied_losses(student, teacher, batch), student, teacher


def test_sacd_returns_its_five_terms_with_the_papers_weights(tiny_teacher):
    model = _model(tiny_teacher)
    losses, student, teacher = _losses(model, _batch())
    assert list(losses) == ALL_TERMS and all(torch.isfinite(v) for v in losses.values())
    assert model.loss_weights == {"ce": 1.0, "compose": 1.0, "contrast": 1.0, "structure": 1.0, "logits": 0.5}
    torch.testing.assert_close(losses["ce"], F.cross_entropy(student.logits, _batch()["label"]))
    torch.testing.assert_close(losses["structure"], SimilarityGraphKLLoss(0.1)(student.features, teacher.features))
    torch.testing.assert_close(losses["logits"], SymmetricKLLoss(1.0)(student.logits, teacher.logits))


@pytest.mark.parametrize("removed", ALL_TERMS)
def test_each_term_can_be_removed_with_its_heads(tiny_teacher, removed):
    model = _model(tiny_teacher, terms=[t for t in ALL_TERMS if t != removed])
    losses, _, _ = _losses(model, _batch())
    assert removed not in losses and len(losses) == 4
    heads = {"compose": "composition", "contrast": "student_bank", "structure": "structure_loss"}
    if removed in heads:
        assert not hasattr(model, heads[removed])
    sum(losses.values()).backward()
    unused = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, f"parameters without gradient (DDP would fail on them): {unused}"


def test_unknown_terms_and_flavours_are_clear_errors(tiny_teacher):
    with pytest.raises(ValueError, match="terms must be a non-empty subset"):
        _model(tiny_teacher, terms=["ce", "structur"])
    with pytest.raises(ValueError, match="structure_flavour"):
        _model(tiny_teacher, structure_flavour="graph")
    with pytest.raises(ValueError, match="contrast_flavour"):
        _model(tiny_teacher, contrast_flavour="infonce")
    with pytest.raises(ValueError, match="num_train_samples"):
        SACD(X3D(**TINY_STUDENT["init_args"]), teacher_checkpoint=str(tiny_teacher))


@pytest.mark.parametrize("flavours", [{"contrast_flavour": "triplet"}, {"structure_flavour": "gsn"},
                                      {"contrast_flavour": "triplet", "structure_flavour": "gsn"}])
def test_the_published_flavours_train_every_parameter(tiny_teacher, flavours):
    model = _model(tiny_teacher, **flavours)
    losses, _, _ = _losses(model, _batch())
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    unused = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, unused
    assert all(p.grad is None for p in model.teacher.parameters())


def test_the_label_aware_bank_fills_with_labels_and_supplies_keys(tiny_teacher):
    model = _model(tiny_teacher, bank_keys=40)  # more than the 32 slots: every slot, masked until filled
    assert not model.teacher_bank.filled().any()
    _losses(model, _batch(6, offset=0))
    filled = model.teacher_bank.filled()
    assert filled.nonzero().flatten().tolist() == list(range(6))
    assert model.teacher_bank.labels[:6].tolist() == (torch.arange(6) % 3).tolist()
    assert torch.equal(model.student_bank.filled(), filled)
    slots = model.teacher_bank.draw_slots(model.bank_keys)
    keys, key_labels, usable = model._keys(torch.zeros(6, 128), _batch()["label"], model.teacher_bank, slots)
    assert keys.shape == (6 + 32, 128) and usable.shape == (6, 6 + 32)
    assert usable[:, :6].all() and usable[0, 6:].tolist() == filled[slots].tolist()  # only filled bank slots count
    assert torch.equal(key_labels[6:][usable[0, 6:]], model.teacher_bank.labels[slots][filled[slots]])
    assert len(model.teacher_bank.draw_slots(4)) == 4


def test_a_key_drawn_from_an_empty_slot_changes_nothing(tiny_teacher):
    """Unfilled slots hold random vectors with no label: they must neither attract nor repel."""
    model = _model(tiny_teacher, bank_keys=32)
    batch = _batch()
    student, teacher = model.student_outputs(batch["video"]), model.teacher_outputs(batch["eeg"])
    v, e = model.embed_student(student.features), model.embed_teacher(teacher.features.detach())
    with torch.no_grad():
        expected = model.contrast_loss(v, batch["label"], e, batch["label"])  # the batch's keys alone
        expected = 0.5 * (expected + model.contrast_loss(e, batch["label"], v, batch["label"]))
        got = model._contrast(student.features, teacher.features, batch["label"], batch["index"])
    torch.testing.assert_close(got, expected)


def test_sacd_contrasts_both_ways(tiny_teacher):
    sacd = _model(tiny_teacher)
    assert sacd.symmetric
    calls = []
    original = sacd.contrast_loss.forward
    sacd.contrast_loss.forward = lambda *args, **kwargs: calls.append(args[0].shape) or original(*args, **kwargs)
    _losses(sacd, _batch())
    assert len(calls) == 2


def test_the_triplet_flavour_mines_semi_hard_keys_unless_told_otherwise(tiny_teacher):
    assert _model(tiny_teacher, contrast_flavour="triplet").contrast_loss.mining == "semi_hard"
    hardest = _model(tiny_teacher, contrast_flavour="triplet", triplet_mining="hardest", triplet_k=3)
    assert (hardest.contrast_loss.mining, hardest.contrast_loss.k) == ("hardest", 3)


def test_the_composition_head_trains_the_student_through_its_cross_entropy(tiny_teacher):
    """SACD's reconstruction: unlike CCL, the compose term reaches the student (its only path to it)."""
    model = _model(tiny_teacher, terms=["compose"])
    losses, _, _ = _losses(model, _batch())
    losses["compose"].backward()
    assert model.student.head.weight.grad is None  # the student's own classifier is not involved ...
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.student.parameters())  # ... its backbone is


def test_the_composition_head_is_trained_but_never_deployed(tiny_teacher):
    model = _model(tiny_teacher).eval()
    batch = _batch()
    before = model.predict_logits(batch)
    with torch.no_grad():
        model.composition.classifier.weight.add_(1.0)
    assert torch.equal(model.predict_logits(batch), before)
    assert torch.equal(before, model.student(batch["video"]))
