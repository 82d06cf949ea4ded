"""Sweeps end to end: runs in their own processes, kill and resume, and the Ray backend."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import distiller_config, write_config

from sacd.sweep_cli import main as sweep
from sacd.sweeps.runner import read_record

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _tiny_sweep(tmp_path: Path, teacher: Path, epochs: int = 1) -> Path:
    base = distiller_config(tmp_path, "distillers.KD", str(teacher))
    base["trainer"].update(max_epochs=epochs, limit_train_batches=2, limit_val_batches=1)
    write_config(tmp_path / "base.yaml", base)
    spec = {
        "base": "base.yaml",
        "methods": [{"name": "KD", "class_path": "distillers.KD"}, {"name": "Vanilla", "class_path": "distillers.Vanilla"}],
        "seeds": [0],
        "out": str(tmp_path / "sweep"),
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _rows(sweep_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((sweep_dir / "results.csv").open()))


def test_the_smoke_sweep_killed_midway_resumes_and_ends_complete_without_duplicates(tmp_path):
    """CI's run of experiments/sweeps/smoke.yaml (3 methods x 2 folds x 2 seeds), interrupted by SIGKILL during
    its first run, ends with every table and plot of a sweep report."""
    sweep_dir = tmp_path / "sweep"
    args = [str(REPO / "experiments" / "sweeps" / "smoke.yaml"), "--out", str(sweep_dir), "--workers", "2",
            "--set", f"model.init_args.teacher_cache_dir={tmp_path / 'teachers'}",
            "--set", f"data.init_args.cache_dir={tmp_path / 'cache'}"]
    first = sweep_dir / "runs" / "Vanilla-fold0-seed0"
    process = subprocess.Popen([sys.executable, "-m", "sacd", "sweep", *args], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        while not (first / "checkpoints" / "last.ckpt").is_file():
            assert process.poll() is None, "the sweep ended before it could be interrupted"
            assert time.time() < deadline, "no checkpoint appeared in time"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the sweep and its `sacd fit` child, mid-run
        process.wait()
    assert read_record(first)["status"] == "running"

    assert sweep(args) == 0
    record = read_record(first)
    assert record["status"] == "finished" and record["attempts"] == 2
    assert record["resumed_from"].endswith("last.ckpt")
    rows = _rows(sweep_dir)
    expected = {f"{method}-fold{fold}-seed{seed}" for method in ("Vanilla", "KD", "SACD") for fold in (0, 1) for seed in (0, 1)}
    assert sorted(row["run_id"] for row in rows) == sorted(expected)  # complete, and each run once
    tested = {fold: set() for fold in (0, 1)}
    learned = 0
    for row in rows:
        run_dir = sweep_dir / "runs" / row["run_id"]
        report = json.loads((run_dir / "test.json").read_text())
        assert float(row["macro_f1"]) == pytest.approx(report["macro_f1"])
        assert (run_dir / "config.yaml").is_file() and read_record(run_dir)["versions"]["torch"]
        learned += read_record(run_dir)["degenerate"] is None
        tested[int(row["fold"])].update(report["subjects"])
    # small as it is, the smoke sweep learns: a third of its runs have a kappa clear of its noise level (1.96 null
    # standard errors), which a student that learns nothing reaches in 2.5 % of runs (5 of 12 at this commit)
    assert learned >= 4
    assert not tested[0] & tested[1] and len(tested[0] | tested[1]) == 10  # 2-fold: every subject tested once
    assert len(list((first / "logs").glob("version_*/metrics.csv"))) == 2  # one log per attempt
    assert len(list((tmp_path / "teachers").glob("*/teacher.ckpt"))) == 2  # one teacher per fold, for its students
    results = (sweep_dir / "results.md").read_text()
    for section in ("| Method | n |", "## Paired differences vs Vanilla", "Paired macro-F1 interval half-widths: KD",
                    "## Pooled test epochs", "## Average ranks", "critical_difference.png"):  # fmt: skip
        assert section in results, section
    for method in ("KD", "SACD"):  # 4 pairs each, with a t-interval
        assert re.search(rf"^\| {method} \| 4 \| \**[+-]\d\.\d{{3}} \[", results, re.MULTILINE), method
    for plot in ("metrics", "per_class_f1", "confusion", "hypnograms", "critical_difference"):
        assert (sweep_dir / "plots" / f"{plot}.png").stat().st_size > 0

    # a finished sweep run again does nothing new and gives the same table
    before = (sweep_dir / "results.csv").read_text()
    assert sweep(args) == 0
    assert read_record(first)["attempts"] == 2 and (sweep_dir / "results.csv").read_text() == before


def test_a_resumed_sweep_run_tests_the_same_best_checkpoint_as_an_uninterrupted_one(tmp_path, tiny_teacher, monkeypatch):
    """A run interrupted after its second epoch and resumed by the runner ends with the uninterrupted
    run's best checkpoint (the first epoch's, by a falling score) and the same test report."""
    from sacd.sweeps.runner import execute_run, run_dir_of
    from sacd.sweeps.spec import load_sweep

    monkeypatch.setenv("PYTHONPATH", str(REPO / "tests" / "sacd"))  # score_probe for the runs' processes

    def spec(name: str, epochs: int):
        base = distiller_config(tmp_path, "distillers.KD", str(tiny_teacher))
        base["trainer"].update(max_epochs=epochs, limit_train_batches=2, deterministic=True,
                               callbacks=[{"class_path": "score_probe.FallingScore"}])  # fmt: skip
        base.update(test_after_fit=True, checkpoint={"monitor": "probe/score", "mode": "max"})
        write_config(tmp_path / f"{name}.yaml", base)
        (tmp_path / f"{name}-sweep.yaml").write_text(yaml.safe_dump(
            {"base": f"{name}.yaml", "methods": [{"name": "KD", "class_path": "distillers.KD"}], "seeds": [0]}))
        return load_sweep(tmp_path / f"{name}-sweep.yaml")

    whole, shorter = spec("whole", 3), spec("shorter", 2)
    (run,) = whole.runs
    uninterrupted = execute_run(run, whole.base, tmp_path / "uninterrupted")
    interrupted_dir = tmp_path / "interrupted"
    execute_run(run, shorter.base, interrupted_dir)  # two epochs ...
    run_dir = run_dir_of(interrupted_dir, run)
    (run_dir / "test.json").unlink()  # ... and as if killed before it finished: the runner resumes it
    resumed = execute_run(run, whole.base, interrupted_dir)
    assert resumed["status"] == uninterrupted["status"] == "finished" and resumed["resumed_from"].endswith("last.ckpt")
    assert Path(resumed["tested_checkpoint"]).name == Path(uninterrupted["tested_checkpoint"]).name == "epoch000.ckpt"
    tested = [json.loads((run_dir_of(folder, run) / "test.json").read_text()) for folder in (tmp_path / "uninterrupted", interrupted_dir)]
    assert tested[0] == tested[1]


def test_the_ray_backend_runs_a_sweep_on_a_local_instance_with_two_workers(tmp_path, tiny_teacher):
    pytest.importorskip("ray")
    spec = _tiny_sweep(tmp_path, tiny_teacher)
    code = sweep([str(spec), "--backend", "ray", "--ray-local-cpus", "2", "--cpus-per-run", "1"])
    assert code == 0
    rows = _rows(tmp_path / "sweep")
    assert sorted(row["method"] for row in rows) == ["KD", "Vanilla"]
    hosts = {read_record(tmp_path / "sweep" / "runs" / row["run_id"])["host"] for row in rows}
    assert hosts and all(hosts)
    assert (tmp_path / "sweep" / "plots" / "metrics.png").stat().st_size > 0
