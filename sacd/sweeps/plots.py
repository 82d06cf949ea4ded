"""PNG figures of a sweep's results: metric bars, per-class F1, confusion matrices, one night's hypnograms.

Drawn with matplotlib's object API on the Agg canvas (no pyplot: no global figure registry to leak
into, no display needed) and written atomically, so a crash never leaves a truncated PNG.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sacd.figures import constant_note, draw_hypnogram, in_hypnogram_order, new_figure, save_png, stage_color
from sacd.metrics import SCALAR_METRICS
from sacd.sweeps.paired import mean_interval, metric_bounds
from sacd.sweeps.predictions import PREDICTIONS_CSV, read_predictions
from sacd.sweeps.ranks import ALPHA, CD_FIGURE, METRIC_NAMES, Ranking, rank_methods
from sacd.sweeps.results import BASELINE, RunResult, group_by_method, stratum_figure_name, sweep_class_names
from sacd.sweeps.strata import (
    numeric_axis,
    short_name,
    split_by_stratum,
    stratum_keys,
    stratum_methods,
    stratum_slug,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PLOTS_DIR = "plots"
EPOCH_SECONDS = 30.0
_METRIC_TITLES = {"acc": "Accuracy", "macro_f1": "Macro-F1", "kappa": "Cohen's κ"}


def write_plots(sweep_dir: str | Path, runs: Sequence[RunResult], *, baseline: str = BASELINE) -> list[Path]:
    """Write metrics, per-class F1, confusion and hypnogram PNGs under ``SWEEP_DIR/plots``; return their paths.

    The hypnogram figure is left out when no run has a readable ``test_predictions.csv``, the critical
    difference diagram when fewer than two methods share a finished (fold, seed). A sweep-wide grid
    (:mod:`sacd.sweeps.strata`) gets ``plots/by_<key>.png``, macro-F1 and kappa against its values,
    and each value's figures in ``plots/<key>-<value>/``.
    """
    if not runs:
        return []
    out_dir = Path(sweep_dir) / PLOTS_DIR
    keys = stratum_keys(runs)
    if not keys:
        return _write_method_plots(out_dir, runs, baseline)
    strata = split_by_stratum(runs, keys)
    written = [save_png(strata_figure(strata, keys), out_dir / stratum_figure_name(keys))]
    for values, members in strata.items():
        written += _write_method_plots(out_dir / stratum_slug(keys, values), members, baseline)
    return written


def _write_method_plots(out_dir: Path, runs: Sequence[RunResult], baseline: str) -> list[Path]:
    groups = group_by_method(runs, baseline)
    builders = {
        "metrics.png": lambda: metrics_figure(groups),
        "per_class_f1.png": lambda: per_class_figure(groups),
        "confusion.png": lambda: confusion_figure(groups),
        "hypnograms.png": lambda: hypnogram_figure(groups, runs),
        CD_FIGURE: lambda: critical_difference_figure(rank_methods(runs)),
    }
    written = []
    for name, build in builders.items():
        figure = build()  # one figure in memory at a time
        if figure is not None:
            written.append(save_png(figure, out_dir / name))
    return written


def strata_figure(strata: dict[tuple, list[RunResult]], keys: Sequence[str]) -> Figure:
    """Macro-F1 and kappa against a sweep-wide grid's values: one line per method at its means, with its
    95 % t-interval over runs as a band; numeric values on a number line (logarithmic when they span a
    factor of 4 or more), others evenly spaced."""
    values = list(strata)
    numbers = numeric_axis(values)
    positions = numbers if numbers is not None else list(range(len(values)))
    methods = stratum_methods(strata)
    figure = new_figure(11.0, 4.6)
    for index, metric in enumerate(("macro_f1", "kappa")):
        axis = figure.add_subplot(1, 2, index + 1)
        for method, color in zip(methods, _colors(len(methods))):
            points = []
            for position, members in zip(positions, strata.values()):
                scores = [getattr(run.report, metric) for run in members if run.method == method]
                if scores:
                    points.append((position, *mean_interval(scores, *metric_bounds(metric))))
            if not points:
                continue
            x, mean, lower, upper = (np.array(column, dtype=np.float64) for column in zip(*points))
            axis.plot(x, mean, "o-", color=color, linewidth=1.5, markersize=4, label=method)
            axis.fill_between(x, lower, upper, color=color, alpha=0.15, linewidth=0)
        if numbers is not None and min(numbers) > 0 and max(numbers) / min(numbers) >= 4:
            axis.set_xscale("log")
        axis.set_xticks(positions, [", ".join(str(v) for v in value) for value in values])
        axis.minorticks_off()
        axis.set_xlabel(" × ".join(short_name(key) for key in keys))
        axis.set_ylabel(f"{_METRIC_TITLES[metric]}: mean over runs, 95 % interval")
        axis.set_title(_METRIC_TITLES[metric], fontsize=10)
        axis.grid(alpha=0.3)
    figure.axes[0].figure.legend(*figure.axes[0].get_legend_handles_labels(), fontsize=8, loc="outside lower center",
                                 ncols=min(len(methods), 6), frameon=False)  # fmt: skip
    counts = sorted({len(members) for members in strata.values()})
    figure.suptitle(f"Test metrics against {' × '.join(short_name(key) for key in keys)} "
                    f"({'/'.join(map(str, counts))} runs per value; bands: 95 % t-interval of the mean)")  # fmt: skip
    return figure


def _colors(count: int) -> list:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return [palette(index % 10) for index in range(count)]


def _grouped_bars(
    axis: Axes, groups: dict[str, list[RunResult]], keys: Sequence[str], labels: Sequence[str], *, values: bool
) -> None:
    """One cluster per metric key, one outlined bar per method (visible at 0) with its 95 % interval
    and a dot per run."""
    positions = np.arange(len(keys))
    width = 0.8 / len(groups)
    lowest = 0.0  # kappa can be negative: keep such bars in view
    highest = 1.05  # value labels above a score near 1 stay in view
    for index, ((method, group), color) in enumerate(zip(groups.items(), _colors(len(groups)))):
        per_run = [run.report.scalars() for run in group]
        scores = [[scalars.get(key, math.nan) for scalars in per_run] for key in keys]
        intervals = [mean_interval(column, *metric_bounds(key)) for column, key in zip(scores, keys)]
        means = np.array([mean for mean, _, _ in intervals])
        errors = np.array([[mean - lower, upper - mean] for mean, lower, upper in intervals]).T
        offset = (index - (len(groups) - 1) / 2) * width
        axis.bar(positions + offset, np.nan_to_num(means), width, yerr=np.nan_to_num(errors), capsize=3,
                        color=color, edgecolor="black", linewidth=0.8, label=f"{method} (n={len(group)})")  # fmt: skip
        for position, column in zip(positions + offset, scores):
            axis.plot(np.full(len(column), position), column, "o", color="black", markersize=2.5, zorder=4)
        lowest = min(lowest, *(value for column in scores for value in column if math.isfinite(value)),
                     *(lower for _, lower, _ in intervals if math.isfinite(lower)))  # fmt: skip
        if values:  # above the interval and the dots, where nothing is drawn over it
            for position, mean, column, (_, _, upper) in zip(positions + offset, means, scores, intervals):
                top = max([value for value in (upper, *column) if math.isfinite(value)], default=0.0) + 0.02
                axis.text(position, top, f"{mean:.3f}", ha="center", va="bottom", fontsize=7, rotation=90)
                highest = max(highest, top + 0.12)
    axis.axhline(0.0, color="black", linewidth=0.8)
    axis.set_xticks(positions, labels)
    axis.set_ylim(min(0.0, lowest - 0.05), max(1.05, highest))
    axis.grid(axis="y", alpha=0.3)
    axis.set_axisbelow(True)
    axis.figure.legend(fontsize=8, loc="outside lower center", ncols=min(len(groups), 5), frameon=False)


def metrics_figure(groups: dict[str, list[RunResult]]) -> Figure:
    """Accuracy, macro-F1 and kappa per method: mean bars, 95 % intervals, a dot per run, value labels."""
    figure = new_figure(max(6.0, 1.2 + 0.5 * len(groups) * len(SCALAR_METRICS)), 4.8)
    axis = figure.add_subplot()
    _grouped_bars(axis, groups, SCALAR_METRICS, [_METRIC_TITLES[key] for key in SCALAR_METRICS], values=True)
    axis.set_ylabel("score: mean over runs, 95 % interval, dots = runs")
    figure.suptitle("Test metrics per method")
    return figure


def per_class_figure(groups: dict[str, list[RunResult]]) -> Figure:
    """Per-stage F1 per method, stages in the figures' order and colour: where a method's gain or loss comes from."""
    names = in_hypnogram_order(sweep_class_names([run for group in groups.values() for run in group]))
    figure = new_figure(max(7.0, 1.2 + 0.35 * len(groups) * len(names)), 4.8)
    axis = figure.add_subplot()
    _grouped_bars(axis, groups, [f"f1_{name}" for name in names], names, values=False)
    for label, name in zip(axis.get_xticklabels(), names):
        label.set_color(stage_color(name))
        label.set_fontweight("bold")
    axis.set_ylabel("F1: mean over runs, 95 % interval, dots = runs")
    axis.set_xlabel("sleep stage")
    figure.suptitle("Per-stage F1 per method")
    return figure


def confusion_figure(groups: dict[str, list[RunResult]]) -> Figure:
    """Each method's confusion matrix summed over its runs, rows normalised to the true stage."""
    columns = min(3, len(groups))
    rows = math.ceil(len(groups) / columns)
    figure = new_figure(4.2 * columns + 0.8, 4.0 * rows + 0.4)
    image = None
    for index, (method, group) in enumerate(groups.items()):
        axis = figure.add_subplot(rows, columns, index + 1)
        names = group[0].report.class_names
        same = [run for run in group if run.report.class_names == names]
        counts = np.sum([np.asarray(run.report.confusion, dtype=np.float64) for run in same], axis=0)
        order = [names.index(name) for name in in_hypnogram_order(names)]  # the figures' stage order
        counts, names = counts[np.ix_(order, order)], [names[index] for index in order]
        totals = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        image = axis.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
        for (true, pred), share in np.ndenumerate(shares):
            axis.text(pred, true, f"{share * 100:.0f}%", ha="center", va="center", fontsize=8,
                      color="white" if share > 0.5 else "black")
        axis.set_xticks(range(len(names)), names)
        axis.set_yticks(range(len(names)), names)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        axis.set_title(f"{method}\n{len(same)} run(s) pooled, {int(counts.sum())} epochs", fontsize=9)
        for label, name in zip([*axis.get_xticklabels(), *axis.get_yticklabels()], names * 2):
            label.set_color(stage_color(name))
    if image is not None:
        figure.colorbar(image, ax=figure.axes, shrink=0.8, label="share of the true stage")
    figure.suptitle("Confusion matrices: each method's test epochs pooled over its runs (rows: true stage, normalised)")
    return figure


