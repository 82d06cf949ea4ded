"""`sacd report` on hand-made sweep folders: CSV, Markdown table, skipped runs, plots, CLI exit codes."""

from __future__ import annotations

import csv
import itertools
import json
import random
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from sacd.metrics import StagingReport
from sacd.report_cli import main as report_main
from sacd.sweeps.plots import write_plots
from sacd.sweeps.levels import fold_levels, levels_markdown
from sacd.sweeps.paired import compare_with_baseline
from sacd.sweeps.results import collect_runs, markdown_table, method_label, method_summary, write_results

NAMES = ["W", "N1", "N2", "N3", "REM"]
SCALARS = ["acc", "macro_f1", "kappa"]
METRICS = SCALARS + [f"f1_{name}" for name in NAMES]
TEMPERATURE_KEY = "model.init_args.temperature"
VARIANT = "KD (temperature=2.0)"
#: test subjects of each fold and their number of epochs (subject 1 is the longest night)
FOLD_SUBJECTS = {0: {1: 80, 2: 60}, 1: {3: 70, 4: 50}}
#: one sleep cycle, repeated to fill a night: every stage occurs in every night
CYCLE = [0] * 6 + [1] * 3 + [2] * 10 + [3] * 8 + [2] * 4 + [4] * 6


def report_from_confusion(confusion: list[list[int]]) -> StagingReport:
    """The metrics of a confusion matrix, computed by hand (rows true, columns predicted)."""
    total = sum(map(sum, confusion))
    k = len(confusion)
    rows = [sum(confusion[i]) for i in range(k)]
    cols = [sum(confusion[r][i] for r in range(k)) for i in range(k)]
    tp = [confusion[i][i] for i in range(k)]
    f1 = [2 * tp[i] / (rows[i] + cols[i]) if rows[i] + cols[i] else 0.0 for i in range(k)]
    observed = sum(tp) / total
    expected = sum(r * c for r, c in zip(rows, cols)) / total**2
    return StagingReport(
        class_names=list(NAMES),
        acc=observed,
        macro_f1=sum(f1) / k,
        kappa=(observed - expected) / (1 - expected),
        per_class_f1=dict(zip(NAMES, f1)),
        confusion=confusion,
        num_epochs=total,
    )


def _predictions(fold: int, skill: float, rng: random.Random) -> list[tuple[int, int, int, int]]:
    """(subject, epoch, label, pred) rows: true cycles per subject, right with probability ``skill``."""
    rows = []
    for subject, length in FOLD_SUBJECTS[fold].items():
        for epoch in range(length):
            label = CYCLE[epoch % len(CYCLE)]
            pred = label if rng.random() < skill else rng.choice([s for s in range(5) if s != label])
            rows.append((subject, epoch, label, pred))
    return rows


def _write_run(root: Path, run_id: str, method: str, seed: int, fold: int, *, status: str = "finished",
               params: dict[str, Any] | None = None, skill: float = 0.7, predictions: bool = True) -> Path:
    run_dir = root / "runs" / run_id
    run_dir.mkdir(parents=True)
    info = {"run_id": run_id, "method": method, "class_path": f"distillers.{method}", "seed": seed, "fold": fold,
            "params": params or {}, "status": status}
    (run_dir / "run.json").write_text(json.dumps(info))
    (run_dir / "config.yaml").write_text("model: {}\n")
    if status != "finished":
        return run_dir
    rows = _predictions(fold, skill, random.Random(f"{run_id}"))
    confusion = [[0] * 5 for _ in range(5)]
    for _, _, label, pred in rows:
        confusion[label][pred] += 1
    (run_dir / "test.json").write_text(json.dumps(report_from_confusion(confusion).to_dict()))
    if predictions:
        lines = ["subject,epoch,label,pred," + ",".join(f"p_{name}" for name in NAMES)]
        for subject, epoch, label, pred in rows:
            probs = ",".join("0.6" if stage == pred else "0.1" for stage in range(5))
            lines.append(f"{subject},{epoch},{label},{pred},{probs}")
        (run_dir / "test_predictions.csv").write_text("\n".join(lines) + "\n")
    return run_dir


