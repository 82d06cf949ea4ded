"""A sweep's finished runs as one tidy CSV and a Markdown report: mean ± std and paired differences per method.

The sweep runner writes ``SWEEP_DIR/runs/<run_id>/{run.json,test.json}`` while it works, so any run
may be unfinished, failed or half-written when this is read: such runs are listed as skipped,
never fatal.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sacd.atomic import staged
from sacd.metrics import SCALAR_METRICS, StagingReport, pool, summarize
from sacd.stages import STAGES
from sacd.sweeps.levels import fold_levels, levels_markdown
from sacd.sweeps.paired import (
    PairedDifference,
    compare_with_baseline,
    format_delta,
    holm_adjusted,
    mean_interval,
    metric_bounds,
    paired_markdown,
)
from sacd.sweeps.ranks import CD_FIGURE, rank_methods, ranking_markdown
from sacd.sweeps.strata import short_name, split_by_stratum, stratum_keys, stratum_methods, stratum_title

BASELINE = "Vanilla"
RUNS_DIR = "runs"
RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"
#: the run ids a sweep file expands to, one per line, written by ``sacd sweep`` when it starts
PLANNED_RUNS = "planned_runs.txt"
_DASH = "—"
_SHORT_NAMES = {"acc": "acc", "macro_f1": "MF1", "kappa": "κ"}
_RUN_KEYS = ("run_id", "method", "class_path", "seed", "fold", "status")


class NoFinishedRunsError(ValueError):
    """Raised when a sweep has nothing to report yet (so callers can tell it from other errors)."""


@dataclass
class RunResult:
    """One finished run: who it was (method variant, seed, fold) and its test-set report."""

    run_id: str
    method: str  # the grouping label: the method name plus its params, see method_label()
    class_path: str
    seed: int
    fold: int
    params: dict[str, Any]
    report: StagingReport
    run_dir: Path
    name: str = ""  # the sweep file's name of the method, without params (default: ``method`` up to " (")

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.method.split(" (")[0]


def method_label(method: str, params: dict[str, Any]) -> str:
    """``KD (temperature=2.0)``: variants of one method with different grid values are distinct rows."""
    if not params:
        return method
    keys = sorted(params)
    short = [key.rsplit(".", 1)[-1] for key in keys]
    # two params with the same last component would read alike: keep those keys whole
    names = [name if short.count(name) == 1 else key for name, key in zip(short, keys)]
    return f"{method} ({', '.join(f'{name}={params[key]}' for name, key in zip(names, keys))})"


def _read_json(path: Path, skipped: list[str], run_id: str) -> Any | None:
    """Parsed JSON, or None with a warning naming the file (it may be half-written by a live sweep)."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        warnings.warn(f"skipping {path}: not readable JSON ({error})", stacklevel=3)
        skipped.append(f"{run_id}: {path.name} is not readable JSON ({error})")
        return None


def _describe(info: dict[str, Any]) -> str:
    return f"{info.get('run_id')} ({info.get('method')}, fold {info.get('fold')}, seed {info.get('seed')})"


def _load_run(run_dir: Path, skipped: list[str]) -> RunResult | None:
    """The run in ``run_dir`` if it finished with a readable report; otherwise note why in ``skipped``."""
    run_json = run_dir / "run.json"
    if not run_json.is_file():
        skipped.append(f"{run_dir.name}: no run.json yet")
        return None
    info = _read_json(run_json, skipped, run_dir.name)
    if info is None:
        return None
    missing = [key for key in _RUN_KEYS if key not in info] if isinstance(info, dict) else list(_RUN_KEYS)
    if missing:
        skipped.append(f"{run_dir.name}: run.json lacks {', '.join(missing)}")
        return None
    if info["status"] != "finished":
        skipped.append(f"{_describe(info)}: status {info['status']}")
        return None
    test_json = run_dir / "test.json"
    if not test_json.is_file():
        skipped.append(f"{_describe(info)}: finished but has no test.json")
        return None
    data = _read_json(test_json, skipped, _describe(info))
    if data is None:
        return None
    try:
        report = StagingReport.from_dict(data)
    except (TypeError, AttributeError) as error:
        warnings.warn(f"skipping {test_json}: not a staging report ({error})", stacklevel=2)
        skipped.append(f"{_describe(info)}: test.json is not a staging report")
        return None
    try:
        params = dict(info.get("params") or {})
        seed, fold = int(info["seed"]), int(info["fold"])
    except (TypeError, ValueError):
        skipped.append(f"{_describe(info)}: run.json has a malformed seed, fold or params")
        return None
    return RunResult(
        run_id=str(info["run_id"]),
        method=method_label(str(info["method"]), params),
        class_path=str(info["class_path"]),
        seed=seed,
        fold=fold,
        params=params,
        report=report,
        run_dir=run_dir,
        name=str(info["method"]),
    )


