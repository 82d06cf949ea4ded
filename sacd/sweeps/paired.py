"""Each method against the baseline, pair by pair: the comparison a sweep's design allows.

Every method of a sweep runs on the same folds and seeds, so a method's run and the baseline's run of
one (fold, seed) share the test subjects, the split and the data order; their difference is free of
the fold-to-fold spread that dominates a mean ± std. Two intervals are given, because they answer
two questions:

- the **t-interval over (fold, seed) pairs** (scipy's ``stats.t.interval`` of the mean difference)
  says how much the difference would move with other seeds and folds of these subjects;
- the **subject-level bootstrap** (scipy's ``stats.bootstrap``, percentile method, over the test
  subjects' own differences averaged over seeds) says how much it would move with other subjects,
  the unit a sleep study samples.

The p-value is the Wilcoxon signed-rank test's (scipy), which assumes no normality of the
differences. A degenerate run (one stage predicted throughout, or a kappa within noise of 0) is kept
and its pairs are counted: it is what the method gave on that fold and seed, and leaving its pairs
out would drop a method's worst runs from its own comparison, favouring the methods that fail most.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from sacd.metrics import SCALAR_METRICS
from sacd.sweeps.predictions import PREDICTIONS_CSV, read_predictions

#: resamples of the subject-level bootstrap (seeded, so a report is the same every time it is built)
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class PairedDifference:
    """``method`` minus ``baseline`` on one metric over the (fold, seed) pairs both finished."""

    method: str
    baseline: str
    metric: str
    n: int  # pairs compared
    mean: float
    low: float  # 95 % t-interval over the pairs (nan below 2 pairs or when every difference is equal)
    high: float
    p: float  # Wilcoxon signed-rank, two-sided (1 when every difference is 0)
    wins: int
    ties: int
    losses: int
    subjects: int  # test subjects in the bootstrap
    subject_low: float  # 95 % subject-level bootstrap interval (nan without predictions or below 2 subjects)
    subject_high: float
    degenerate: int  # pairs in which either run is degenerate (kept in the statistics)

    @property
    def half_width(self) -> float:
        """Half the t-interval's width: the resolution of the comparison (nan where the interval is undefined)."""
        return (self.high - self.low) / 2

    @property
    def excludes_zero(self) -> bool:
        """Whether the t-interval lies wholly on one side of 0: a difference these runs can see."""
        return self.low > 0 or self.high < 0


def t_interval(differences: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high) of paired differences: the 95 % t-interval; low and high nan where it is undefined."""
    values = np.asarray(differences, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2 or np.ptp(values) == 0:
        return mean, math.nan, math.nan
    low, high = stats.t.interval(0.95, values.size - 1, loc=mean, scale=stats.sem(values))
    return mean, float(low), float(high)


def mean_interval(values: Sequence[float], low: float, high: float) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of the mean over runs, kept inside the metric's range [low, high]
    (F1 and accuracy in [0, 1], kappa in [-1, 1]); one run has no interval."""
    finite = np.asarray([value for value in values if math.isfinite(value)], dtype=np.float64)
    if finite.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(finite.mean())
    sem = float(stats.sem(finite)) if finite.size > 1 else 0.0
    if sem == 0.0:  # one run, or runs that agree exactly: no spread to draw
        return mean, mean, mean
    lower, upper = stats.t.interval(0.95, finite.size - 1, loc=mean, scale=sem)
    return mean, max(low, float(lower)), min(high, float(upper))


def metric_bounds(key: str) -> tuple[float, float]:
    """The range a metric can take: kappa [-1, 1], accuracy and F1 [0, 1]."""
    return (-1.0, 1.0) if key == "kappa" else (0.0, 1.0)


