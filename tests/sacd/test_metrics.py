"""Staging metrics against hand-computed values."""

import json
import math

import pytest
import torch

from sacd.metrics import StagingMetrics, StagingReport, summarize

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
