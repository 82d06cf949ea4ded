"""Every method against every other: average ranks, the Friedman test and Nemenyi's critical difference.

Demsar (2006, "Statistical comparisons of classifiers over multiple data sets", JMLR 7) compares k
methods over N blocks by ranking them within each block (here a block is one (fold, seed): the same
subjects, split and data order for every method), averaging the ranks, and testing with Friedman's
test whether the average ranks differ more than chance allows. Two methods then differ, by the
Nemenyi post-hoc test, when their average ranks are at least the critical difference

    CD = q_alpha * sqrt(k (k + 1) / (6 N)),   q_alpha = studentized range quantile(1 - alpha, k, inf) / sqrt(2)

(Demsar's Table 5: q_0.05 = 1.960, 2.343, 2.569, 2.728 for k = 2..5). The ranks, the test and the
quantile come from scipy. Blocks in which some method did not finish are left out and counted. A
degenerate run (one that learnt nothing) keeps its place: it is that method's result on that block,
and leaving it out would favour the methods that fail most.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: significance level of the Nemenyi post-hoc test
ALPHA = 0.05
#: the diagram's file name under the sweep's plots/ (drawn by sacd.sweeps.plots)
CD_FIGURE = "critical_difference.png"
#: how a metric is named in text
METRIC_NAMES = {"acc": "accuracy", "macro_f1": "macro-F1", "kappa": "kappa"}


@dataclass(frozen=True)
class Ranking:
    """The methods' average ranks on one metric (1 = best) over the blocks every method finished."""

    metric: str
    methods: tuple[str, ...]  # best first
    average_ranks: tuple[float, ...]
    blocks: int
    left_out: int  # blocks with a missing run
    friedman_p: float  # see friedman()
    critical_difference: float

    def cliques(self) -> list[tuple[int, int]]:
        """Maximal runs (first, last index, best first) of methods whose average ranks lie within one critical
        difference of each other: the groups the Nemenyi test cannot tell apart (only runs of 2 or more)."""
        ranks, groups = self.average_ranks, []
        for first in range(len(ranks)):
            last = max(i for i in range(first, len(ranks)) if ranks[i] - ranks[first] < self.critical_difference)
            if last > first and not any(g_first <= first and last <= g_last for g_first, g_last in groups):
                groups.append((first, last))
        return groups


def nemenyi_critical_difference(methods: int, blocks: int, alpha: float = ALPHA) -> float:
    """The smallest difference of average ranks the Nemenyi test calls significant at ``alpha``."""
    q_alpha = stats.studentized_range.ppf(1 - alpha, methods, np.inf) / math.sqrt(2)
    return float(q_alpha * math.sqrt(methods * (methods + 1) / (6 * blocks)))


def rank_methods(runs: Sequence, metric: str = "macro_f1") -> Ranking | None:
    """Rank the methods of ``runs`` (:class:`sacd.sweeps.results.RunResult`) within each (fold, seed) block
    on ``metric`` (higher is better, ties share their average rank); None with fewer than 2 methods or no
    block that every method finished."""
    from sacd.sweeps.results import group_by_method

    groups = group_by_method(runs)
    methods = list(groups)
    blocks = sorted({(run.fold, run.seed) for run in runs})
    by_key = {(method, run.fold, run.seed): run for method, members in groups.items() for run in members}
    complete = [block for block in blocks if all((method, *block) in by_key for method in methods)]
    if len(methods) < 2 or not complete:
        return None
    scores = np.array([[getattr(by_key[(method, *block)].report, metric) for method in methods] for block in complete])
    ranks = np.vstack([stats.rankdata(-row) for row in scores]).mean(axis=0)
    order = np.argsort(ranks, kind="stable")
    return Ranking(
        metric=metric, methods=tuple(methods[i] for i in order), average_ranks=tuple(float(ranks[i]) for i in order),
        blocks=len(complete), left_out=len(blocks) - len(complete), friedman_p=friedman(scores),
        critical_difference=nemenyi_critical_difference(len(methods), len(complete)),
    )  # fmt: skip


def friedman(scores: np.ndarray) -> float:
    """Friedman's p-value of (blocks, methods) scores (scipy): nan below 3 methods or 2 blocks, 1 when every
    block scores every method alike."""
    blocks, methods = scores.shape
    if methods < 3 or blocks < 2:
        return math.nan
    if np.all(scores == scores[:, :1]):
        return 1.0
    return float(stats.friedmanchisquare(*scores.T).pvalue)


def ranking_markdown(ranking: Ranking, figure_name: str) -> str:
    """A Markdown section: the average ranks, the Friedman p-value, the critical difference and the diagram."""
    rows = " · ".join(f"{method} {rank:.2f}" for method, rank in zip(ranking.methods, ranking.average_ranks))
    friedman_text = "—" if math.isnan(ranking.friedman_p) else f"{ranking.friedman_p:.3g}"
    groups = [" = ".join(ranking.methods[first : last + 1]) for first, last in ranking.cliques()]
    left_out = f" {ranking.left_out} block(s) with a missing run are left out." if ranking.left_out else ""
    return "\n".join([
        f"## Average ranks ({METRIC_NAMES.get(ranking.metric, ranking.metric)}, 1 = best)",
        "",
        rows,
        "",
        f"Ranked within each of {ranking.blocks} (fold, seed) block(s).{left_out} Friedman test p = {friedman_text}; "
        f"Nemenyi critical difference at α = {ALPHA}: {ranking.critical_difference:.2f} ranks (Demsar 2006). "
        + (f"Not told apart: {'; '.join(groups)}." if groups else "Every pair of methods is told apart."),
        "",
        f"![critical difference diagram](plots/{figure_name})",
    ])  # fmt: skip
