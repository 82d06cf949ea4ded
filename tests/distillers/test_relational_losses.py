"""RKD, PKT and SP against loop-by-loop references written from the papers' definitions (float64)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from distillers.base import Outputs
from distillers.losses import PKTLoss, RKDLoss, SPLoss


def _huber(a: float, b: float) -> float:
    d = abs(a - b)
    return 0.5 * d * d if d < 1.0 else d - 0.5


def _rkd_reference(s: torch.Tensor, t: torch.Tensor) -> tuple[float, float]:
    n = len(s)

    def dist(x):
        d = [[math.dist(x[i], x[j]) for j in range(n)] for i in range(n)]
        mu = sum(d[i][j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        return [[v / mu for v in row] for row in d]

    def angle(x, j, i, k):
        u = [a - b for a, b in zip(x[i], x[j])]
        v = [a - b for a, b in zip(x[k], x[j])]
        nu, nv = math.sqrt(sum(a * a for a in u)), math.sqrt(sum(a * a for a in v))
        if nu == 0 or nv == 0:
            return 0.0
        return sum(a * b for a, b in zip(u, v)) / (nu * nv)

    xs, xt = s.tolist(), t.tolist()
    ds, dt = dist(xs), dist(xt)
    distance = sum(_huber(ds[i][j], dt[i][j]) for i in range(n) for j in range(n)) / n**2
    triples = list(itertools.product(range(n), repeat=3))
    angle_loss = sum(_huber(angle(xs, *c), angle(xt, *c)) for c in triples) / len(triples)
    return distance, angle_loss


@pytest.mark.parametrize("batch", [2, 3, 5])
def test_rkd_matches_the_reference_across_embedding_sizes(batch):
    torch.manual_seed(batch)
    student = torch.randn(batch, 4, dtype=torch.float64)
    teacher = 3.0 * torch.randn(batch, 7, dtype=torch.float64)  # another width: relations still compare
    distance, angle = RKDLoss()(student, teacher)
    expected_distance, expected_angle = _rkd_reference(student, teacher)
    assert distance.item() == pytest.approx(expected_distance, abs=1e-6)
    assert angle.item() == pytest.approx(expected_angle, abs=1e-6)


def test_rkd_is_zero_for_a_scaled_copy_and_for_a_single_sample():
    x = torch.randn(6, 5, dtype=torch.float64)
    distance, angle = RKDLoss()(x, 10.0 * x)  # distances are normalised by their mean
    assert distance.item() == pytest.approx(0.0, abs=1e-12) and angle.item() == pytest.approx(0.0, abs=1e-12)
    one = torch.randn(1, 5, requires_grad=True)
    distance, angle = RKDLoss()(one, torch.randn(1, 3))
    assert distance.item() == 0.0 and angle.item() == 0.0
    (distance + angle).backward()  # still differentiable


def _pkt_reference(s, t, eps=1e-7):
    """RepDistiller's PKT (the source of the weight 30000): vectors over (norm + eps), mean over the B x B pairs."""

    def probs(x):
        x = [[v / (math.sqrt(sum(a * a for a in row)) + eps) for v in row] for row in x]
        sim = [[(sum(a * b for a, b in zip(r1, r2)) + 1) / 2 for r2 in x] for r1 in x]
        return [[v / sum(row) for v in row] for row in sim]

    ps, pt = probs(s.tolist()), probs(t.tolist())
    n = len(ps)
    return sum(pt[i][j] * math.log((pt[i][j] + eps) / (ps[i][j] + eps)) for i in range(n) for j in range(n)) / n**2


@pytest.mark.parametrize("batch", [1, 2, 4, 7, 16])
def test_pkt_matches_the_reference(batch):
    torch.manual_seed(10 + batch)
    student, teacher = torch.randn(batch, 3, dtype=torch.float64), torch.randn(batch, 6, dtype=torch.float64)
    assert PKTLoss()(student, teacher).item() == pytest.approx(_pkt_reference(student, teacher), abs=1e-9)
    assert PKTLoss()(teacher, teacher).item() == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("batch", [2, 7, 16])
def test_pkt_weighted_term_is_the_references_weighted_term(batch, tiny_teacher):
    """The distiller's weighted PKT term equals 30000 x RepDistiller's mean-over-pairs loss at any batch size."""
    from conftest import TINY_STUDENT

    from distillers import PKT
    from sacd.models import X3D

    model = PKT(X3D(**TINY_STUDENT["init_args"]), teacher_checkpoint=str(tiny_teacher))
    torch.manual_seed(batch)
    student = torch.randn(batch, 16, dtype=torch.float64)
    teacher = torch.randn(batch, 16, dtype=torch.float64)
    outputs = lambda features: Outputs(features, torch.zeros(batch, 5, dtype=torch.float64))  # noqa: E731
    losses = model.applied_losses(outputs(student), outputs(teacher), {"label": torch.zeros(batch, dtype=torch.long)})
    weighted = model.loss_weights["pkt"] * losses["pkt"].item()
    assert model.loss_weights["pkt"] == 30000.0
    assert weighted == pytest.approx(30000.0 * _pkt_reference(student, teacher), rel=1e-9, abs=1e-9)


def _sp_reference(s, t):
    def normalised_gram(x):
        g = [[sum(a * b for a, b in zip(r1, r2)) for r2 in x] for r1 in x]
        return [[v / math.sqrt(sum(w * w for w in row)) for v in row] for row in g]

    gs, gt = normalised_gram(s.tolist()), normalised_gram(t.tolist())
    n = len(gs)
    return sum((gs[i][j] - gt[i][j]) ** 2 for i in range(n) for j in range(n)) / n**2


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_sp_matches_the_reference(batch):
    torch.manual_seed(20 + batch)
    student, teacher = torch.randn(batch, 4, dtype=torch.float64), torch.randn(batch, 9, dtype=torch.float64)
    assert SPLoss()(student, teacher).item() == pytest.approx(_sp_reference(student, teacher), abs=1e-6)


def test_relational_losses_never_train_the_teacher():
    student = torch.randn(4, 3, requires_grad=True)
    teacher = torch.randn(4, 5, requires_grad=True)
    total = sum(RKDLoss()(student, teacher)) + PKTLoss()(student, teacher) + SPLoss()(student, teacher)
    total.backward()
    assert student.grad is not None and teacher.grad is None