def wilcoxon_p(differences: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (1 when they are all 0)."""
    values = np.asarray(differences, dtype=np.float64)
    if not np.any(values):
        return 1.0
    return float(stats.wilcoxon(values).pvalue)


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (nan stays nan), in the order given.

    Comparing k methods with one baseline is k tests; at 0.05 each, one false "difference" among 8 is
    likely. Holm's adjustment keeps the chance of any false one at 0.05 without assuming independence.
    scipy offers only false-discovery-rate control (``stats.false_discovery_control``), a weaker promise.
    """
    values = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(values.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(values))
    order = finite[np.argsort(values[finite], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * values[index]))
        adjusted[index] = running
    return [float(value) for value in adjusted]


def subject_bootstrap(per_subject: Sequence[float]) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean over subjects (nan below 2 subjects or when all are equal)."""
    values = np.asarray([value for value in per_subject if math.isfinite(value)], dtype=np.float64)
    if values.size < 2 or np.ptp(values) == 0:
        return math.nan, math.nan
    result = stats.bootstrap((values,), np.mean, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile",
                             rng=np.random.default_rng(0))  # fmt: skip
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def subject_metrics(run_dir: Path, class_names: Sequence[str]) -> dict[int, dict[str, float]]:
    """Accuracy, macro-F1 and kappa of each test subject of a run, from its per-epoch predictions, by the
    same torchmetrics definitions as its whole-test report ({} when the run kept no readable predictions)."""
    import torch

    from sacd.metrics import StagingMetrics

    metrics = StagingMetrics(class_names)
    found = {}
    for subject, (_, labels, preds) in (read_predictions(Path(run_dir) / PREDICTIONS_CSV) or {}).items():
        scored = labels >= 0
        if not scored.any():
            continue
        metrics.reset()
        metrics.update(torch.from_numpy(preds[scored]), torch.from_numpy(labels[scored]))
        found[subject] = metrics.compute().scalars()
    return found


def compare_with_baseline(runs: Sequence, baseline: str) -> list[PairedDifference]:
    """Every method of ``runs`` (:class:`sacd.sweeps.results.RunResult`) minus ``baseline``, per metric, in
    the sweep's method order; a method with no (fold, seed) in common with the baseline is left out."""
    from sacd.sweeps.results import group_by_method

    groups = group_by_method(runs, baseline)
    reference = {(run.fold, run.seed): run for run in groups.get(baseline, [])}
    per_subject_cache: dict[Path, dict[int, dict[str, float]]] = {}

    def by_subject(run) -> dict[int, dict[str, float]]:
        if run.run_dir not in per_subject_cache:
            per_subject_cache[run.run_dir] = subject_metrics(run.run_dir, run.report.class_names)
        return per_subject_cache[run.run_dir]

    found = []
    for method, members in groups.items():
        pairs = [(run, reference[(run.fold, run.seed)]) for run in members if (run.fold, run.seed) in reference]
        if method == baseline or not pairs:
            continue
        degenerate = sum(bool(a.report.degenerate or b.report.degenerate) for a, b in pairs)
        for metric in SCALAR_METRICS:
            found.append(_difference(method, baseline, metric, pairs, degenerate, by_subject))
    return found


def _difference(method: str, baseline: str, metric: str, pairs: list, degenerate: int, by_subject) -> PairedDifference:
    differences = [getattr(a.report, metric) - getattr(b.report, metric) for a, b in pairs]
    subjects: dict[int, list[float]] = {}
    for a, b in pairs:
        ours, theirs = by_subject(a), by_subject(b)
        for subject in sorted(set(ours) & set(theirs)):
            subjects.setdefault(subject, []).append(ours[subject][metric] - theirs[subject][metric])
    per_subject = [float(np.nanmean(values)) for values in subjects.values() if np.isfinite(values).any()]
    mean, low, high = t_interval(differences) if differences else (math.nan, math.nan, math.nan)
    subject_low, subject_high = subject_bootstrap(per_subject)
    return PairedDifference(
        method=method, baseline=baseline, metric=metric, n=len(differences), mean=mean, low=low, high=high,
        p=wilcoxon_p(differences) if differences else math.nan, wins=sum(d > 0 for d in differences),
        ties=sum(d == 0 for d in differences), losses=sum(d < 0 for d in differences), subjects=len(per_subject),
        subject_low=subject_low, subject_high=subject_high, degenerate=degenerate,
    )  # fmt: skip


def _interval(low: float, high: float) -> str:
    return "—" if math.isnan(low) else f"[{low:+.3f}, {high:+.3f}]"


def paired_markdown(differences: Sequence[PairedDifference], baseline: str) -> str:
    """A Markdown section: one line per method, the macro-F1 difference with both intervals, its p-value and
    win / tie / loss count, then the accuracy and kappa differences with their t-intervals."""
    by_method: dict[str, dict[str, PairedDifference]] = {}
    for difference in differences:
        by_method.setdefault(difference.method, {})[difference.metric] = difference
    lines = [
        f"## Paired differences vs {baseline}",
        "",
        f"| Method | pairs | Δ macro-F1 [95 % t-interval] | ± | [95 % subject bootstrap] | Wilcoxon p | Holm p | W / T / L "
        "| Δ accuracy [95 % t-interval] | Δ κ [95 % t-interval] |",
        "|---|--:|---|--:|---|--:|--:|:-:|---|---|",
    ]
    holm = dict(zip(by_method, holm_adjusted([metrics["macro_f1"].p for metrics in by_method.values()])))
    for method, metrics in by_method.items():
        f1 = metrics["macro_f1"]
        cells = [method, str(f1.n), format_delta(f1), _number(f1.half_width), _interval(f1.subject_low, f1.subject_high),
                 _number(f1.p), _number(holm[method]), f"{f1.wins} / {f1.ties} / {f1.losses}",
                 format_delta(metrics.get("acc")), format_delta(metrics.get("kappa"))]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    degenerate = sum(metrics["macro_f1"].degenerate for metrics in by_method.values())
    most = max((metrics["macro_f1"].n for metrics in by_method.values()), default=0)
    lines += [
        "",
        f"Each method's run minus the {baseline} run of the same fold and seed (same test subjects, same "
        "data order), averaged over the pairs. The t-interval is over those pairs; the subject bootstrap "
        f"resamples the test subjects ({BOOTSTRAP_RESAMPLES} percentile resamples of each subject's difference "
        "averaged over seeds); ± is the t-interval's half-width, the smallest difference these runs resolve. "
        "The p-value is the two-sided Wilcoxon signed-rank test on the pairs. Holm p adjusts the macro-F1 p-values "
        f"for the {len(by_method)} comparison(s) with {baseline}: below 0.05, a difference stands even though that "
        "many methods were tested. A difference "
        "in **bold** has a t-interval that excludes 0; — marks an interval that needs two pairs (or two test "
        "subjects) that differ."
        + (f" With {most} pairs the smallest p the test can give is {2 / 2**most:.3g}." if most else "")
        + (f" {degenerate} pair(s) hold a degenerate run; they count, as that method's result on that fold and "
           "seed." if degenerate else ""),
        "",
        resolution_line(differences),
    ]
    return "\n".join(lines)


def _number(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.3f}"


def format_delta(difference: PairedDifference | None) -> str:
    """``+0.012 [-0.004, +0.028]``, in bold when the t-interval excludes 0; — without a difference."""
    if difference is None or math.isnan(difference.mean):
        return "—"
    text = f"{difference.mean:+.3f} {_interval(difference.low, difference.high)}"
    return f"**{text}**" if difference.excludes_zero else text


#: the paired macro-F1 resolution a benchmark aims for: the size of the effects distillation papers report
TARGET_HALF_WIDTH = 0.02


def resolution_line(differences: Sequence[PairedDifference], target: float = TARGET_HALF_WIDTH) -> str:
    """One line: the macro-F1 t-interval half-widths, and for how many methods they are within ``target``."""
    widths = {d.method: d.half_width for d in differences if d.metric == "macro_f1" and not math.isnan(d.half_width)}
    if not widths:
        return "Paired macro-F1 interval half-widths: none (each needs two pairs that differ)."
    within = sum(width <= target for width in widths.values())
    listed = ", ".join(f"{method} {width:.3f}" for method, width in widths.items())
    return (f"Paired macro-F1 interval half-widths: {listed}; {within} of {len(widths)} within ±{target:g} "
            f"(median {float(np.median(list(widths.values()))):.3f}).")