def collect_runs(sweep_dir: str | Path) -> tuple[list[RunResult], list[str]]:
    """Finished runs sorted by method (in the sweep file's order), fold and seed, and one line per
    skipped run saying why: unfinished, failed or unreadable, or planned and not started."""
    runs_dir = Path(sweep_dir) / RUNS_DIR
    runs: list[RunResult] = []
    skipped: list[str] = []
    folders = sorted(path for path in runs_dir.iterdir() if path.is_dir()) if runs_dir.is_dir() else []
    for run_dir in folders:
        run = _load_run(run_dir, skipped)
        if run is not None:
            runs.append(run)
    skipped += [f"{run_id}: not started" for run_id in _planned(Path(sweep_dir)) if not (runs_dir / run_id).is_dir()]
    order = _method_order(Path(sweep_dir))
    runs.sort(key=lambda run: (order.get(run.method.split(" (")[0], len(order)), run.method, run.fold, run.seed))
    return runs, skipped


def _planned(sweep_dir: Path) -> list[str]:
    """The run ids ``sacd sweep`` planned for this folder ([] for a folder it did not write)."""
    try:
        return [line.strip() for line in (sweep_dir / PLANNED_RUNS).read_text().splitlines() if line.strip()]
    except OSError:
        return []


def _method_order(sweep_dir: Path) -> dict[str, int]:
    """Method names in the order the sweep file lists them ({} when it cannot be read)."""
    try:
        spec = yaml.safe_load((sweep_dir / "sweep.yaml").read_text()) or {}
        names = [str(m.get("name") or str(m["class_path"]).rsplit(".", 1)[-1]) for m in spec.get("methods", [])]
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError):
        return {}
    return {name: rank for rank, name in enumerate(names)}


