"""Average ranks, Friedman and Nemenyi on hand-computed cases, and the diagram that shows them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sacd.metrics import StagingReport
from sacd.sweeps.plots import write_plots
from sacd.sweeps.ranks import CD_FIGURE, Ranking, nemenyi_critical_difference, rank_methods, ranking_markdown
from sacd.sweeps.results import RunResult, results_markdown, results_sections

NAMES = ["W", "N1", "N2", "N3", "REM"]


def _runs(tmp_path: Path, scores: list[tuple[float, ...]], methods: tuple[str, ...] = ("A", "B", "C"),
          degenerate: set[tuple[str, int]] = frozenset()) -> list[RunResult]:  # fmt: skip
    """One run per method and block (block b = fold 0, seed b) with the given macro-F1."""
    runs = []
    for seed, row in enumerate(scores):
        for method, score in zip(methods, row):
            kappa = 0.0 if (method, seed) in degenerate else 0.5
            report = StagingReport(class_names=NAMES, acc=score, macro_f1=score, kappa=kappa,
                                   per_class_f1=dict.fromkeys(NAMES, score),
                                   confusion=[[20 if i == j else 0 for j in range(5)] for i in range(5)],
                                   num_epochs=100)  # fmt: skip
            run_dir = tmp_path / f"{method}-{seed}"
            run_dir.mkdir(exist_ok=True)
            runs.append(RunResult(f"{method}-{seed}", method, f"distillers.{method}", seed, 0, {}, report, run_dir))
    return runs


def test_the_critical_difference_follows_demsars_table():
    for methods, q_alpha in ((2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728), (10, 3.164)):  # Demsar 2006, Table 5
        blocks = 12
        expected = q_alpha * math.sqrt(methods * (methods + 1) / (6 * blocks))
        assert nemenyi_critical_difference(methods, blocks) == pytest.approx(expected, rel=2e-3)


def test_ranks_and_friedman_by_hand(tmp_path):
    scores = [(0.5, 0.4, 0.3), (0.5, 0.3, 0.4), (0.4, 0.5, 0.3), (0.6, 0.4, 0.5)]  # ranks A 1 1 2 1, B 2 3 1 3
    ranking = rank_methods(_runs(tmp_path, scores))
    assert ranking.methods == ("A", "B", "C") and ranking.average_ranks == pytest.approx((1.25, 2.25, 2.5))
    # chi^2 = 12 N / (k (k + 1)) * sum (R_j - (k + 1) / 2)^2 = 4 * 0.875 = 3.5; with 2 degrees of freedom p = e^(-chi^2/2)
    assert ranking.friedman_p == pytest.approx(math.exp(-3.5 / 2))
    assert ranking.blocks == 4 and ranking.cliques() == [(0, 2)]  # CD 1.66 > 2.5 - 1.25: not told apart


def test_ties_share_their_average_rank_incomplete_blocks_are_left_out_and_degenerate_runs_count(tmp_path):
    runs = _runs(tmp_path, [(0.6, 0.4, 0.4), (0.5, 0.3, 0.4), (0.5, 0.4, 0.3)], degenerate={("C", 2)})
    runs = [run for run in runs if (run.method, run.seed) != ("B", 1)]  # block 1 misses B
    ranking = rank_methods(runs)
    # block 0: A 1, B 2.5, C 2.5 (tied); block 2 keeps C's degenerate run, last: A 1, B 2, C 3
    assert ranking.blocks == 2 and ranking.left_out == 1 and ranking.average_ranks == pytest.approx((1.0, 2.25, 2.75))
    only_first = rank_methods([run for run in runs if run.seed == 0])
    assert only_first.blocks == 1 and math.isnan(only_first.friedman_p)  # one block: no test


def test_only_methods_within_the_critical_difference_are_joined(tmp_path):
    scores = [(0.6, 0.4, 0.3) if block % 2 else (0.6, 0.3, 0.4) for block in range(30)]  # A first; B and C alternate
    ranking = rank_methods(_runs(tmp_path, scores))
    assert ranking.average_ranks == pytest.approx((1.0, 2.5, 2.5)) and ranking.critical_difference < 1.0
    assert ranking.cliques() == [(1, 2)] and ranking.friedman_p < 1e-6
    assert "Not told apart: B = C." in ranking_markdown(ranking, CD_FIGURE)
    identical = rank_methods(_runs(tmp_path, [(0.5, 0.5, 0.5)] * 4))
    assert identical.friedman_p == 1.0 and identical.cliques() == [(0, 2)]


def test_the_report_and_the_plots_carry_the_ranking(tmp_path):
    runs = _runs(tmp_path, [(0.5, 0.4, 0.3), (0.5, 0.3, 0.4), (0.4, 0.5, 0.3)], methods=("Vanilla", "KD", "SACD"))
    markdown = results_markdown(results_sections(tmp_path, runs, []))
    assert "## Average ranks (macro-F1, 1 = best)" in markdown and f"plots/{CD_FIGURE}" in markdown
    assert "## Paired differences vs Vanilla" in markdown
    written = write_plots(tmp_path, runs)
    assert tmp_path / "plots" / CD_FIGURE in written and (tmp_path / "plots" / CD_FIGURE).stat().st_size > 0
    assert rank_methods(runs[:1]) is None and isinstance(rank_methods(runs), Ranking)