def critical_difference_figure(ranking: Ranking | None) -> Figure | None:
    """Demsar's critical-difference diagram: each method at its average rank (1 = best, on the left), the
    Nemenyi critical difference as a bar above the axis, and a thick line under each group of methods the
    test cannot tell apart."""
    if ranking is None:
        return None
    count = len(ranking.methods)
    cliques = ranking.cliques()
    half = (count + 1) // 2
    figure = new_figure(7.5, 1.6 + 0.32 * max(half, 2) + 0.2 * len(cliques))
    axis = figure.add_subplot()
    axis.set_xlim(0.5, count + 0.5)
    bottom = -(max(half, count - half) + 1.2 + 0.3 * len(cliques))
    axis.set_ylim(bottom, 1.6)
    axis.axis("off")
    axis.hlines(0, 1, count, color="black", linewidth=1)
    for tick in range(1, count + 1):
        axis.vlines(tick, 0, 0.12, color="black", linewidth=1)
        axis.text(tick, 0.2, str(tick), ha="center", va="bottom", fontsize=9)
    axis.hlines(1.2, 1, 1 + ranking.critical_difference, color="black", linewidth=2)
    axis.text(1 + ranking.critical_difference / 2, 1.3, f"CD = {ranking.critical_difference:.2f}", ha="center",
              va="bottom", fontsize=9)  # fmt: skip
    for index, (method, rank) in enumerate(zip(ranking.methods, ranking.average_ranks)):
        left = index < half
        depth = -(index + 1 if left else count - index) - 0.3 * len(cliques)
        end = 0.5 if left else count + 0.5
        axis.plot([rank, rank, end], [0, depth, depth], color="black", linewidth=0.8)
        axis.text(end + (0.05 if left else -0.05), depth, f"{method} ({rank:.2f})", ha="left" if left else "right",
                  va="bottom", fontsize=9)  # fmt: skip
    for level, (first, last) in enumerate(cliques):
        low, high = ranking.average_ranks[first], ranking.average_ranks[last]
        axis.hlines(-0.25 - 0.3 * level, low - 0.03, high + 0.03, color="black", linewidth=4)
    friedman = "" if math.isnan(ranking.friedman_p) else f", Friedman p = {ranking.friedman_p:.3g}"
    figure.suptitle(f"Average rank on {METRIC_NAMES.get(ranking.metric, ranking.metric)} over {ranking.blocks} "
                    f"(fold, seed) block(s){friedman}\nbars join methods the Nemenyi test cannot tell apart "
                    f"(α = {ALPHA})", fontsize=10)  # fmt: skip
    return figure


