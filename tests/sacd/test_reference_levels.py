"""The levels printed under a test table: chance from the labels, and the teacher on the same subjects."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sacd.metrics import StagingReport
from sacd.reference_levels import chance_levels, context_lines, report_path, teacher_report

STAGES = ["W", "N1", "N2", "N3", "REM"]


def _report(support: list[int], subjects: list[int] | None = None) -> StagingReport:
    confusion = [[count if i == j else 0 for j in range(len(support))] for i, count in enumerate(support)]
    return StagingReport(STAGES, 1.0, 1.0, 1.0, dict.fromkeys(STAGES, 1.0), confusion, sum(support), subjects)


def _macro_f1_and_kappa(truth: np.ndarray, predicted: np.ndarray, classes: int) -> tuple[float, float]:
    """Float64 loop over the definitions: F1 per class seen in truth or prediction, Cohen's kappa."""
    f1 = []
    for k in range(classes):
        tp = float(np.sum((truth == k) & (predicted == k)))
        fp = float(np.sum((truth != k) & (predicted == k)))
        fn = float(np.sum((truth == k) & (predicted != k)))
        if tp + fp + fn:
            f1.append(2 * tp / (2 * tp + fp + fn))
    observed = float(np.mean(truth == predicted))
    expected = sum(float(np.mean(truth == k)) * float(np.mean(predicted == k)) for k in range(classes))
    return float(np.mean(f1)), (observed - expected) / (1 - expected) if expected < 1 else float("nan")


@pytest.mark.parametrize("support", [[430, 43, 293, 146, 88], [10, 0, 5, 0, 1], [7, 0, 0, 0, 0]])
def test_chance_levels_match_a_loop_over_the_definitions(support):
    chance = chance_levels(_report(support))
    truth = np.repeat(np.arange(5), support)
    majority = int(np.argmax(support))
    f1, kappa = _macro_f1_and_kappa(truth, np.full_like(truth, majority), 5)
    assert chance.majority_stage == STAGES[majority]
    assert chance.majority_macro_f1 == pytest.approx(f1, abs=1e-6)
    assert chance.majority_kappa == pytest.approx(kappa, abs=1e-6, nan_ok=True)  # one stage: undefined
    rng = np.random.default_rng(0)
    draws = [_macro_f1_and_kappa(truth, rng.choice(truth, size=truth.size), 5) for _ in range(400)]
    f1s, kappas = np.array(draws).T
    assert chance.stratified_macro_f1 == pytest.approx(f1s.mean(), abs=4 * f1s.std() / 20 + 0.01)
    if not np.isnan(kappas).any():
        assert chance.stratified_kappa == pytest.approx(kappas.mean(), abs=4 * kappas.std() / 20 + 0.01)


def test_the_teacher_row_needs_a_report_on_the_same_subjects(tmp_path):
    checkpoint = tmp_path / "teacher.ckpt"
    assert "no EEG teacher" in teacher_report(None, [1])
    assert "not tested yet" in teacher_report(checkpoint, [1])
    teacher = _report([5, 1, 3, 2, 1], subjects=[4, 9])
    teacher.acc, teacher.macro_f1, teacher.kappa = 0.86, 0.67, 0.81
    teacher.save(report_path(checkpoint))
    assert report_path(checkpoint) == tmp_path / "teacher.test.json"
    assert "covers other subjects" in teacher_report(checkpoint, [4, 10])
    assert teacher_report(checkpoint, [9, 4]).kappa == pytest.approx(0.81)
    lines = context_lines(_report([40, 4, 30, 15, 9], subjects=[4, 9]), str(checkpoint))
    assert "accuracy 0.8600   macro-F1 0.6700   kappa 0.8100" in lines[1]
    assert lines[2].split()[:3] == ["every", "epoch", "W"] and "stratified random" in lines[3]
    assert len(context_lines(_report([4, 0, 3, 0, 0]), False)) == 3  # not a student: no teacher row
    report_path(checkpoint).write_text("{")
    assert "unreadable" in teacher_report(checkpoint, [4, 9])


def test_a_test_report_records_its_subjects(tmp_path):
    _report([1, 2, 3, 4, 5], subjects=[2, 7]).save(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["subjects"] == [2, 7]
    assert StagingReport.from_dict(json.loads((tmp_path / "r.json").read_text())).subjects == [2, 7]
