"""Staging metrics against hand-computed values."""

import json
import math

import pytest
import torch

from sacd.metrics import StagingMetrics, StagingReport, kappa_null_standard_error, summarize

NAMES = ["W", "N1", "N2", "N3", "REM"]


def _report(target, preds):
    metrics = StagingMetrics(NAMES)
    metrics.update(torch.tensor(preds), torch.tensor(target))
    return metrics.compute()


def test_metrics_match_a_hand_computed_confusion_matrix():
    # 10 epochs; true W W W N1 N2 N2 N2 N3 REM REM
    target = [0, 0, 0, 1, 2, 2, 2, 3, 4, 4]
    preds = [0, 0, 1, 1, 2, 2, 3, 3, 4, 2]
    report = _report(target, preds)
    assert report.confusion == [
        [2, 1, 0, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 0, 2, 1, 0],
        [0, 0, 0, 1, 0],
        [0, 0, 1, 0, 1],
    ]
    assert report.num_epochs == 10
    assert report.acc == pytest.approx(7 / 10)
    # per-class F1 = 2TP / (2TP + FP + FN)
    expected_f1 = {"W": 4 / 5, "N1": 2 / 3, "N2": 4 / 6, "N3": 2 / 3, "REM": 2 / 3}
    for stage, value in expected_f1.items():
        assert report.per_class_f1[stage] == pytest.approx(value, abs=1e-6)
    assert report.macro_f1 == pytest.approx(sum(expected_f1.values()) / 5, abs=1e-6)
    # Cohen's kappa: p_o = 0.7, p_e = sum(row_i * col_i) / n^2
    rows, cols = [3, 1, 3, 1, 2], [2, 2, 3, 2, 1]
    p_e = sum(r * c for r, c in zip(rows, cols)) / 100
    assert report.kappa == pytest.approx((0.7 - p_e) / (1 - p_e), abs=1e-6)
    assert report.support == {"W": 3, "N1": 1, "N2": 3, "N3": 1, "REM": 2}


def test_logits_and_hard_predictions_give_the_same_report():
    target = torch.tensor([0, 1, 2, 3, 4, 2])
    logits = torch.randn(6, 5)
    hard = _report(target.tolist(), logits.argmax(-1).tolist())
    metrics = StagingMetrics(NAMES)
    metrics.update(logits, target)
    assert metrics.compute().to_dict() == hard.to_dict()


def test_report_round_trips_through_json_and_csv(tmp_path):
    report = _report([0, 1, 2, 3, 4], [0, 1, 2, 3, 3])
    report.save(tmp_path / "r.json", tmp_path / "r.csv")
    loaded = StagingReport.from_dict(json.loads((tmp_path / "r.json").read_text()))
    assert loaded == report
    header, row = (tmp_path / "r.csv").read_text().strip().splitlines()
    assert header.split(",")[:4] == ["num_epochs", "acc", "macro_f1", "kappa"]
    assert float(row.split(",")[1]) == pytest.approx(0.8)
    table = report.format_table()
    assert "kappa" in table and "REM" in table
    assert not list(tmp_path.glob(".*.tmp"))


def test_summarize_gives_mean_and_sample_std():
    reports = [_report([0, 1, 2, 3], [0, 1, 2, 3]), _report([0, 1, 2, 3], [0, 1, 2, 2])]
    summary = summarize(reports)
    mean, std = summary["acc"]
    assert mean == pytest.approx(0.875)
    assert std == pytest.approx(math.sqrt(((1 - 0.875) ** 2 + (0.75 - 0.875) ** 2) / 1))
    with pytest.raises(ValueError):
        summarize([])


def test_the_standard_error_of_kappa_under_chance_agreement_by_hand():
    # n 50; true proportions (0.5, 0.5), predicted (0.6, 0.4): pe = 0.5, sum a b (a + b) = 0.3 x 1.1 + 0.2 x 0.9
    expected = math.sqrt((0.5 + 0.25 - 0.51) / (50 * 0.25))
    assert kappa_null_standard_error([[20, 5], [10, 15]]) == pytest.approx(expected)
    assert kappa_null_standard_error([[0, 0], [0, 0]]) == math.inf
    assert kappa_null_standard_error([[7, 0], [0, 0]]) == math.inf  # one class everywhere: pe = 1


def test_runs_that_learned_nothing_are_called_degenerate_and_say_why():
    target = [0, 0, 0, 0, 1, 2, 2, 3, 4, 4] * 10
    constant = _report(target, [0] * len(target))
    assert constant.degenerate == "every epoch is predicted W"
    rng = torch.Generator().manual_seed(0)
    guessing = _report(target, torch.randint(0, 5, (len(target),), generator=rng).tolist())
    assert "within noise of 0" in guessing.degenerate and "100 epochs" in guessing.degenerate
    learned = _report(target, [t if i % 5 else (t + 1) % 5 for i, t in enumerate(target)])  # 80 % right
    assert learned.kappa > 0.7 and learned.degenerate is None
    assert json.loads(json.dumps(constant.to_dict()))["degenerate"] == "every epoch is predicted W"
    assert StagingReport.from_dict(constant.to_dict()) == constant  # the flag is derived, not stored twice