def _stages_in_range(table: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]], count: int) -> bool:
    """Every label and prediction is a class index (a bad row must not crash the figure)."""
    return all(((column >= 0) & (column < count)).all() for _, labels, preds in table.values()
               for column in (labels, preds))


def hypnogram_figure(groups: dict[str, list[RunResult]], runs: Sequence[RunResult]) -> Figure | None:
    """One test night: the true hypnogram on top, each method's prediction beneath (stages in their colours).

    The night is the subject with the most epochs in the first run that has predictions; each
    method shows its first run (by fold, seed) that predicted that subject.
    """
    cache: dict[Path, dict | None] = {}

    def predictions(run: RunResult) -> dict | None:
        if run.run_dir not in cache:
            path = run.run_dir / PREDICTIONS_CSV
            table = read_predictions(path)
            count = len(run.report.class_names)
            if table and not _stages_in_range(table, count):
                warnings.warn(f"skipping {path}: a label or prediction is not one of {count} classes", stacklevel=2)
                table = None
            cache[run.run_dir] = table
        return cache[run.run_dir]

    source = next((run for run in runs if predictions(run)), None)
    if source is None:
        return None
    by_subject = predictions(source)
    subject = max(sorted(by_subject), key=lambda key: len(by_subject[key][0]))
    epochs, labels, _ = by_subject[subject]
    names = source.report.class_names

    figure = new_figure(12.0, 1.6 * (len(groups) + 1) + 0.6)
    first = figure.add_subplot(len(groups) + 1, 1, 1)
    draw_hypnogram(first, epochs, labels, names)
    first.set_title(f"true stages (from {source.run_id})", fontsize=9, loc="left")
    for index, (method, group) in enumerate(groups.items()):
        axis = figure.add_subplot(len(groups) + 1, 1, index + 2, sharex=first)
        run = next(
            (run for run in sorted(group, key=lambda r: (r.fold, r.seed)) if subject in (predictions(run) or {})),
            None,
        )
        if run is None:
            axis.text(0.5, 0.5, f"no predictions for subject {subject}", ha="center", va="center",
                      transform=axis.transAxes)
            axis.set_yticks([])
            axis.set_title(method, fontsize=9, loc="left")
            continue
        run_epochs, run_labels, run_preds = predictions(run)[subject]
        draw_hypnogram(axis, run_epochs, run_preds, run.report.class_names)
        agreement = float(np.mean(run_preds == run_labels)) * 100
        axis.set_title(f"{method}: {run.run_id} (fold {run.fold}, seed {run.seed}), {agreement:.1f}% epochs correct"
                       f"{constant_note(run_preds, run.report.class_names)}", fontsize=9, loc="left")
    figure.axes[-1].set_xlabel("time (hours)")
    figure.suptitle(f"Hypnograms of test subject {subject} ({len(epochs)} epochs of {EPOCH_SECONDS:.0f} s)")
    return figure
