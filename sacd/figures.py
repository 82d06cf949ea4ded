"""Matplotlib pieces shared by every figure the project writes (sweep plots, night reports)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sacd.atomic import staged

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: top-to-bottom order of a hypnogram's rows, as sleep reports draw them; every figure lists stages so
HYPNOGRAM_ORDER: tuple[str, ...] = ("W", "REM", "N1", "N2", "N3")
REM = "REM"
#: one colour per stage in every figure: wake amber, REM red (the hypnogram convention), NREM blues
#: darkening with depth; a class outside the five is drawn grey
STAGE_COLORS: dict[str, str] = {"W": "#f2b134", "REM": "#d1362f", "N1": "#8ec9e8", "N2": "#3a7fc1", "N3": "#1f2f6b"}
OTHER_COLOR = "#888888"
#: the grey of unscored epochs
UNSCORED_COLOR = "0.85"


def stage_color(name: str) -> str:
    """The colour a stage has in every figure."""
    return STAGE_COLORS.get(name, OTHER_COLOR)


def in_hypnogram_order(class_names: Sequence[str]) -> list[str]:
    """The class names in the order figures list them (W, REM, N1, N2, N3, then any other)."""
    return [*(name for name in HYPNOGRAM_ORDER if name in class_names),
            *(name for name in class_names if name not in HYPNOGRAM_ORDER)]  # fmt: skip


def new_figure(width: float, height: float) -> Figure:
    """A figure with its own Agg canvas (no pyplot state, safe in any thread or process)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: Path) -> Path:
    """Render to memory first, then write through a temporary file and a rename."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    figure.clear()
    with staged([path]) as (tmp,):
        tmp.write_bytes(buffer.getvalue())
    return path


def plot_rows(class_names: Sequence[str]) -> np.ndarray:
    """Row (0 = top) of each class index: W, REM, N1, N2, N3 first, any other class below."""
    order = in_hypnogram_order(class_names)
    return np.asarray([order.index(name) for name in class_names])


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the runs of True."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def draw_hypnogram(axis: Axes, epochs: np.ndarray, stages: np.ndarray, class_names: Sequence[str],
                   epoch_seconds: float = 30.0) -> None:  # fmt: skip
    """A step hypnogram over hours: a thin black step line, each stage's stretches as a thick bar in
    its colour (so even a night predicted as one stage shows as a bar), unscored epochs (-1) as grey
    gaps, and a y-axis label."""
    epochs = np.asarray(epochs)
    stages = np.asarray(stages)
    hours = np.r_[epochs, epochs[-1] + 1] * epoch_seconds / 3600.0
    rows = plot_rows(class_names)
    levels = np.where(stages >= 0, rows[np.clip(stages, 0, None)], np.nan).astype(float)
    axis.step(hours, np.r_[levels, levels[-1:]], where="post", color="black", linewidth=0.7, zorder=3)
    for index, name in enumerate(class_names):
        for start, stop in true_runs(stages == index):
            axis.hlines(rows[index], hours[start], hours[stop], color=stage_color(name),
                        linewidth=5 if name == REM else 3.5, zorder=2)  # fmt: skip
    for start, stop in true_runs(stages < 0):
        axis.axvspan(hours[start], hours[stop], color=UNSCORED_COLOR, linewidth=0)
    order = sorted(range(len(class_names)), key=lambda index: rows[index])
    axis.set_yticks(range(len(class_names)), [class_names[index] for index in order])
    axis.set_ylim(len(class_names) - 0.5, -0.5)
    axis.set_xlim(hours[0], hours[-1])
    axis.set_ylabel("stage")


def constant_note(stages: np.ndarray, class_names: Sequence[str]) -> str:
    """" (every epoch STAGE)" when a prediction is one stage throughout, else ""; said in the titles."""
    scored = np.asarray(stages)[np.asarray(stages) >= 0]
    if scored.size and (scored == scored[0]).all():
        return f" (every epoch {class_names[int(scored[0])]})"
    return ""
