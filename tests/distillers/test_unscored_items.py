"""Items nobody scored: each loss sees the items it can use, and no batch gives NaN.

References are float64 loops over the definitions, on the items a term may use, written apart
from the implementation.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import TINY_STUDENT

import distillers
from distillers import KD, PseudoLabel, Distiller, Outputs
from distillers.label_use import UNSCORED, mean_over
from distillers.losses import CCLContrastLoss, CRDNCELoss, LabelAwareNCELoss
from distillers.losses.dkd import DKDLoss
from sacd.models import X3D

VIDEO_SHAPE = (1, 4, 32, 32)
TRAIN_SAMPLES = 64


def _model(name: str, teacher, **kwargs) -> Distiller:
    cls = getattr(distillers, name)
    model = cls(X3D(**TINY_STUDENT["init_args"]), teacher_checkpoint=str(teacher), video_shape=VIDEO_SHAPE,
                num_train_samples=TRAIN_SAMPLES, **kwargs)  # fmt: skip
    if name == "CRD":
        model.set_train_labels(torch.arange(TRAIN_SAMPLES) % 5)
    model.log = model.log_dict = lambda *args, **kw: None
    return model


def _batch(labels: list[int], seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    size = len(labels)
    return {
        "eeg": torch.randn(size, 1, 3840, generator=generator),
        "video": torch.randn(size, *VIDEO_SHAPE, generator=generator),
        "label": torch.tensor(labels),
        "index": torch.arange(size) * 3,
    }


def _ce64(logits: torch.Tensor, label: int) -> float:
    row = [float(v) for v in logits.double()]
    top = max(row)
    return top + math.log(sum(math.exp(v - top) for v in row)) - row[label]


@pytest.mark.parametrize("name", distillers.method_names())
def test_cross_entropy_is_the_scored_items_own(tiny_teacher, name):
    for labels in ([2, UNSCORED], [UNSCORED, 4, UNSCORED, 1, UNSCORED]):
        model = _model(name, tiny_teacher).eval()  # eval: an item's logits do not depend on the batch
        batch = _batch(labels)
        losses = model.training_losses(batch)
        logits = model.student(batch["video"]).detach()
        scored = [i for i, label in enumerate(labels) if label != UNSCORED]
        expected = sum(_ce64(logits[i], labels[i]) for i in scored) / len(scored)
        assert losses["ce"].item() == pytest.approx(expected, rel=1e-5), name


def test_a_label_free_term_sees_every_item(tiny_teacher):
    for labels in ([0, UNSCORED], [UNSCORED, UNSCORED, 3], [UNSCORED] * 4):
        model = _model("KD", tiny_teacher).eval()  # a fresh teacher-output cache: the ids repeat across batches
        batch = _batch(labels, seed=len(labels))
        kd = model.training_losses(batch)["kd"].item()
        student = model.student(batch["video"]).detach().double() / 4.0
        teacher = model.teacher(batch["eeg"]).detach().double() / 4.0
        total = 0.0
        for s_row, t_row in zip(student.tolist(), teacher.tolist()):
            log_zs = math.log(sum(math.exp(v) for v in s_row))
            log_zt = math.log(sum(math.exp(v) for v in t_row))
            total += sum(math.exp(t - log_zt) * ((t - log_zt) - (s - log_zs)) for s, t in zip(s_row, t_row))
        assert kd == pytest.approx(16.0 * total / len(labels), rel=1e-3)  # a small KL: float32 cancellation


@pytest.mark.parametrize("rule", ["teacher", "ignore"])
@pytest.mark.parametrize("name", distillers.method_names())
def test_every_distiller_trains_on_a_batch_nobody_scored(tiny_teacher, name, rule):
    model = _model(name, tiny_teacher, unscored_labels=rule).train()
    for size in (1, 3, 8):
        total = model.training_step(_batch([UNSCORED] * size, seed=size), 0)
        assert torch.isfinite(total), (name, size)
        model.zero_grad()
        total.backward()
        grads = [p.grad for p in model.trainable_parameters() if p.grad is not None]
        assert all(torch.isfinite(g).all() for g in grads), (name, size)
    model.loss_watch.settle(model)


def test_label_aware_terms_get_the_teachers_stage_or_none(tiny_teacher):
    seen = {}

    class Probe(KD):
        def distill(self, student, teacher, batch):
            seen["stage"], seen["teacher"] = batch["stage"], teacher.logits.argmax(1)
            return super().distill(student, teacher, batch)

    labels = [3, UNSCORED, 0, UNSCORED]
    for rule in ("teacher", "ignore"):
        model = Probe(X3D(**TINY_STUDENT["init_args"]), teacher_checkpoint=str(tiny_teacher), video_shape=VIDEO_SHAPE,
                      unscored_labels=rule)  # fmt: skip
        model.training_losses(_batch(labels))
        stage, predicted = seen["stage"].tolist(), seen["teacher"].tolist()
        assert stage[0] == 3 and stage[2] == 0
        assert [stage[1], stage[3]] == ([predicted[1], predicted[3]] if rule == "teacher" else [UNSCORED, UNSCORED])
    with pytest.raises(ValueError, match="unscored_labels must be one of"):
        KD(X3D(**TINY_STUDENT["init_args"]), unscored_labels="guess")


def test_pseudo_labels_are_the_teachers_top_stage_on_unscored_items_only(tiny_teacher):
    model = _model("PseudoLabel", tiny_teacher).eval()
    labels = [1, UNSCORED, UNSCORED, 4, UNSCORED]
    batch = _batch(labels, seed=5)
    losses = model.training_losses(batch)
    logits = model.student(batch["video"]).detach()
    predicted = model.teacher(batch["eeg"]).argmax(1).tolist()
    unscored = [i for i, label in enumerate(labels) if label == UNSCORED]
    expected = sum(_ce64(logits[i], predicted[i]) for i in unscored) / len(unscored)
    assert losses["pseudo"].item() == pytest.approx(expected, rel=1e-5)
    assert model.training_losses(_batch([2, 0]))["pseudo"].item() == 0.0  # nothing unscored: nothing to imitate
    assert isinstance(model, PseudoLabel) and model.learns_from_unscored


def test_a_scalar_cross_entropy_is_refused_where_items_must_be_chosen(tiny_teacher):
    class Scalar(Distiller):
        def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict:
            return {"ce": torch.nn.functional.cross_entropy(student.logits, batch["label"].clamp_min(0))}

    model = Scalar(X3D(**TINY_STUDENT["init_args"]), teacher_checkpoint=str(tiny_teacher), video_shape=VIDEO_SHAPE)
    with pytest.raises(TypeError, match="return it per item"):
        model.training_losses(_batch([0, UNSCORED]))
    with pytest.raises(TypeError, match="label use is one of"):
        type("Odd", (Distiller,), {"label_terms": {"ce": "sometimes"}})


def test_an_empty_mean_is_a_zero_in_the_graph():
    values = torch.tensor([1.0, 2.0], requires_grad=True)
    empty = mean_over(values, torch.tensor([False, False]))
    empty.backward()
    assert empty.item() == 0.0 and torch.equal(values.grad, torch.zeros(2))


@pytest.mark.parametrize("size", [3, 6, 11])
def test_contrast_leaves_unscored_keys_and_anchors_out(size):
    generator = torch.Generator().manual_seed(size)
    anchors, keys = torch.randn(size, 8, generator=generator), torch.randn(size + 5, 8, generator=generator)
    anchor_labels = torch.randint(0, 3, (size,), generator=generator)
    key_labels = torch.cat([anchor_labels, torch.randint(0, 3, (5,), generator=generator)])
    anchor_labels[0], key_labels[1], key_labels[-1] = UNSCORED, UNSCORED, UNSCORED
    loss = LabelAwareNCELoss(0.2)(anchors, anchor_labels, keys, key_labels).item()
    a = torch.nn.functional.normalize(anchors.double(), dim=1)
    k = torch.nn.functional.normalize(keys.double(), dim=1)
    per_anchor = []
    for i in range(size):
        known = [j for j in range(len(keys)) if key_labels[j] != UNSCORED]
        positives = [j for j in known if key_labels[j] == anchor_labels[i]]
        if anchor_labels[i] == UNSCORED or not positives:
            continue
        scores = {j: float(a[i] @ k[j]) / 0.2 for j in known}
        log_z = math.log(sum(math.exp(v) for v in scores.values()))
        per_anchor.append(-sum(scores[j] - log_z for j in positives) / len(positives))
    assert loss == pytest.approx(sum(per_anchor) / len(per_anchor), rel=1e-5)


@pytest.mark.parametrize("size", [2, 5, 9])
def test_ccl_contrast_and_dkd_equal_their_value_on_the_scored_items(size):
    generator = torch.Generator().manual_seed(size)
    anchors, keys = torch.randn(size + 2, 8, generator=generator), torch.randn(size + 2, 8, generator=generator)
    labels = torch.cat([torch.randint(0, 3, (size,), generator=generator), torch.tensor([UNSCORED, UNSCORED])])
    order = torch.randperm(size + 2, generator=generator)
    anchors, keys, labels = anchors[order], keys[order], labels[order]
    known = labels != UNSCORED
    ccl = CCLContrastLoss(0.5)
    assert ccl(anchors, keys, labels).item() == pytest.approx(ccl(anchors[known], keys[known], labels[known]).item(), rel=1e-5)
    student, teacher = torch.randn(size + 2, 5, generator=generator), torch.randn(size + 2, 5, generator=generator)
    per_item = DKDLoss(4.0, reduction="none")(student, teacher, labels)
    whole = DKDLoss(4.0)(student[known], teacher[known], labels[known])
    for part, expected in zip(per_item, whole):
        assert mean_over(part, known).item() == pytest.approx(expected.item(), rel=1e-5)
    scores = torch.randn(size + 2, 9, generator=generator)
    nce = CRDNCELoss(100, 0.07)
    masked = nce(scores, anchor_mask=known).item()
    assert masked == pytest.approx(nce(scores[known]).item(), rel=1e-5)  # the normaliser was fixed by the first call


def test_crd_draws_negatives_from_scored_samples_only(tiny_teacher):
    model = _model("CRD", tiny_teacher)
    labels = torch.arange(TRAIN_SAMPLES) % 5
    labels[::2] = UNSCORED
    model.set_train_labels(labels)
    for stage in range(5):
        drawn = model.other_class_slots[stage, : model.other_class_counts[stage]]
        assert (labels[drawn] != UNSCORED).all() and (labels[drawn] != stage).all()
        assert len(drawn) == int(((labels != stage) & (labels != UNSCORED)).sum())


def test_one_epoch_fills_the_teacher_cache_for_every_training_item_scored_or_not(tiny_teacher, tmp_path):
    from conftest import distiller_config, write_config

    from sacd.cli import SacdCLI

    config = distiller_config(tmp_path, "distillers.KD", str(tiny_teacher))
    config["data"]["init_args"]["scored_fraction"] = 0.5
    config["trainer"].update(limit_train_batches=1.0, limit_val_batches=1)
    cli = SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "kd.yaml", config))])
    labels = cli.datamodule.labels("train")
    assert int((labels == UNSCORED).sum()) == len(labels) // 2  # two of four training subjects unscored
    cache = cli.model.teacher_output_cache
    assert len(cache.filled) == len(labels) and bool(cache.filled.all())  # one epoch is one draw per item
