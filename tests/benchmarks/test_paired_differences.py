"""The paired comparison the results page is built on: known intervals, p-values and pairing."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from paired_differences import paired, print_pairs  # noqa: E402


def test_the_interval_and_p_of_three_differences_by_hand():
    differences = [0.01, 0.03, 0.05]  # mean 0.03, sample std 0.02
    mean, low, high, p = paired(differences)
    half = 4.302652729911275 * 0.02 / math.sqrt(3)  # t(0.975, 2) s / sqrt(n)
    assert mean == pytest.approx(0.03) and low == pytest.approx(0.03 - half) and high == pytest.approx(0.03 + half)
    t = 0.03 / (0.02 / math.sqrt(3))  # two-sided p of t = 2.598 with 2 degrees of freedom: 1 - t / sqrt(t^2 + 2)
    assert p == pytest.approx(1 - t / math.sqrt(t * t + 2))


def test_identical_or_single_pairs_have_no_interval():
    assert math.isnan(paired([0.0, 0.0, 0.0])[1]) and paired([0.0, 0.0])[0] == 0.0
    assert math.isnan(paired([0.02])[3])


def test_runs_pair_by_fold_and_seed_only(capsys):
    report = lambda f1: SimpleNamespace(acc=f1, macro_f1=f1, kappa=f1)  # noqa: E731
    pooled = {"Vanilla": {(0, 0): report(0.30), (0, 1): report(0.40), (0, 2): report(0.50)},
              "KD": {(0, 0): report(0.32), (0, 1): report(0.41), (0, 9): report(0.99)}}  # seed 9 has no partner
    print_pairs(pooled, [("KD", "Vanilla"), ("KD", "CRD")])
    out = capsys.readouterr().out
    assert "KD - Vanilla" in out and " 2  +0.015 " in out and "2/0/0" in out
    assert "KD - CRD: no (fold, seed) pair finished by both" in out