def sweep_references(sweep_dir: Path) -> list[str]:
    """The sweep file's ``references``: methods to pair every method with beside the baseline ([] if none)."""
    try:
        spec = yaml.safe_load((Path(sweep_dir) / "sweep.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    found = spec.get("references") if isinstance(spec, dict) else None
    return [str(name) for name in found] if isinstance(found, list) else []


def group_by_method(runs: Sequence[RunResult], baseline: str = BASELINE) -> dict[str, list[RunResult]]:
    """Runs per method label in first-seen order, the baseline first; tables and plots share it."""
    groups: dict[str, list[RunResult]] = {}
    if any(run.method == baseline for run in runs):
        groups[baseline] = []
    for run in runs:
        groups.setdefault(run.method, []).append(run)
    return groups


def _param_columns(runs: Sequence[RunResult]) -> list[str]:
    columns: list[str] = []
    for run in runs:
        columns += [key for key in run.params if key not in columns]
    return columns


def tidy_rows(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """One flat row per run (params as their own columns): what a dataframe or spreadsheet wants."""
    columns = _param_columns(runs)
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run_id": run.run_id, "method": run.method, "seed": run.seed, "fold": run.fold}
        row.update({key: run.params.get(key, "") for key in columns})
        row["num_epochs"] = run.report.num_epochs
        row.update(run.report.scalars())
        rows.append(row)
    return rows


def method_summary(runs: Sequence[RunResult], baseline: str = BASELINE) -> list[dict[str, Any]]:
    """Per method, the baseline first: n and ``<metric>_mean``/``<metric>_std`` (sample std) over its runs."""
    summary = []
    for method, group in group_by_method(runs, baseline).items():
        row: dict[str, Any] = {"method": method, "n": len(group)}
        for key, (mean, std) in summarize([run.report for run in group]).items():
            row[f"{key}_mean"] = mean
            row[f"{key}_std"] = std
        summary.append(row)
    return summary


def _mean_std(row: dict[str, Any], key: str) -> str:
    if f"{key}_mean" not in row:
        return _DASH
    if row["n"] < 2:  # a sample std of one run is undefined: show the value alone
        return f"{row[f'{key}_mean']:.3f}"
    return f"{row[f'{key}_mean']:.3f} ± {row[f'{key}_std']:.3f}"


#: the paired differences the per-method table shows, one column each
_TABLE_DELTAS = ("macro_f1", "kappa")


def markdown_table(summary: Sequence[dict[str, Any]], class_names: Sequence[str], *, baseline: str = BASELINE,
                   differences: Sequence[PairedDifference] = ()) -> str:  # fmt: skip
    """A GitHub Markdown table, one row per method: mean ± std of every metric, then the paired differences
    from ``baseline`` (:func:`sacd.sweeps.paired.compare_with_baseline`) with their 95 % t-intervals."""
    paired = {(difference.method, difference.metric): difference for difference in differences}
    delta_headers = [f"Δ {_SHORT_NAMES[key]} vs {baseline} [95 % CI]" for key in _TABLE_DELTAS]
    header = ["Method", "n", "Accuracy", "Macro-F1", "κ", *(f"F1 {name}" for name in class_names), *delta_headers]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", "--:"] + ["---:"] * (len(header) - 2)) + "|"]
    for row in summary:
        cells = [row["method"], str(row["n"])]
        cells += [_mean_std(row, key) for key in SCALAR_METRICS]
        cells += [_mean_std(row, f"f1_{name}") for name in class_names]
        cells += [format_delta(paired.get((row["method"], key))) for key in _TABLE_DELTAS]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Values are mean ± std over a method's runs; std is the sample standard deviation (n − 1) across "
        f"seeds and folds, n the number of finished runs (a single run shows its value alone). "
        f"Δ is the mean paired difference from the {baseline} run of the same fold and seed, with its 95 % "
        "t-interval; **bold** when the interval excludes 0. The paired differences below give the pairs, "
        "p-values and a second interval.",
    ]
    return "\n".join(lines)


def pooled_markdown(groups: dict[str, list[RunResult]], class_names: Sequence[str]) -> str:
    """A Markdown section: per method, the metrics of all its runs' test epochs pooled (:func:`sacd.metrics.pool`)."""
    header = ["Method", "runs", "epochs", "Accuracy", "Macro-F1", "κ", *(f"F1 {name}" for name in class_names)]
    lines = ["## Pooled test epochs", "", "| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["--:"] * (len(header) - 1)) + "|"]  # fmt: skip
    for method, group in groups.items():
        names = group[0].report.class_names
        same = [run.report for run in group if run.report.class_names == names]
        pooled = pool(same)
        cells = [method, str(len(same)), str(pooled.num_epochs), *(f"{getattr(pooled, key):.3f}" for key in SCALAR_METRICS)]
        cells += [f"{pooled.per_class_f1[name]:.3f}" if name in pooled.per_class_f1 else _DASH for name in class_names]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Each method's test epochs of all its runs scored together: every epoch weighs alike, where the "
              "mean ± std table weighs every run alike. `plots/confusion.png` shows the same epochs' confusion matrices, "
              "normalised to the true stage."]  # fmt: skip
    return "\n".join(lines)


def degenerate_runs(runs: Sequence[RunResult]) -> list[tuple[RunResult, str]]:
    """The runs whose test predictions show no learning, each with the reason."""
    return [(run, run.report.degenerate) for run in runs if run.report.degenerate]


def degenerate_warning(degenerate: Sequence[tuple[RunResult, str]], total: int) -> str:
    """One line above the table: how many runs learned nothing, and what that means for the table."""
    return (f"**Warning: {len(degenerate)} of {total} runs are degenerate** (one stage predicted for every epoch, or a "
            "kappa within noise of 0; listed below). They are shown in the table, but a difference between methods "
            "that rests on them says that a method failed to learn, not how well it learns. The paired statistics and ranks "
            "keep them: a method's failures are part of its result.")  # fmt: skip


def sweep_class_names(runs: Sequence[RunResult]) -> list[str]:
    """Class names across the runs' reports, in first-seen order (the stages when there are no runs)."""
    names: list[str] = []
    for run in runs:
        names += [name for name in run.report.class_names if name not in names]
    return names or list(STAGES)


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def results_sections(
    sweep_dir: Path,
    runs: Sequence[RunResult],
    skipped: Sequence[str],
    *,
    baseline: str = BASELINE,
    references: Sequence[str] = (),
) -> dict[str, str]:
    """Every section of results.md by name, in page order, each computed once (``sacd report`` prints some):
    ``title``, ``warning``, ``table``, ``levels``, ``paired``, ``paired vs <reference>`` for each of
    ``references`` (methods paired with, beside ``baseline``), ``pooled``, ``ranks``, ``degenerate``,
    ``skipped``; a section with nothing to say is absent.

    A sweep-wide grid (:mod:`sacd.sweeps.strata`) gives ``by_stratum``, an overview across its values,
    and one ``stratum <title>`` section per value holding that value's table, pairs and ranks instead.
    """
    if not runs:
        raise NoFinishedRunsError(
            f"none of the runs in {sweep_dir / RUNS_DIR} has finished yet ({len(skipped)} skipped); "
            "wait for the sweep to finish runs, then report again"
        )
    sections = {"title": f"# Sweep results: {sweep_dir.name}\n\n{len(runs)} finished run(s) on the test subjects; "
                         f"{len(skipped)} skipped."}  # fmt: skip
    degenerate = degenerate_runs(runs)
    if degenerate:
        sections["warning"] = degenerate_warning(degenerate, len(runs))
    against = [baseline, *(name for name in references if name != baseline)]
    keys = stratum_keys(runs)
    if keys:
        strata = split_by_stratum(runs, keys)
        paired = {values: {name: compare_with_baseline(members, name) for name in against}
                  for values, members in strata.items()}  # fmt: skip
        sections["by_stratum"] = stratum_overview(strata, keys, paired)
        for values, members in strata.items():
            title = stratum_title(keys, values)
            parts = comparison_sections(members, baseline=baseline, paired=paired[values])
            sections[f"stratum {title}"] = "\n\n".join([f"## {title}", *(_demoted(text) for text in parts.values())])
    else:
        sections.update(comparison_sections(runs, baseline=baseline,
                                            paired={name: compare_with_baseline(runs, name) for name in against}))
    if degenerate:
        sections["degenerate"] = "\n".join([f"## Degenerate runs ({len(degenerate)})", "",
                                            *(f"- {run.run_id}: {why}" for run, why in degenerate)])  # fmt: skip
    if skipped:
        sections["skipped"] = "\n".join([f"## Skipped runs ({len(skipped)})", "", *(f"- {line}" for line in skipped)])
    return sections


def comparison_sections(
    runs: Sequence[RunResult], *, baseline: str, paired: dict[str, list[PairedDifference]]
) -> dict[str, str]:
    """The sections that compare one set of methods run alike: ``table``, ``levels``, ``paired`` (vs
    ``baseline``), ``paired vs <name>`` (each other key of ``paired``), ``pooled`` and ``ranks``."""
    sections: dict[str, str] = {}
    names = sweep_class_names(runs)
    differences = paired.get(baseline, [])
    sections["table"] = markdown_table(method_summary(runs, baseline), names, baseline=baseline, differences=differences)
    if any(run.method == baseline for run in runs):
        sections["levels"] = levels_markdown(fold_levels(runs, baseline), baseline)
    for name, found in paired.items():
        if found:
            sections["paired" if name == baseline else f"paired vs {name}"] = paired_markdown(found, name)
    sections["pooled"] = pooled_markdown(group_by_method(runs, baseline), names)
    ranking = rank_methods(runs)
    if ranking is not None:
        sections["ranks"] = ranking_markdown(ranking, CD_FIGURE)
    return sections


def _demoted(text: str) -> str:
    """A section's headings one level down, to sit under a stratum's heading."""
    return "\n".join(f"#{line}" if line.startswith("#") else line for line in text.splitlines())


def stratum_overview(
    strata: dict[tuple, list[RunResult]], keys: Sequence[str], paired: dict[tuple, dict[str, list[PairedDifference]]]
) -> str:
    """A Markdown section across a sweep-wide grid: each method's macro-F1 and kappa at every value (mean
    with its 95 % t-interval over runs), then its paired macro-F1 and kappa differences from each reference
    at every value, with Holm-adjusted Wilcoxon p-values (one family per value and reference)."""
    titles = [stratum_title(keys, values) for values in strata]
    methods = stratum_methods(strata)
    name = " × ".join(short_name(key) for key in keys)
    lines = [f"## By {name}", "",
             f"Each value of the sweep-wide grid is its own comparison: methods are paired, ranked and plotted within "
             f"a value (sections below), never across values. `plots/{stratum_figure_name(keys)}` draws these lines.",
             "", "| Method | " + " | ".join(f"{title}: macro-F1 | κ" for title in titles) + " |",
             "|---|" + "---|---|" * len(titles)]  # fmt: skip
    for method in methods:
        cells = [method]
        for members in strata.values():
            own = [run for run in members if run.method == method]
            for metric in ("macro_f1", "kappa"):
                cells.append(_mean_interval([getattr(run.report, metric) for run in own], metric) if own else _DASH)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Mean over a method's runs (folds × seeds) with the 95 % t-interval of the mean."]
    references = list(next(iter(paired.values()), {}))
    for reference in references:
        lines += ["", f"Paired differences from {reference} at each value (same fold and seed): "
                  "Δ [95 % t-interval], Holm-adjusted Wilcoxon p.", "",
                  "| Method | " + " | ".join(f"{title}: Δ macro-F1 | p | Δ κ" for title in titles) + " |",
                  "|---|" + "---|--:|---|" * len(titles)]  # fmt: skip
        tables = {}
        for values, by_reference in paired.items():
            found = by_reference.get(reference, [])
            f1 = {d.method: d for d in found if d.metric == "macro_f1"}
            holm = dict(zip(f1, holm_adjusted([d.p for d in f1.values()])))
            tables[values] = (f1, {d.method: d for d in found if d.metric == "kappa"}, holm)
        for method in methods:
            if method == reference:
                continue
            cells = [method]
            for values in strata:
                f1, kappa, holm = tables[values]
                cells += [format_delta(f1.get(method)), f"{holm[method]:.3g}" if method in holm else _DASH,
                          format_delta(kappa.get(method))]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stratum_figure_name(keys: Sequence[str]) -> str:
    """The overview figure's file name under plots/: ``by_scored_fraction.png``."""
    return "by_" + "_".join(short_name(key) for key in keys) + ".png"


def _mean_interval(values: Sequence[float], metric: str) -> str:
    """``0.705 [0.654, 0.755]``: the mean and its 95 % t-interval, kept inside the metric's range."""
    mean, low, high = mean_interval(values, *metric_bounds(metric))
    return f"{mean:.3f}" if low == high else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def results_markdown(sections: dict[str, str]) -> str:
    """The whole results.md from :func:`results_sections`."""
    return "\n\n".join(sections.values()) + "\n"


def write_results(
    sweep_dir: str | Path,
    *,
    baseline: str = BASELINE,
    runs: Sequence[RunResult] | None = None,
    skipped: Sequence[str] | None = None,
    sections: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Write ``results.csv`` and ``results.md`` into ``sweep_dir`` together (atomically); return their paths.

    Pass ``runs`` and ``skipped`` from :func:`collect_runs` to avoid reading the sweep twice, and
    ``sections`` from :func:`results_sections` to avoid computing the page twice.
    """
    sweep_dir = Path(sweep_dir)
    if runs is None:
        runs, skipped = collect_runs(sweep_dir)
    skipped = list(skipped or [])
    if sections is None:
        sections = results_sections(sweep_dir, runs, skipped, baseline=baseline)
    paths = {"csv": sweep_dir / RESULTS_CSV, "markdown": sweep_dir / RESULTS_MD}
    with staged(paths.values()) as (csv_tmp, md_tmp):
        csv_tmp.write_text(_csv_text(tidy_rows(runs)))
        md_tmp.write_text(results_markdown(sections))
    return paths
