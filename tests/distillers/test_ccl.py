"""CCL as its authors released it: the contrastive objective, the whole loss and its gradient routing,
checked against float64 loops written from the released definitions (yanbeic/CCL)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY_STUDENT

from distillers import CCL
from distillers.base import Outputs
from distillers.losses import CCLContrastLoss
from sacd.models import X3D

EPS = 1e-10  # inside the logs, as in loss/nce_loss.py


def _unit(row):
    norm = math.sqrt(sum(v * v for v in row))
    return [v / norm for v in row]


def _nce_reference(anchors, keys, labels, tau):
    """loss/nce_loss.py: softmax over the keys of cos / tau; mean -log p over same-class keys plus mean
    -log(1 - p) over other-class keys (0 when there are none), averaged over anchors."""
    a, k = [_unit(r) for r in anchors], [_unit(r) for r in keys]
    total = 0.0
    for i, row in enumerate(a):
        logits = [sum(x * y for x, y in zip(row, key)) / tau for key in k]
        top = max(logits)
        z = sum(math.exp(v - top) for v in logits)
        p = [math.exp(v - top) / z for v in logits]
        same = [j for j in range(len(k)) if labels[j] == labels[i]]
        other = [j for j in range(len(k)) if labels[j] != labels[i]]
        total += sum(-math.log(p[j] + EPS) for j in same) / len(same)
        total += sum(-math.log(1 - p[j] + EPS) for j in other) / len(other) if other else 0.0
    return total / len(a)


@pytest.mark.parametrize("batch", [1, 2, 7, 16])
@pytest.mark.parametrize("tau", [0.5, 0.1])
def test_ccl_contrast_matches_the_released_definition(batch, tau):
    torch.manual_seed(batch)
    anchors, keys = torch.randn(batch, 6, dtype=torch.float64), 3 * torch.randn(batch, 6, dtype=torch.float64)
    labels = torch.randint(0, 3, (batch,))  # two of the five stages never occur
    loss = CCLContrastLoss(tau)(anchors, keys, labels)
    assert loss.dtype == torch.float64
    assert loss.item() == pytest.approx(_nce_reference(anchors.tolist(), keys.tolist(), labels.tolist(), tau), abs=1e-6)


def test_ccl_contrast_of_a_one_class_batch_has_no_push_term():
    anchors, keys = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    labels = torch.full((4,), 2)
    loss = CCLContrastLoss(0.5)(anchors, keys, labels)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(_nce_reference(anchors.tolist(), keys.tolist(), [2] * 4, 0.5))
    with pytest.raises(ValueError, match="temperature"):
        CCLContrastLoss(0.0)
    with pytest.raises(ValueError, match="paired"):
        CCLContrastLoss()(anchors, keys[:3], labels)


# -- the whole objective ---------------------------------------------------------------------------


def _model(tiny_teacher, embed_dim: int = 16) -> CCL:
    torch.manual_seed(0)
    student = X3D(**{**TINY_STUDENT["init_args"], "embed_dim": embed_dim})
    return CCL(student, teacher_checkpoint=str(tiny_teacher), video_shape=(1, 4, 32, 32)).double()


def _inputs(batch: int, student_dim: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    v = torch.randn(batch, student_dim, dtype=torch.float64, generator=generator)
    e = torch.randn(batch, 16, dtype=torch.float64, generator=generator)
    z_s = torch.randn(batch, 5, dtype=torch.float64, generator=generator)
    labels = torch.randint(0, 3, (batch,), generator=generator)  # N3 and REM absent
    return v, e, z_s, labels


def _linear(layer, row):
    return [sum(w * x for w, x in zip(weights, row)) + b for weights, b in zip(layer.weight.tolist(), layer.bias.tolist())]


def _log_softmax(row):
    top = max(row)
    lse = top + math.log(sum(math.exp(v - top) for v in row))
    return [v - lse for v in row]


def _objective_reference(model: CCL, v, e, z_s, labels):
    """CCL's four losses by loops: composition m = e + W[n(e); n(v)], its logits, CE of both classifiers,
    the three contrasted pairs in both directions, and the symmetric KL between student and composition."""
    v = [_linear(model.align, row) if isinstance(model.align, torch.nn.Linear) else row for row in v]
    head = model.composition
    composed = [[a + b for a, b in zip(row_e, _linear(head.compose, _unit(row_e) + _unit(row_v)))] for row_e, row_v in zip(e, v)]
    z_m = [_linear(head.classifier, row) for row in composed]
    ce = sum(-_log_softmax(row)[y] for row, y in zip(z_s, labels)) / len(labels)
    compose = sum(-_log_softmax(row)[y] for row, y in zip(z_m, labels)) / len(labels)
    contrast = 0.0
    for first, second in ((v, composed), (v, e), (composed, e)):
        contrast += _nce_reference(first, second, labels, 0.5) + _nce_reference(second, first, labels, 0.5)
    jsd = 0.0
    for a, b in zip(z_s, z_m):
        log_p, log_q = _log_softmax(a), _log_softmax(b)
        jsd += sum(math.exp(lp) * (lp - lq) + math.exp(lq) * (lq - lp) for lp, lq in zip(log_p, log_q))
    return {"ce": ce, "compose": compose, "contrast": contrast, "jsd": jsd / len(labels)}


@pytest.mark.parametrize("batch", [1, 2, 7, 16])
@pytest.mark.parametrize("student_dim", [16, 24])  # equal widths (no projection) and a projected student
def test_ccl_losses_match_the_released_objective(tiny_teacher, batch, student_dim):
    model = _model(tiny_teacher, student_dim)
    assert isinstance(model.align, torch.nn.Identity) == (student_dim == 16)
    assert model.loss_weights == {"ce": 1.0, "compose": 1.0, "contrast": 1.0, "jsd": 0.5}
    v, e, z_s, labels = _inputs(batch, student_dim, seed=batch)
    losses = model.applied_losses(Outputs(v, z_s), Outputs(e, torch.zeros(batch, 5, dtype=torch.float64)), {"label": labels})
    expected = _objective_reference(model, v.tolist(), e.tolist(), z_s.tolist(), labels.tolist())
    assert list(losses) == list(expected)
    for name, value in expected.items():
        assert losses[name].item() == pytest.approx(value, abs=1e-6), name


def _routed_reference(model: CCL, v, e, z_s, labels):
    """The two sums the released training loop steps on: (student sum, composition-head sum), in torch
    float64 so that autograd can differentiate them, each pair and term written out on its own."""
    weights = model.loss_weights
    aligned = model.align(v)
    head = model.composition

    def compose(student_side):
        joint = torch.cat([F.normalize(e, dim=1), F.normalize(student_side, dim=1)], dim=1)
        m = e + head.compose(joint)
        return head.classifier(m), m

    def nce(a, b):
        p = torch.softmax(F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / 0.5, dim=1)
        same = (labels[:, None] == labels[None, :]).double()
        pull = (-(p + EPS).log() * same).sum(1) / same.sum(1)
        push = (-(1 - p + EPS).log() * (1 - same)).sum(1) / (1 - same).sum(1).clamp_min(1)
        return (pull + push).mean()

    z_m, m = compose(aligned)
    kl = lambda a, b: (a.softmax(1) * (a.log_softmax(1) - b.log_softmax(1))).sum(1).mean()  # noqa: E731
    jsd = weights["jsd"] * (kl(z_s, z_m) + kl(z_m, z_s))
    vm, va, ma = nce(aligned, m) + nce(m, aligned), nce(aligned, e) + nce(e, aligned), nce(m, e) + nce(e, m)
    student_sum = F.cross_entropy(z_s, labels) + vm + va + jsd
    head_sum = F.cross_entropy(z_m, labels) + vm + ma + jsd
    return student_sum, head_sum


@pytest.mark.parametrize("batch", [2, 7, 16])
@pytest.mark.parametrize("student_dim", [16, 24])
def test_one_step_routes_the_gradients_as_the_released_two_optimisers_do(tiny_teacher, batch, student_dim):
    """Student parameters get d(student sum), composition-head parameters d(head sum), from one total."""
    model = _model(tiny_teacher, student_dim)
    v, e, _, labels = _inputs(batch, student_dim, seed=10 + batch)
    classifier = torch.randn(5, student_dim, dtype=torch.float64, requires_grad=True)  # a student's own head
    v.requires_grad_(True)
    student_part = [v, classifier, *model.align.parameters()]
    head_part = list(model.composition.parameters())

    losses = model.applied_losses(Outputs(v, v @ classifier.T), Outputs(e, torch.zeros(batch, 5, dtype=torch.float64)),
                           {"label": labels})  # fmt: skip
    total = sum(model.loss_weights[name] * value for name, value in losses.items())
    got = torch.autograd.grad(total, student_part + head_part)

    student_sum, head_sum = _routed_reference(model, v, e, v @ classifier.T, labels)
    want_student = torch.autograd.grad(student_sum, student_part, retain_graph=True)  # the sums share terms
    want_head = torch.autograd.grad(head_sum, head_part)
    for got_grad, want in zip(got, (*want_student, *want_head)):
        torch.testing.assert_close(got_grad, want, rtol=1e-9, atol=1e-9)


def test_a_step_on_the_composition_heads_cross_entropy_alone_leaves_every_student_gradient_zero(tiny_teacher):
    model = _model(tiny_teacher, 24).float()
    model.loss_weights = {"ce": 0.0, "compose": 1.0, "contrast": 0.0, "jsd": 0.0}
    model.log = model.log_dict = lambda *args, **kwargs: None
    batch = {"eeg": torch.randn(6, 1, 3840), "video": torch.randn(6, 1, 4, 32, 32), "label": torch.arange(6) % 3}
    model.training_step(batch, 0).backward()
    student = [*model.student.parameters(), *model.align.parameters()]
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in student)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.composition.parameters())
    assert all(p.grad is None for p in model.teacher.parameters())


def test_ccl_has_no_memory_bank_and_never_deploys_its_composition_head(tiny_teacher):
    model = _model(tiny_teacher).float().eval()
    assert not any("bank" in name for name, _ in model.named_buffers())
    batch = {"video": torch.randn(3, 1, 4, 32, 32)}
    before = model.predict_logits(batch)
    with torch.no_grad():
        model.composition.classifier.weight.add_(1.0)
    assert torch.equal(model.predict_logits(batch), before)
    assert torch.equal(before, model.student(batch["video"]))
