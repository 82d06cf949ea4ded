"""Paired differences between methods over the runs of one or more sweeps (same folds, same seeds).

    python benchmarks/paired_differences.py runs/sweeps/paper_cpu runs/sweeps/variants_cpu \
        --versus PKT=PKT-sum CRD=CRD-uniform

Within one sweep, ``sacd report`` gives this pairing too (with a Wilcoxon p and a subject-level
bootstrap); this script pools several sweeps and compares any two methods. Runs of the sweeps are
pooled by method and (fold, seed); sweeps built on the same base config
and seeds pair run for run. Every method is compared with the baseline, and each ``A=B`` of
``--versus`` compares A with B. For each metric (accuracy, macro-F1, kappa): the mean of
(A - B) over the (fold, seed) pairs both finished, its 95 % t-interval, the paired
t-test's two-sided p-value (scipy) and the wins / ties / losses. Pairs with a degenerate run (one
stage predicted throughout, or a kappa within noise of 0) are left out and counted. A difference whose interval
excludes 0 is marked with ``*``. With n pairs the half-width is t(0.975, n - 1) s / sqrt(n): at
n = 3 that is 2.48 standard deviations of the differences, so only large effects can show.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from scipy import stats

from sacd.metrics import SCALAR_METRICS
from sacd.sweeps.paired import t_interval
from sacd.sweeps.results import collect_runs, group_by_method

NAMES = {"acc": "accuracy", "macro_f1": "macro-F1", "kappa": "kappa"}


def paired(differences: list[float]) -> tuple[float, float, float, float]:
    """(mean, interval low, interval high, p) of paired differences; nan where n < 2 or all are equal.

    The interval is the report's (:func:`sacd.sweeps.paired.t_interval`); the p-value is the paired t-test's.
    """
    mean, low, high = t_interval(differences)
    if math.isnan(low):
        return mean, low, high, math.nan
    return mean, low, high, float(stats.ttest_1samp(differences, 0.0).pvalue)


def runs_by_method(sweep_dirs: list[Path]) -> dict[str, dict[tuple[int, int], object]]:
    """{method: {(fold, seed): report}} over every finished run of the sweeps (the first of duplicates)."""
    pooled: dict[str, dict[tuple[int, int], object]] = {}
    for sweep_dir in sweep_dirs:
        runs, _ = collect_runs(sweep_dir)
        for method, members in group_by_method(runs).items():
            for run in members:
                pooled.setdefault(method, {}).setdefault((run.fold, run.seed), run.report)
    return pooled


def print_pairs(pooled: dict, comparisons: list[tuple[str, str]]) -> None:
    print("method - reference, paired by (fold, seed); mean [95 % t-interval], paired t-test p")
    print(f"{'method - reference':<44} {'n':>2}  " + "  ".join(f"{NAMES[m]:<34}" for m in SCALAR_METRICS)
          + "  wins/ties/losses (macro-F1)")  # fmt: skip
    for method, reference in comparisons:
        shared = sorted(set(pooled.get(method, {})) & set(pooled.get(reference, {})))
        if not shared:
            print(f"{method} - {reference}: no (fold, seed) pair finished by both")
            continue
        pairs = [(pooled[method][key], pooled[reference][key]) for key in shared]
        usable = [(a, b) for a, b in pairs if not (getattr(a, "degenerate", None) or getattr(b, "degenerate", None))]
        left_out = f"  ({len(pairs) - len(usable)} degenerate pair(s) left out)" if len(usable) < len(pairs) else ""
        pairs = usable
        if not pairs:
            print(f"{method} - {reference}: every pair has a degenerate run{left_out}")
            continue
        cells = []
        for metric in SCALAR_METRICS:
            mean, low, high, p = paired([getattr(a, metric) - getattr(b, metric) for a, b in pairs])
            mark = "*" if low > 0 or high < 0 else " "
            cells.append(f"{mean:+.3f} [{low:+.3f}, {high:+.3f}] p={p:.2f}{mark}")
        f1 = [a.macro_f1 - b.macro_f1 for a, b in pairs]
        record = f"{sum(d > 0 for d in f1)}/{sum(d == 0 for d in f1)}/{sum(d < 0 for d in f1)}"
        print(f"{method + ' - ' + reference:<44} {len(pairs):>2}  " + "  ".join(f"{cell:<34}" for cell in cells)
              + f"  {record}{left_out}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dirs", nargs="+", type=Path, metavar="SWEEP_DIR")
    parser.add_argument("--baseline", default="Vanilla", help="every method is compared with it")
    parser.add_argument("--versus", nargs="*", default=[], metavar="A=B", help="also compare method A with method B")
    args = parser.parse_args()
    pooled = runs_by_method(args.sweep_dirs)
    comparisons = [(method, args.baseline) for method in pooled if method != args.baseline]
    comparisons += [tuple(pair.split("=", 1)) for pair in args.versus]
    print_pairs(pooled, comparisons)


if __name__ == "__main__":
    main()
