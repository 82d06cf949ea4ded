"""Every figure speaks one visual language: stage order and colours, labelled axes, legends beside the
data, a one-stage prediction visible and named, intervals inside a metric's range."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex

from sacd.figures import HYPNOGRAM_ORDER, STAGE_COLORS, constant_note, draw_hypnogram, new_figure
from sacd.night_outputs import night_figure
from sacd.metrics import StagingReport
from sacd.sweeps.plots import mean_interval, metrics_figure, per_class_figure
from sacd.sweeps.results import RunResult

STAGES = ["W", "N1", "N2", "N3", "REM"]


def _bars_by_colour(axis) -> dict[str, float]:
    """Total drawn length (hours) of the thick stage bars of a hypnogram, per colour."""
    lengths: dict[str, float] = {}
    for collection in axis.collections:
        if isinstance(collection, LineCollection):
            for segment, colour in zip(collection.get_segments(), collection.get_colors()):
                key = to_hex(colour)
                lengths[key] = lengths.get(key, 0.0) + float(abs(segment[-1][0] - segment[0][0]))
    return lengths


def test_a_hypnogram_draws_each_stage_in_its_colour_in_the_clinical_row_order():
    axis = new_figure(6, 2).add_subplot()
    stages = np.array([0, 0, 1, 2, 2, 3, 4, 4, -1, 0])
    draw_hypnogram(axis, np.arange(len(stages)), stages, STAGES)
    assert [tick.get_text() for tick in axis.get_yticklabels()] == list(HYPNOGRAM_ORDER)
    assert axis.get_ylabel() == "stage"
    lengths = _bars_by_colour(axis)
    hours = 30 / 3600
    for name, epochs in {"W": 3, "N1": 1, "N2": 2, "N3": 1, "REM": 2}.items():
        assert lengths[STAGE_COLORS[name]] == pytest.approx(epochs * hours)


def test_a_one_stage_prediction_is_a_visible_bar_and_is_named():
    axis = new_figure(6, 2).add_subplot()
    draw_hypnogram(axis, np.arange(50), np.full(50, 2), STAGES)
    assert _bars_by_colour(axis) == {STAGE_COLORS["N2"]: pytest.approx(50 * 30 / 3600)}
    assert constant_note(np.full(50, 2), STAGES) == " (every epoch N2)"
    assert constant_note(np.r_[np.full(5, 2), -1], STAGES) == " (every epoch N2)"  # unscored epochs aside
    assert constant_note(np.arange(5), STAGES) == ""


def test_the_night_figure_uses_the_palette_keeps_its_legend_off_the_data_and_shows_agreement():
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 5, 120)
    probs = rng.dirichlet(np.ones(5), 120)
    stages = probs.argmax(axis=1)
    scores = {"acc": 0.5, "macro_f1": 0.4, "kappa": 0.3, "num_epochs": 120}
    figure = night_figure(stages, probs, np.ones(120, bool), STAGES, 30.0, "night", reference, scores)
    figure.canvas.draw()
    *_, strip = figure.axes
    colours = [to_hex(patch.get_facecolor()[0]) for patch in strip.collections]
    assert colours == [STAGE_COLORS[name] for name in reversed(HYPNOGRAM_ORDER)]  # N3 at the bottom
    legend = strip.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == list(HYPNOGRAM_ORDER)
    assert legend.get_window_extent().x0 >= strip.get_window_extent().x1  # beside the strip, not on it
    assert "accuracy 0.500, macro-F1 0.400, kappa 0.300 (120 epochs)" in figure.axes[1].get_title(loc="left")
    assert all(axis.get_ylabel() for axis in figure.axes)


@pytest.mark.parametrize("values", [[0.0, 0.0, 0.1], [0.95, 1.0, 0.99], [0.4, 0.5, 0.45, 0.47]])
def test_intervals_stay_inside_the_metric_range_and_contain_the_mean(values):
    mean, lower, upper = mean_interval(values, 0.0, 1.0)
    assert 0.0 <= lower <= mean <= upper <= 1.0
    assert mean == pytest.approx(np.mean(values))
    from scipy import stats

    half = stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values))
    assert lower == pytest.approx(max(0.0, np.mean(values) - half))
    assert mean_interval([0.3], 0.0, 1.0) == (0.3, 0.3, 0.3)


def _run(method: str, seed: int, kappa: float, f1_n1: float) -> RunResult:
    per_class = {"W": 0.6, "N1": f1_n1, "N2": 0.5, "N3": 0.5, "REM": 0.1}
    report = StagingReport(STAGES, 0.5, 0.4, kappa, per_class, [[1] * 5 for _ in range(5)], 25)
    return RunResult(run_id=f"{method}-{seed}", method=method, class_path=f"distillers.{method}", seed=seed, fold=0,
                     params={}, report=report, run_dir=Path("."))


def test_sweep_bars_are_visible_at_zero_have_intervals_in_range_and_a_legend_beside_the_axes():
    groups = {"Vanilla": [_run("Vanilla", seed, 0.0, 0.0) for seed in range(3)],
              "KD": [_run("KD", seed, 0.1 * seed, 0.3 if seed == 2 else 0.0) for seed in range(3)]}  # std reaches below 0
    figure = per_class_figure(groups)
    figure.canvas.draw()
    (axis,) = figure.axes
    assert [tick.get_text() for tick in axis.get_xticklabels()] == list(HYPNOGRAM_ORDER)
    assert [to_hex(tick.get_color()) for tick in axis.get_xticklabels()] == [STAGE_COLORS[n] for n in HYPNOGRAM_ORDER]
    assert all(patch.get_linewidth() > 0 for patch in axis.patches)  # a bar of height 0 still shows its edge
    for line in axis.lines:  # the interval whiskers and caps stay in [0, 1]
        heights = np.asarray(line.get_ydata(), dtype=float)
        assert ((heights >= -1e-9) & (heights <= 1 + 1e-9)).all()
    legend = figure.legends[0]
    assert legend.get_window_extent().y1 <= axis.get_window_extent().y0  # below the axes, not over the bars
    metrics = metrics_figure(groups)
    assert metrics.axes[0].get_ylim()[0] <= 0.0
