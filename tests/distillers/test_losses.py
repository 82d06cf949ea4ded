"""Distillation losses against their papers' definitions on small hand-computed cases."""

import math

import pytest
import torch

from distillers.losses import HintLoss, KDLoss, as_sequence


def test_kd_loss_matches_a_hand_computed_two_sample_case():
    student = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    teacher = torch.tensor([[0.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    t = 2.0

    def softmax(row):
        exps = [math.exp(v / t) for v in row]
        return [e / sum(exps) for e in exps]

    expected = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist()):
        p_s, p_t = softmax(s_row), softmax(t_row)
        expected += sum(pt * math.log(pt / ps) for pt, ps in zip(p_t, p_s))
    expected = expected / 2 * t * t
    assert KDLoss(temperature=t)(student, teacher).item() == pytest.approx(expected, abs=1e-12)


def test_kd_loss_is_zero_for_identical_logits_and_does_not_train_the_teacher():
    logits = torch.randn(4, 5, dtype=torch.float64)
    assert KDLoss(4.0)(logits, logits).item() == pytest.approx(0.0, abs=1e-12)
    student = torch.randn(3, 5, requires_grad=True)
    teacher = torch.randn(3, 5, requires_grad=True)
    KDLoss(4.0)(student, teacher).backward()
    assert student.grad is not None and teacher.grad is None
    with pytest.raises(ValueError):
        KDLoss(0.0)


def test_as_sequence_reads_the_time_axis_of_each_modality():
    assert as_sequence(torch.ones(2, 7)).shape == (2, 7, 1)
    assert as_sequence(torch.ones(2, 8, 30)).shape == (2, 8, 30)
    video = torch.arange(2 * 3 * 4 * 2 * 2, dtype=torch.float64).reshape(2, 3, 4, 2, 2)
    assert torch.equal(as_sequence(video), video.mean(dim=(3, 4)))
    with pytest.raises(ValueError, match="time axis"):
        as_sequence(torch.ones(2, 3, 4, 5))


def test_hint_loss_regresses_across_different_shapes():
    torch.manual_seed(0)
    loss = HintLoss(student_channels=6, teacher_channels=10).double()
    student = torch.randn(4, 6, 2, 3, 3, dtype=torch.float64, requires_grad=True)  # video (B, C, T, H, W)
    teacher = torch.randn(4, 10, 30, dtype=torch.float64)  # EEG (B, C, L)
    value = loss(student, teacher)
    value.backward()
    assert value.ndim == 0 and student.grad is not None
    # With the regressor set to identity-like weights, the loss is the plain MSE after resampling.
    loss = HintLoss(3, 3).double().eval()
    with torch.no_grad():
        loss.regressor[0].weight.copy_(torch.eye(3).unsqueeze(-1))
    x = torch.randn(2, 3, 5, 1, 1, dtype=torch.float64)
    target = torch.randn(2, 3, 5, dtype=torch.float64)
    bn = loss.regressor[1]
    expected_hint = (x.mean(dim=(3, 4)) - bn.running_mean[None, :, None]) / torch.sqrt(
        bn.running_var[None, :, None] + bn.eps
    )
    assert loss(x, target).item() == pytest.approx(((expected_hint - target) ** 2).mean().item(), abs=1e-12)
