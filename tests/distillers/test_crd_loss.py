"""CRD's NCE loss against a loop reference of the paper's binary NCE, and the CRD distiller's draws and banks."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import TINY_STUDENT

from distillers import CRD
from distillers.losses import CRDNCELoss
from sacd.models import X3D


def _reference(scores, tau, n_data, z, positives=None, valid=None) -> float:
    """-(mean over positives of log h + sum over negatives of log(1 - h)), averaged over anchors, where
    h(x) = x / (x + K P_n) and K counts the negatives the anchor actually scored."""
    total = 0.0
    for i, row in enumerate(scores):
        kept = [j for j in range(len(row)) if j == 0 or valid is None or valid[i][j]]
        is_positive = {j: j == 0 or (positives is not None and bool(positives[i][j])) for j in kept}
        noise = sum(not p for p in is_positive.values()) / n_data
        pos_terms, neg_sum = [], 0.0
        for j in kept:
            x = math.exp(row[j] / tau) / z
            if is_positive[j]:
                pos_terms.append(math.log(x / (x + noise)))
            else:
                neg_sum += math.log(noise / (x + noise))
        total += sum(pos_terms) / len(pos_terms) + neg_sum
    return -total / len(scores)


def _first_normaliser(scores, tau: float, n_data: int) -> float:
    flat = [math.exp(s / tau) for row in scores for s in row]
    return sum(flat) / len(flat) * n_data


@pytest.mark.parametrize("batch", [1, 2, 5, 7, 16])
def test_nce_matches_the_reference_and_keeps_the_first_normaliser(batch):
    torch.manual_seed(batch)
    tau, n_data = 0.1, 50
    first = torch.rand(batch, 9, dtype=torch.float64) * 2 - 1
    second = torch.rand(batch, 9, dtype=torch.float64) * 2 - 1
    loss = CRDNCELoss(n_data, tau)
    z = _first_normaliser(first.tolist(), tau, n_data)
    assert loss(first).item() == pytest.approx(_reference(first.tolist(), tau, n_data, z), abs=1e-6)
    assert loss.normaliser.item() == pytest.approx(z, rel=1e-6)
    # the normaliser is estimated once, then fixed: the second batch is scored with the first Z
    assert loss(second).item() == pytest.approx(_reference(second.tolist(), tau, n_data, z), abs=1e-6)


def test_class_conditional_positives_and_left_out_entries_count_only_the_negatives_scored():
    torch.manual_seed(0)
    tau, n_data = 0.07, 30
    scores = torch.rand(6, 7, dtype=torch.float64) * 2 - 1
    positives = torch.rand(6, 7) < 0.3
    valid = torch.rand(6, 7) < 0.7
    positives[5, 1:], valid[5, 1:] = True, True  # an anchor whose draws are all positives: no negative at all
    loss = CRDNCELoss(n_data, tau)
    z = _first_normaliser(scores.tolist(), tau, n_data)
    expected = _reference(scores.tolist(), tau, n_data, z, positives.tolist(), valid.tolist())
    scores.requires_grad_(True)
    value = loss(scores, positives, valid)
    assert value.item() == pytest.approx(expected, abs=1e-6)
    value.backward()
    assert torch.isfinite(scores.grad).all()
    assert (scores.grad[~valid & (torch.arange(7) > 0)] == 0).all()  # left-out entries receive nothing


def test_the_normaliser_is_read_from_the_device_once_then_never():
    loss = CRDNCELoss(40, 0.07)
    loss(torch.rand(3, 5) * 2 - 1)
    meta = loss.to("meta")  # any read of a meta tensor's value raises
    assert meta(torch.empty(3, 5, device="meta")).device.type == "meta"
    fresh = CRDNCELoss(40, 0.07).to("meta")
    with pytest.raises((RuntimeError, NotImplementedError)):
        fresh(torch.empty(3, 5, device="meta"))


def test_a_loaded_normaliser_is_used_and_a_missing_one_estimated():
    trained = CRDNCELoss(40, 0.07)
    trained(torch.rand(3, 5) * 2 - 1)
    resumed = CRDNCELoss(40, 0.07)
    resumed(torch.rand(3, 5) * 2 - 1)  # estimated its own Z ...
    resumed.load_state_dict(trained.state_dict())  # ... then resumed from a checkpoint
    scores = torch.rand(2, 5, dtype=torch.float64) * 2 - 1
    assert resumed(scores).item() == pytest.approx(trained(scores).item(), abs=1e-12)
    unset = CRDNCELoss(40, 0.07)
    resumed.load_state_dict(unset.state_dict())  # a checkpoint saved before the first step
    resumed(scores)
    assert resumed.normaliser.item() == pytest.approx(_first_normaliser(scores.tolist(), 0.07, 40), rel=1e-6)


def test_nce_rewards_a_positive_that_stands_out_and_rejects_bad_settings():
    loss = CRDNCELoss(100, 0.07)
    loss.normaliser.fill_(100.0)
    aligned = torch.tensor([[1.0, -0.5, -0.5, -0.5]])
    confused = torch.tensor([[-0.5, 1.0, -0.5, -0.5]])
    assert loss(aligned) < loss(confused)
    with pytest.raises(ValueError, match="temperature"):
        CRDNCELoss(10, 0.0)
    with pytest.raises(ValueError, match="at least 2"):
        CRDNCELoss(1)


# -- the distiller ---------------------------------------------------------------------------------

N_TRAIN = 24
TRAIN_LABELS = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2, 2, 2, 0, 1, 4, 4, 2, 2, 1, 0, 2, 2, 2, 3, 1, 0])  # N3 (3) is rare


def _crd(tiny_teacher, labels: bool = True, **kwargs) -> CRD:
    model = CRD(X3D(**TINY_STUDENT["init_args"]), teacher_checkpoint=str(tiny_teacher), num_train_samples=N_TRAIN,
                video_shape=(1, 4, 32, 32), **kwargs)  # fmt: skip
    if labels:
        model.set_train_labels(TRAIN_LABELS)
    return model


def _batch(ids: list[int]) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(sum(ids))
    index = torch.tensor(ids)
    return {"eeg": torch.randn(len(ids), 1, 3840, generator=generator),
            "video": torch.randn(len(ids), 1, 4, 32, 32, generator=generator),
            "label": TRAIN_LABELS[index], "index": index}  # fmt: skip


def _run(model: CRD, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The step's losses and the (B, K) slots it drew."""
    drawn = []
    original = model._draw_negatives
    model._draw_negatives = lambda ids, labels: drawn.append(original(ids, labels)) or drawn[-1]
    student, teacher = model.student_outputs(batch["video"]), model.teacher_outputs(batch["eeg"])
    return model.applied_losses(student, teacher, batch), drawn[0]


