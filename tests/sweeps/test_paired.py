"""The paired comparison with the baseline on hand-made results with known answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sacd.metrics import StagingReport
from sacd.sweeps.paired import (
    compare_with_baseline,
    holm_adjusted,
    paired_markdown,
    resolution_line,
    subject_bootstrap,
    subject_metrics,
    t_interval,
    wilcoxon_p,
)
from sacd.sweeps.results import RunResult

NAMES = ["W", "N1", "N2", "N3", "REM"]


def test_a_constant_shift_gives_an_interval_around_it_and_a_small_p():
    jitter = [-0.004, -0.003, -0.002, -0.001, 0.0, 0.0, 0.001, 0.002, 0.003, 0.004]
    mean, low, high = t_interval([0.05 + j for j in jitter])
    assert mean == pytest.approx(0.05) and low < 0.05 < high and low > 0
    assert wilcoxon_p([0.05 + j for j in jitter]) < 0.05


def test_the_t_interval_by_hand():
    differences = [0.01, 0.04, 0.02, 0.05, 0.03]
    n = len(differences)
    mean = sum(differences) / n
    s = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    half = 2.7764451051977987 * s / math.sqrt(n)  # t(0.975, 4)
    assert t_interval(differences) == pytest.approx((mean, mean - half, mean + half))


def test_the_wilcoxon_p_by_hand():
    # six positive differences of distinct size: the exact two-sided p is 2 / 2^6
    assert wilcoxon_p([0.01, 0.02, 0.03, 0.04, 0.05, 0.06]) == pytest.approx(2 / 64)
    # ranks 1..6 with signs - + + + + +: W- = 1, P(W- <= 1) = 2 / 64 one-sided, doubled
    assert wilcoxon_p([-0.01, 0.02, 0.03, 0.04, 0.05, 0.06]) == pytest.approx(4 / 64)


def test_identical_methods_differ_by_zero_with_p_one():
    assert t_interval([0.0, 0.0, 0.0])[0] == 0.0 and math.isnan(t_interval([0.0, 0.0, 0.0])[1])
    assert wilcoxon_p([0.0, 0.0, 0.0]) == 1.0
    assert all(math.isnan(value) for value in subject_bootstrap([0.02]))


def test_the_subject_bootstrap_holds_the_mean_and_is_the_same_every_time():
    per_subject = [0.01, 0.05, 0.02, 0.08, 0.03, 0.04, 0.06, 0.00]
    low, high = subject_bootstrap(per_subject)
    assert low < np.mean(per_subject) < high and (low, high) == subject_bootstrap(per_subject)
    spread = [0.04 + 10 * (value - 0.04) for value in per_subject]  # the same mean, ten times the spread
    wide_low, wide_high = subject_bootstrap(spread)
    assert wide_high - wide_low > 5 * (high - low)


def _run(root: Path, method: str, fold: int, seed: int, correct: dict[int, int], *, degenerate: bool = False) -> RunResult:
    """A finished run whose subject ``s`` gets ``correct[s]`` of its 20 epochs right (the rest one stage off)."""
    run_dir = root / f"{method}-{fold}-{seed}"
    run_dir.mkdir()
    lines, confusion = ["subject,epoch,label,pred"], np.zeros((5, 5), dtype=int)
    for subject, right in correct.items():
        for epoch in range(20):
            label = epoch % 5
            pred = label if epoch < right else (label + 1) % 5
            lines.append(f"{subject},{epoch},{label},{pred}")
            confusion[label, pred] += 1
    (run_dir / "test_predictions.csv").write_text("\n".join(lines) + "\n")
    accuracy = float(np.trace(confusion) / confusion.sum())
    report = StagingReport(class_names=NAMES, acc=accuracy, macro_f1=accuracy, kappa=0.0 if degenerate else accuracy,
                           per_class_f1=dict.fromkeys(NAMES, accuracy), confusion=confusion.tolist(),
                           num_epochs=int(confusion.sum()))  # fmt: skip
    return RunResult(f"{method}-{fold}-{seed}", method, f"distillers.{method}", seed, fold, {}, report, run_dir)


def test_subject_metrics_come_from_the_runs_predictions(tmp_path):
    run = _run(tmp_path, "KD", 0, 0, {3: 10, 7: 15})
    metrics = subject_metrics(run.run_dir, NAMES)
    assert sorted(metrics) == [3, 7]
    assert metrics[3]["acc"] == pytest.approx(0.5) and metrics[7]["acc"] == pytest.approx(0.75)


def test_methods_pair_by_fold_and_seed_missing_pairs_are_left_out_and_degenerate_ones_count(tmp_path):
    runs = []
    for fold, subjects in ((0, (1, 2)), (1, (3, 4))):
        for seed in (0, 1):
            runs.append(_run(tmp_path, "Vanilla", fold, seed, dict.fromkeys(subjects, 10)))
            runs.append(_run(tmp_path, "KD", fold, seed, dict.fromkeys(subjects, 12)))  # +2 epochs of 20 right
            if (fold, seed) != (1, 1):  # CRD misses one run
                failed = seed == 1  # a degenerate run with 6 of 20 right: it counts, as CRD's result on (0, 1)
                runs.append(_run(tmp_path, "CRD", fold, seed, dict.fromkeys(subjects, 6 if failed else 10), degenerate=failed))
    found = {(d.method, d.metric): d for d in compare_with_baseline(runs, "Vanilla")}
    kd = found["KD", "acc"]
    assert (kd.n, kd.mean, kd.wins, kd.ties, kd.losses, kd.subjects) == (4, pytest.approx(0.1), 4, 0, 0, 4)
    assert math.isnan(kd.low) and kd.p == pytest.approx(2 / 16)  # equal differences: no spread to draw an interval
    crd = found["CRD", "acc"]
    assert (crd.n, crd.degenerate, crd.ties, crd.losses) == (3, 1, 2, 1)  # (0, 1) degenerate and kept, (1, 1) missing
    assert crd.mean == pytest.approx(-0.2 / 3)
    section = paired_markdown(list(found.values()), "Vanilla")
    assert "| KD | 4 | +0.100 — | — |" in section and "| CRD | 3 |" in section and "1 pair(s) hold a degenerate run" in section


def test_a_real_difference_is_marked_in_bold(tmp_path):
    runs = []
    for seed, gain in enumerate((1, 2, 3, 2, 1, 3)):
        runs.append(_run(tmp_path, "Vanilla", 0, seed, {1: 10, 2: 10}))
        runs.append(_run(tmp_path, "SACD", 0, seed, {1: 10 + gain, 2: 10 + gain}))
    (difference,) = [d for d in compare_with_baseline(runs, "Vanilla") if d.metric == "macro_f1"]
    assert difference.excludes_zero and difference.low > 0
    half_width = (difference.high - difference.low) / 2
    assert difference.half_width == pytest.approx(half_width)
    assert f"**{difference.mean:+.3f} [{difference.low:+.3f}, {difference.high:+.3f}]** | {half_width:.3f} |" in paired_markdown(
        [difference], "Vanilla"
    )


def test_the_resolution_line_names_each_half_width_and_counts_those_within_the_target(tmp_path):
    runs = []
    for seed, (small, large) in enumerate(((1, 1), (2, 5), (1, 0), (2, 6))):
        runs.append(_run(tmp_path, "Vanilla", 0, seed, {1: 10, 2: 10}))
        runs.append(_run(tmp_path, "KD", 0, seed, {1: 10 + small, 2: 10 + small}))
        runs.append(_run(tmp_path, "CRD", 0, seed, {1: 10 + large, 2: 10 + large}))
    f1 = {d.method: d for d in compare_with_baseline(runs, "Vanilla") if d.metric == "macro_f1"}
    target = (f1["KD"].half_width + f1["CRD"].half_width) / 2
    assert f1["KD"].half_width < target < f1["CRD"].half_width
    line = resolution_line(list(f1.values()), target=target)
    assert f"KD {f1['KD'].half_width:.3f}" in line and f"CRD {f1['CRD'].half_width:.3f}" in line
    assert "1 of 2 within" in line
    assert resolution_line([]).startswith("Paired macro-F1 interval half-widths: none")


def test_holm_adjusts_step_down_and_keeps_the_order_given():
    # sorted 0.01, 0.03, 0.04: x3 = 0.03, x2 = 0.06, x1 = 0.04 -> raised to the running maximum 0.06
    assert holm_adjusted([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert holm_adjusted([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    adjusted = holm_adjusted([0.02, math.nan])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1])  # nan is no test: the family is 1
