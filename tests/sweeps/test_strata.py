"""A sweep-wide grid (scored fractions) is reported value by value: pairs, references and the line plot."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from test_results import _write_run

from sacd.report_cli import main as report_main
from sacd.sweeps.plots import strata_figure
from sacd.sweeps.results import collect_runs
from sacd.sweeps.spec import SweepSpecError, load_sweep
from sacd.sweeps.strata import numeric_axis, split_by_stratum, stratum_keys

KEY = "data.init_args.scored_fraction"
TEMPERATURE = "model.init_args.temperature"
#: how often each method is right at each scored fraction: distillation gains where labels are scarce
SKILL = {0.1: {"Vanilla": 0.45, "PseudoLabel": 0.55, "KD": 0.7}, 1.0: {"Vanilla": 0.8, "PseudoLabel": 0.8, "KD": 0.82}}


def _build(root: Path, references: str = "[PseudoLabel]") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "sweep.yaml").write_text(f"methods: [{{name: Vanilla}}, {{name: PseudoLabel}}, {{name: KD}}]\n"
                                     f"references: {references}\n")  # fmt: skip
    for fraction, skills in SKILL.items():
        for method, skill in skills.items():
            for fold in (0, 1):
                for seed in (0, 1):
                    _write_run(root, f"{method}-f{fraction}-{fold}-{seed}", method, seed, fold, skill=skill,
                               params={KEY: fraction})  # fmt: skip
        for fold in (0, 1):  # a method-only grid inside the sweep-wide one: a variant within each stratum
            _write_run(root, f"KDt2-f{fraction}-{fold}", "KD", 0, fold, skill=0.6, params={KEY: fraction, TEMPERATURE: 2.0})
    return root


def _macro_f1(root: Path, run_id: str) -> float:
    return json.loads((root / "runs" / run_id / "test.json").read_text())["macro_f1"]


def test_the_sweep_wide_grid_is_the_stratum_and_a_method_grid_stays_a_variant(tmp_path):
    runs, _ = collect_runs(_build(tmp_path / "sweep"))
    assert stratum_keys(runs) == [KEY]
    strata = split_by_stratum(runs, [KEY])
    assert list(strata) == [(0.1,), (1.0,)] and numeric_axis(list(strata)) == [0.1, 1.0]
    assert sorted({run.method for run in strata[(0.1,)]}) == ["KD", "KD (temperature=2.0)", "PseudoLabel", "Vanilla"]
    assert all(run.params[KEY] == 0.1 for run in strata[(0.1,)])
    single = [run for run in runs if run.params[KEY] == 1.0]  # one value of a key is no stratum
    assert stratum_keys(single) == []


def test_report_pairs_within_each_fraction_against_the_baseline_and_the_references(tmp_path, capsys):
    root = _build(tmp_path / "sweep")
    assert report_main([str(root)]) == 0
    printed = capsys.readouterr().out
    page = (root / "results.md").read_text()
    for heading in ("## By scored_fraction", "## scored_fraction = 0.1", "## scored_fraction = 1.0",
                    "### Paired differences vs Vanilla", "### Paired differences vs PseudoLabel"):  # fmt: skip
        assert heading in page, heading
    assert "## By scored_fraction" in printed
    # KD minus Vanilla at 0.1, by hand: the four (fold, seed) pairs of that fraction only
    differences = [_macro_f1(root, f"KD-f0.1-{f}-{s}") - _macro_f1(root, f"Vanilla-f0.1-{f}-{s}") for f in (0, 1) for s in (0, 1)]
    mean = float(np.mean(differences))
    low, high = stats.t.interval(0.95, 3, loc=mean, scale=stats.sem(differences))
    stratum = page.split("## scored_fraction = 0.1")[1].split("## scored_fraction = 1.0")[0]
    vs_vanilla = stratum.split("### Paired differences vs Vanilla")[1].split("###")[0]
    (kd,) = [line for line in vs_vanilla.splitlines() if line.startswith("| KD |")]
    cells = [cell.strip() for cell in kd.strip("|").split("|")]
    assert cells[1] == "4"  # pairs: never a run of another fraction
    assert cells[2].strip("*") == f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"
    overview = page.split("## By scored_fraction")[1].split("\n## ")[0]
    assert f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]" in overview
    assert "Paired differences from PseudoLabel at each value" in overview
    # the figures: the overview lines, and each fraction's own method figures
    assert (root / "plots" / "by_scored_fraction.png").is_file()
    for fraction in ("0.1", "1.0"):
        assert (root / "plots" / f"scored_fraction-{fraction}" / "metrics.png").is_file()


def test_a_reference_on_the_command_line_replaces_the_sweep_files(tmp_path):
    root = _build(tmp_path / "sweep")
    assert report_main([str(root), "--reference", "KD"]) == 0
    page = (root / "results.md").read_text()
    assert "### Paired differences vs KD" in page and "vs PseudoLabel" not in page


def test_the_line_figure_draws_each_methods_mean_at_each_fraction(tmp_path):
    runs, _ = collect_runs(_build(tmp_path / "sweep"))
    strata = split_by_stratum(runs, [KEY])
    figure = strata_figure(strata, [KEY])
    macro_f1, kappa = figure.axes[:2]
    lines = {line.get_label(): line for line in macro_f1.get_lines()}
    assert set(lines) == {"Vanilla", "PseudoLabel", "KD", "KD (temperature=2.0)"}
    for label, line in lines.items():
        expected = [np.mean([run.report.macro_f1 for run in members if run.method == label]) for members in strata.values()]
        np.testing.assert_allclose(line.get_ydata(), expected)
        np.testing.assert_allclose(line.get_xdata(), [0.1, 1.0])
    assert macro_f1.get_xscale() == "log" and len(macro_f1.collections) == 4  # one interval band per method
    assert re.search("scored_fraction", macro_f1.get_xlabel()) and kappa.get_title() == "Cohen's κ"


def test_references_in_a_sweep_file_must_be_its_methods(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("model: {}\n")
    spec = tmp_path / "sweep.yaml"
    spec.write_text("base: base.yaml\nmethods: [{name: Vanilla, class_path: distillers.Vanilla}]\nreferences: [KD]\n")
    with pytest.raises(SweepSpecError, match=r"references names \['KD'\]"):
        load_sweep(spec)
    spec.write_text("base: base.yaml\nmethods: [{name: Vanilla, class_path: distillers.Vanilla}]\nreferences: [Vanilla]\n")
    assert len(load_sweep(spec).runs) == 1
