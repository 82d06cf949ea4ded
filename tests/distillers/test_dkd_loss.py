"""DKD against the paper's decomposition and a loop-by-loop reference (float64)."""

from __future__ import annotations

import math

import pytest
import torch

from distillers.losses import DKDLoss, KDLoss


def _reference(student, teacher, target, t):
    tckd = nckd = 0.0
    for zs, zt, y in zip(student.tolist(), teacher.tolist(), target.tolist()):
        ps = [math.exp(v / t) for v in zs]
        pt = [math.exp(v / t) for v in zt]
        ps, pt = [v / sum(ps) for v in ps], [v / sum(pt) for v in pt]
        bs, bt = (ps[y], 1 - ps[y]), (pt[y], 1 - pt[y])
        tckd += sum(b * math.log(b / a) for a, b in zip(bs, bt))
        qs = [v for i, v in enumerate(ps) if i != y]
        qt = [v for i, v in enumerate(pt) if i != y]
        qs, qt = [v / sum(qs) for v in qs], [v / sum(qt) for v in qt]
        nckd += sum(b * math.log(b / a) for a, b in zip(qs, qt))
    n = len(target)
    return tckd / n * t * t, nckd / n * t * t


@pytest.mark.parametrize("batch", [1, 2, 6])
def test_dkd_matches_the_reference(batch):
    torch.manual_seed(batch)
    student, teacher = torch.randn(batch, 5, dtype=torch.float64), 2 * torch.randn(batch, 5, dtype=torch.float64)
    target = torch.randint(0, 5, (batch,))
    tckd, nckd = DKDLoss(temperature=4.0)(student, teacher, target)
    expected_tckd, expected_nckd = _reference(student, teacher, target, 4.0)
    assert tckd.item() == pytest.approx(expected_tckd, abs=1e-9)
    assert nckd.item() == pytest.approx(expected_nckd, abs=1e-9)


def test_kd_decomposes_into_tckd_and_weighted_nckd():
    """For one sample, KD = TCKD + (1 - p_t(target)) * NCKD (the DKD paper's identity)."""
    torch.manual_seed(0)
    student, teacher = torch.randn(1, 5, dtype=torch.float64), torch.randn(1, 5, dtype=torch.float64)
    target = torch.tensor([2])
    tckd, nckd = DKDLoss(temperature=2.0)(student, teacher, target)
    p_target = torch.softmax(teacher / 2.0, dim=1)[0, 2].item()
    kd = KDLoss(temperature=2.0)(student, teacher).item()
    assert kd == pytest.approx(tckd.item() + (1 - p_target) * nckd.item(), abs=1e-9)


def test_dkd_is_zero_when_student_equals_teacher():
    logits = torch.randn(4, 5, dtype=torch.float64)
    tckd, nckd = DKDLoss()(logits, logits, torch.tensor([0, 1, 2, 3]))
    assert tckd.item() == pytest.approx(0.0, abs=1e-12) and nckd.item() == pytest.approx(0.0, abs=1e-12)