def build_sweep(root: Path) -> Path:
    """Vanilla and KD x 2 seeds x 2 folds, a KD variant, a failed, a running and two corrupt runs."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sweep.yaml").write_text("methods: []\n")
    for method, skill in (("Vanilla", 0.65), ("KD", 0.8)):
        for fold in (0, 1):
            for seed in (0, 1):
                has_predictions = not (method == "KD" and fold == 0 and seed == 0)
                _write_run(root, f"{method.lower()}-f{fold}-s{seed}", method, seed, fold, skill=skill,
                           predictions=has_predictions)
    for fold in (0, 1):
        _write_run(root, f"kd-t2-f{fold}-s0", "KD", 0, fold, skill=0.75, params={TEMPERATURE_KEY: 2.0})
    _write_run(root, "sacd-f0-s0", "SACD", 0, 0, status="failed")
    _write_run(root, "sacd-f0-s1", "SACD", 1, 0, status="running")
    corrupt = _write_run(root, "sacd-f1-s0", "SACD", 0, 1)
    (corrupt / "test.json").write_text('{"class_names": ["W", "N1"')  # half-written
    half = root / "runs" / "zz-half"
    half.mkdir()
    (half / "run.json").write_text('{"run_id": "zz')
    return root


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sweep(tmp_path_factory.mktemp("sweep"))


@pytest.fixture(scope="module")
def written(sweep: Path) -> dict[str, Path]:
    with pytest.warns(UserWarning):  # the two corrupt files; their wording is checked below
        return write_results(sweep)


def finished_run_files(sweep: Path) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(method label, run.json, test.json) of every finished run, read straight from the files, labelled by hand."""
    found = []
    for run_dir in sorted((sweep / "runs").iterdir()):
        try:
            info = json.loads((run_dir / "run.json").read_text())
            data = json.loads((run_dir / "test.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if info["status"] == "finished":
            found.append((VARIANT if info["params"] else info["method"], info, data))
    return found


def expected_groups(sweep: Path) -> dict[str, list[dict[str, float]]]:
    """Per-run scalars of the finished runs, grouped by method label."""
    groups: dict[str, list[dict[str, float]]] = {}
    for label, _, data in finished_run_files(sweep):
        values = {key: data[key] for key in SCALARS}
        values.update({f"f1_{name}": data["per_class_f1"][name] for name in NAMES})
        groups.setdefault(label, []).append(values)
    return groups


def parse_table(markdown: str) -> dict[str, dict[str, str]]:
    """The first Markdown table of ``markdown`` (the per-method table), by method."""
    lines = list(itertools.takewhile(lambda line: line.startswith("|"),
                                     itertools.dropwhile(lambda line: not line.startswith("|"), markdown.splitlines())))
    lines = [line for line in lines if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return {
        cells[0]: dict(zip(header, cells))
        for cells in ([cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:])
    }


def mean_std(cell: str) -> tuple[float, float]:
    mean, std = cell.split(" ± ")
    return float(mean), float(std)


def test_method_label_names_each_variant_by_its_short_param_names():
    assert method_label("KD", {}) == "KD"
    assert method_label("KD", {TEMPERATURE_KEY: 2.0}) == VARIANT
    assert method_label("KD", {"model.init_args.alpha": 0.5, TEMPERATURE_KEY: 4}) == "KD (alpha=0.5, temperature=4)"


def test_collect_runs_keeps_finished_runs_and_says_why_others_are_skipped(sweep: Path):
    with pytest.warns(UserWarning) as caught:
        runs, skipped = collect_runs(sweep)
    messages = " ".join(str(w.message) for w in caught)
    assert str(sweep / "runs" / "sacd-f1-s0" / "test.json") in messages
    assert str(sweep / "runs" / "zz-half" / "run.json") in messages
    assert len(runs) == 10
    assert [(r.method, r.fold, r.seed) for r in runs] == sorted((r.method, r.fold, r.seed) for r in runs)
    assert {r.method for r in runs} == {"Vanilla", "KD", VARIANT}
    assert len(skipped) == 4
    for run_id, why in (("sacd-f0-s0", "failed"), ("sacd-f0-s1", "running"), ("sacd-f1-s0", "test.json"),
                        ("zz-half", "run.json")):
        assert any(line.startswith(run_id) and why in line for line in skipped), (run_id, skipped)


def test_results_csv_rows_equal_each_runs_files(sweep: Path, written: dict[str, Path]):
    with written["csv"].open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10
    for row in rows:
        run_dir = sweep / "runs" / row["run_id"]
        info = json.loads((run_dir / "run.json").read_text())
        data = json.loads((run_dir / "test.json").read_text())
        assert (int(row["seed"]), int(row["fold"])) == (info["seed"], info["fold"])
        assert row["method"] == (VARIANT if info["params"] else info["method"])
        assert row[TEMPERATURE_KEY] == ("2.0" if info["params"] else "")
        assert int(row["num_epochs"]) == data["num_epochs"] == sum(FOLD_SUBJECTS[info["fold"]].values())
        for key in SCALARS:
            assert float(row[key]) == pytest.approx(data[key])
        for name in NAMES:
            assert float(row[f"f1_{name}"]) == pytest.approx(data["per_class_f1"][name])


def _paired_by_hand(sweep: Path, method: str, key: str) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of ``method`` minus Vanilla over the (fold, seed) pairs, from the run files."""
    from scipy import stats

    values: dict[str, dict[tuple[int, int], float]] = {}
    for label, info, data in finished_run_files(sweep):
        values.setdefault(label, {})[(info["fold"], info["seed"])] = data[key]
    differences = [value - values["Vanilla"][pair] for pair, value in values[method].items()]
    mean = statistics.mean(differences)
    low, high = stats.t.interval(0.95, len(differences) - 1, loc=mean,
                                 scale=statistics.stdev(differences) / len(differences) ** 0.5)  # fmt: skip
    return mean, low, high


def test_markdown_table_means_stds_and_paired_deltas_match_the_statistics_module(sweep: Path, written: dict[str, Path]):
    table = parse_table(written["markdown"].read_text())
    groups = expected_groups(sweep)
    assert list(table) == ["Vanilla", "KD", VARIANT]  # baseline first, then first seen
    columns = {"acc": "Accuracy", "macro_f1": "Macro-F1", "kappa": "κ", **{f"f1_{n}": f"F1 {n}" for n in NAMES}}
    delta_columns = {"macro_f1": "Δ MF1 vs Vanilla [95 % CI]", "kappa": "Δ κ vs Vanilla [95 % CI]"}
    for method, runs in groups.items():
        row = table[method]
        assert int(row["n"]) == len(runs)
        for key, column in columns.items():
            values = [run[key] for run in runs]
            mean, std = mean_std(row[column])
            assert mean == pytest.approx(statistics.mean(values), abs=5e-4 + 1e-9)
            assert std == pytest.approx(statistics.stdev(values), abs=5e-4 + 1e-9)
        for key, column in delta_columns.items():
            if method == "Vanilla":
                assert row[column] == "—"
                continue
            shown = [float(number) for number in row[column].strip("*").replace("[", "").replace("]", "").replace(",", "").split()]
            assert shown == pytest.approx(_paired_by_hand(sweep, method, key), abs=5e-4 + 1e-9)
    # the skilled KD beats Vanilla on every pair in this fixture: a sign mistake would show, and so would
    # a missing mark of an interval that excludes 0
    assert table["KD"][delta_columns["macro_f1"]].startswith("**+")


def test_the_table_without_a_baseline_shows_no_differences(sweep: Path):
    with pytest.warns(UserWarning):
        runs, _ = collect_runs(sweep)
    others = [r for r in runs if r.method != "Vanilla"]
    summary = method_summary(others)
    assert [row["method"] for row in summary] == ["KD", VARIANT]
    table = parse_table(markdown_table(summary, NAMES, differences=compare_with_baseline(others, "Vanilla")))
    assert {row["Δ MF1 vs Vanilla [95 % CI]"] for row in table.values()} == {"—"}


def test_results_md_explains_std_and_lists_skipped_runs(written: dict[str, Path]):
    text = written["markdown"].read_text()
    assert text.startswith("# ")
    assert "sample standard deviation" in text
    assert "Skipped runs (4)" in text
    for run_id in ("sacd-f0-s0", "sacd-f0-s1", "sacd-f1-s0", "zz-half"):
        assert f"- {run_id}" in text


def _assert_png(path: Path) -> None:
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and len(np.unique(pixels)) > 1


def test_plots_are_valid_non_blank_pngs(sweep: Path):
    with pytest.warns(UserWarning):
        runs, _ = collect_runs(sweep)
    paths = write_plots(sweep, runs)
    names = ["metrics.png", "per_class_f1.png", "confusion.png", "hypnograms.png", "critical_difference.png"]
    assert paths == [sweep / "plots" / name for name in names]
    for path in paths:
        _assert_png(path)
    assert not list((sweep / "plots").glob(".*"))  # no temporary files left behind


def test_hypnograms_are_left_out_when_no_run_has_predictions(tmp_path: Path):
    _write_run(tmp_path, "vanilla-f0-s0", "Vanilla", 0, 0, predictions=False)
    runs, skipped = collect_runs(tmp_path)
    assert skipped == []
    assert [path.name for path in write_plots(tmp_path, runs)] == ["metrics.png", "per_class_f1.png", "confusion.png"]
    # a single run has no sample std: the table shows its value alone
    row = parse_table(write_results(tmp_path)["markdown"].read_text())["Vanilla"]
    assert "±" not in row["Accuracy"] and row["n"] == "1"


def test_report_command_writes_results_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    sweep = build_sweep(tmp_path / "sweep")
    assert report_main([str(sweep)]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert f"warning: skipping {sweep / 'runs' / 'sacd-f1-s0' / 'test.json'}" in captured.err
    assert "| Vanilla | 4 |" in out and VARIANT in out
    for path in [sweep / "results.csv", sweep / "results.md", sweep / "plots" / "hypnograms.png"]:
        assert path.is_file() and str(path) in out


def test_report_command_fails_clearly_without_finished_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    empty = tmp_path / "empty"
    (empty / "runs").mkdir(parents=True)
    _write_run(empty, "kd-f0-s0", "KD", 0, 0, status="running")
    assert report_main([str(empty)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "none of the runs in" in err and str(empty / "runs") in err and "has finished yet" in err
    assert not (empty / "results.md").exists()

    missing = tmp_path / "nowhere"
    assert report_main([str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(missing) in err and "not a directory" in err

    with pytest.raises(ValueError, match="none of the runs in .* has finished yet"):
        write_results(empty)


def test_degenerate_runs_are_flagged_above_the_table_and_listed(tmp_path, capsys):
    root = tmp_path / "sweep"
    root.mkdir()
    (root / "sweep.yaml").write_text("methods: []\n")
    for seed in (0, 1):
        _write_run(root, f"vanilla-s{seed}", "Vanilla", seed, 0, skill=0.7)
    constant = _write_run(root, "kd-s0", "KD", 0, 0, skill=0.7)
    data = json.loads((constant / "test.json").read_text())
    totals = [sum(row) for row in data["confusion"]]
    (constant / "test.json").write_text(json.dumps(report_from_confusion(
        [[total, 0, 0, 0, 0] for total in totals]).to_dict()))  # every epoch predicted W
    _write_run(root, "kd-s1", "KD", 1, 0, skill=0.2)  # right no more often than chance
    assert report_main([str(root)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Warning: 2 of 4 runs are degenerate")
    markdown = (root / "results.md").read_text()
    warning, table = markdown.index("**Warning: 2 of 4 runs are degenerate**"), markdown.index("| Method")
    assert warning < table and "## Degenerate runs (2)" in markdown
    assert "- kd-s0: every epoch is predicted W" in markdown and "- kd-s1: kappa" in markdown
    assert "| KD | 2 |" in markdown  # shown in the table all the same


def test_a_sweep_runs_record_says_whether_it_is_degenerate(tmp_path):
    from sacd.sweeps.runner import _collect_results

    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    report = report_from_confusion([[10, 0, 0, 0, 0], [5, 0, 0, 0, 0], [8, 0, 0, 0, 0], [3, 0, 0, 0, 0], [4, 0, 0, 0, 0]])
    (checkpoints / "epoch003.test.json").write_text(json.dumps(report.to_dict()))
    assert _collect_results(tmp_path)["degenerate"] == "every epoch is predicted W"


def test_pooled_metrics_score_every_runs_test_epochs_together():
    from sacd.metrics import pool

    first = [[8, 1, 1, 0, 0], [2, 3, 1, 0, 0], [0, 1, 9, 2, 0], [0, 0, 2, 6, 0], [1, 0, 1, 0, 5]]
    second = [[5, 0, 0, 0, 1], [1, 1, 2, 0, 0], [0, 2, 12, 1, 1], [0, 0, 1, 4, 0], [0, 1, 0, 0, 7]]
    pooled = pool([report_from_confusion(first), report_from_confusion(second)])
    by_hand = report_from_confusion([[a + b for a, b in zip(r, s)] for r, s in zip(first, second)])
    for key in SCALARS:
        assert getattr(pooled, key) == pytest.approx(getattr(by_hand, key), abs=1e-6)
    assert [pooled.per_class_f1[name] for name in NAMES] == pytest.approx([by_hand.per_class_f1[name] for name in NAMES])
    assert pooled.num_epochs == by_hand.num_epochs


def test_the_report_pools_each_methods_test_epochs(sweep: Path, written: dict[str, Path]):
    markdown = written["markdown"].read_text()
    section = markdown[markdown.index("## Pooled test epochs"):]
    with pytest.warns(UserWarning):  # the fixture's half-written runs
        runs, _ = collect_runs(sweep)
    kd = [run.report for run in runs if run.method == "KD"]
    line = next(line for line in section.splitlines() if line.startswith("| KD |"))
    assert line.startswith(f"| KD | {len(kd)} | {sum(report.num_epochs for report in kd)} |")


def test_a_partial_sweep_says_which_planned_runs_have_not_started(tmp_path: Path):
    _write_run(tmp_path, "Vanilla-fold0-seed0", "Vanilla", 0, 0)
    (tmp_path / "planned_runs.txt").write_text("Vanilla-fold0-seed0\nKD-fold0-seed0\nKD-fold1-seed0\n")
    runs, skipped = collect_runs(tmp_path)
    assert [run.run_id for run in runs] == ["Vanilla-fold0-seed0"]
    assert skipped == ["KD-fold0-seed0: not started", "KD-fold1-seed0: not started"]
    markdown = write_results(tmp_path)["markdown"].read_text()
    assert "## Skipped runs (2)" in markdown and "- KD-fold1-seed0: not started" in markdown
    assert collect_runs(tmp_path / "nothing-yet")[1] == []


def test_the_teacher_and_baseline_levels_are_each_folds_teacher_report_and_pooled_baseline_epochs(tmp_path: Path):
    root = tmp_path / "sweep"
    teachers = {}
    for fold, subjects in FOLD_SUBJECTS.items():
        confusion = [[10 + fold if i == j else 1 for j in range(5)] for i in range(5)]
        teachers[fold] = confusion
        checkpoint = tmp_path / "teachers" / f"fold{fold}" / "teacher.ckpt"
        checkpoint.parent.mkdir(parents=True)
        checkpoint.write_bytes(b"")  # only its test report is read
        (checkpoint.parent / "teacher.test.json").write_text(
            json.dumps({**report_from_confusion(confusion).to_dict(), "subjects": sorted(subjects)}))
        for method in ("Vanilla", "KD"):
            for seed in (0, 1):
                run_dir = _write_run(root, f"{method}-f{fold}-s{seed}", method, seed, fold, skill=0.6 + 0.1 * seed)
                data = json.loads((run_dir / "test.json").read_text())
                (run_dir / "test.json").write_text(json.dumps({**data, "subjects": sorted(subjects)}))
                teacher = str(checkpoint) if method == "KD" else None
                (run_dir / "config.yaml").write_text(yaml.safe_dump({"model": {"init_args": {"teacher_checkpoint": teacher}}}))
    runs, _ = collect_runs(root)
    section = levels_markdown(fold_levels(runs, "Vanilla"), "Vanilla")
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ") and not line.startswith("| Fold")}  # fmt: skip

    def confusion_of(run_id: str) -> list[list[int]]:
        return json.loads((root / "runs" / run_id / "test.json").read_text())["confusion"]

    def summed(confusions: list[list[list[int]]]) -> list[list[int]]:
        return [[sum(c[i][j] for c in confusions) for j in range(5)] for i in range(5)]

    for fold, subjects in FOLD_SUBJECTS.items():
        teacher = report_from_confusion(teachers[fold])
        student = report_from_confusion(summed([confusion_of(f"Vanilla-f{fold}-s{seed}") for seed in (0, 1)]))
        row = rows[str(fold)]
        assert row[1] == ", ".join(map(str, sorted(subjects)))
        expected = [teacher.acc, teacher.macro_f1, teacher.kappa, student.acc, student.macro_f1, student.kappa,
                    teacher.kappa - student.kappa]  # fmt: skip
        assert [float(cell) for cell in row[2:]] == pytest.approx(expected, abs=5e-4 + 1e-9)
    everything = summed([confusion_of(f"Vanilla-f{fold}-s{seed}") for fold in FOLD_SUBJECTS for seed in (0, 1)])
    pooled_teacher, pooled_student = report_from_confusion(summed(list(teachers.values()))), report_from_confusion(everything)
    assert float(rows["all"][4]) == pytest.approx(pooled_teacher.kappa, abs=5e-4 + 1e-9)
    assert float(rows["all"][7]) == pytest.approx(pooled_student.kappa, abs=5e-4 + 1e-9)


def test_a_teacher_without_a_report_on_the_folds_subjects_is_named_not_guessed(tmp_path: Path):
    root = tmp_path / "sweep"
    checkpoint = tmp_path / "teacher.ckpt"
    checkpoint.write_bytes(b"")
    (tmp_path / "teacher.test.json").write_text(json.dumps({**report_from_confusion([[5, 1], [1, 5]]).to_dict(), "subjects": [99]}))
    for method in ("Vanilla", "KD"):
        run_dir = _write_run(root, f"{method}-f0-s0", method, 0, 0)
        data = json.loads((run_dir / "test.json").read_text())
        (run_dir / "test.json").write_text(json.dumps({**data, "subjects": [1, 2]}))
        (run_dir / "config.yaml").write_text(yaml.safe_dump({"model": {"init_args": {"teacher_checkpoint": str(checkpoint)}}}))
    runs, _ = collect_runs(root)
    section = levels_markdown(fold_levels(runs, "Vanilla"), "Vanilla")
    assert "| 0 | 1, 2 | — | — | — |" in section and "covers other subjects ([99])" in section
    checkpoint.unlink()  # a sweep's relative teacher path read from another folder: say where to run the report
    section = levels_markdown(fold_levels(runs, "Vanilla"), "Vanilla")
    assert f"checkpoint {checkpoint} is not found" in section and "run `sacd report` from there" in section