@pytest.mark.parametrize("ids", [[3], [4, 7], [0, 1, 2, 5, 8, 11, 21], list(range(16))])
def test_no_negative_of_an_anchor_ever_has_its_label(tiny_teacher, ids):
    model = _crd(tiny_teacher, num_negatives=300)
    torch.manual_seed(len(ids))
    _, drawn = _run(model, _batch(ids))
    labels = TRAIN_LABELS[torch.tensor(ids)]
    assert drawn.shape == (len(ids), 300)
    assert not (TRAIN_LABELS[drawn] == labels[:, None]).any()
    for row, label in zip(drawn, labels):  # every sample of every other class is drawn
        assert set(row.tolist()) == set((TRAIN_LABELS != label).nonzero().flatten().tolist())


def test_crd_scores_against_the_banks_before_updating_them(tiny_teacher):
    model = _crd(tiny_teacher, num_negatives=6)
    batch = _batch([4, 7, 11, 21])
    before_teacher, before_student = model.teacher_bank.features.clone(), model.student_bank.features.clone()
    torch.manual_seed(1)
    student, teacher = model.student_outputs(batch["video"]), model.teacher_outputs(batch["eeg"])
    with torch.no_grad():
        v, e = model.embed_student(student.features), model.embed_teacher(teacher.features)
    losses, drawn = _run(model, batch)
    assert set(losses) == {"ce", "crd"} and torch.isfinite(losses["crd"])
    # recompute both terms by loops over the pre-update banks and the same draw
    ids = batch["index"].tolist()
    expected = 0.0
    for anchors, bank, loss in ((v, before_teacher, model.nce_student_anchor), (e, before_student, model.nce_teacher_anchor)):
        rows = [[float(anchors[i] @ bank[slot]) for slot in [ids[i], *drawn[i].tolist()]] for i in range(len(ids))]
        z = _first_normaliser(rows, 0.07, N_TRAIN)
        assert loss.normaliser.item() == pytest.approx(z, rel=1e-5)
        expected += _reference(rows, 0.07, N_TRAIN, z)
    assert losses["crd"].item() == pytest.approx(expected, rel=1e-5)
    # the banks moved to the new embeddings at the batch's slots only
    changed = (model.teacher_bank.features != before_teacher).any(1)
    assert changed.nonzero().flatten().tolist() == ids
    assert model.teacher_bank.labels[ids].tolist() == TRAIN_LABELS[ids].tolist()


def test_uniform_negatives_are_an_option_that_only_skips_the_anchors_own_slot(tiny_teacher):
    model = _crd(tiny_teacher, labels=False, num_negatives=400, negatives="uniform")
    torch.manual_seed(2)
    losses, drawn = _run(model, _batch([2, 9]))
    assert torch.isfinite(losses["crd"])
    assert set(drawn[0].tolist()) == set(range(N_TRAIN)) - {2} and set(drawn[1].tolist()) == set(range(N_TRAIN)) - {9}
    conditional = _crd(tiny_teacher, labels=False, negatives="uniform", class_conditional=True, num_negatives=50)
    assert torch.isfinite(_run(conditional, _batch([2, 9]))[0]["crd"])


def test_crd_settings_and_missing_labels_are_clear_errors(tiny_teacher):
    with pytest.raises(ValueError, match="num_train_samples"):
        CRD(X3D(**TINY_STUDENT["init_args"]), teacher_checkpoint=str(tiny_teacher))
    with pytest.raises(ValueError, match="negatives: uniform"):
        _crd(tiny_teacher, class_conditional=True)
    with pytest.raises(ValueError, match="negatives must be"):
        _crd(tiny_teacher, negatives="hard")
    model = _crd(tiny_teacher, labels=False)
    with pytest.raises(RuntimeError, match="set_train_labels"):
        _run(model, _batch([0, 1]))
    with pytest.raises(ValueError, match="5 training labels for num_train_samples=24"):
        model.set_train_labels(TRAIN_LABELS[:5])
    with pytest.raises(ValueError, match="same stage"):
        model.set_train_labels(torch.zeros(N_TRAIN, dtype=torch.long))
