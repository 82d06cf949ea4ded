"""Two processes on one folder: the second waits or refuses naming the holder, and nothing is done twice."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from conftest import distiller_config, run_main, teacher_config, write_config

from sacd.folder_locks import FolderBusyError, exclusive, read_holder
from sacd.sweeps.runner import read_record

REPO = Path(__file__).resolve().parents[2]
#: a process that holds a lock until its stdin closes (or it is killed)
HOLD = """
import sys
from sacd.folder_locks import exclusive
with exclusive(sys.argv[1], what="a test folder"):
    print("held", flush=True)
    sys.stdin.read()
"""


def _holder(lock_file: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_file)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout.readline().strip() == "held"
    return process


def _release(process: subprocess.Popen) -> None:
    process.stdin.close()
    assert process.wait(timeout=30) == 0


def test_a_held_folder_is_refused_naming_the_holder_and_free_once_it_ends(tmp_path, capsys):
    lock_file = tmp_path / "folder" / ".lock"
    holder = _holder(lock_file)
    try:
        with pytest.raises(FolderBusyError) as refused, exclusive(lock_file, what="the folder", fix="Try later."):
            pass
        message = str(refused.value)
        assert f"PID {holder.pid} on host {socket.gethostname()}" in message and str(lock_file) in message
        assert message.endswith("Try later.") and "-c" in message  # the holder's command line
    finally:
        _release(holder)
    with exclusive(lock_file, what="the folder") as stale:
        assert stale is None  # released properly: nothing to take over
        assert read_holder(lock_file).pid == os.getpid()
    assert read_holder(lock_file) is None and "Taking over" not in capsys.readouterr().out


def test_a_waiting_process_gets_the_folder_when_the_holder_ends(tmp_path, capsys):
    lock_file = tmp_path / ".lock"
    holder = _holder(lock_file)
    released = threading.Event()

    def release() -> None:
        released.set()
        holder.stdin.close()

    timer = threading.Timer(1.0, release)
    timer.start()
    try:
        with exclusive(lock_file, what="the folder", wait=True):
            assert released.is_set()  # got it only once the holder let go
    finally:
        timer.join()
        holder.wait(timeout=30)
    assert f"Waiting for the folder: it is in use by PID {holder.pid}" in capsys.readouterr().out


def test_the_lock_of_a_killed_holder_is_taken_over(tmp_path, capsys):
    lock_file = tmp_path / ".lock"
    holder = _holder(lock_file)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert read_holder(lock_file).pid == holder.pid  # its record outlives it
    with exclusive(lock_file, what="the folder") as stale:
        assert stale.pid == holder.pid
        assert read_holder(lock_file).pid == os.getpid()
    assert f"Taking over the lock of the folder from PID {holder.pid}" in capsys.readouterr().out


def test_a_fit_aimed_at_a_run_folder_in_use_is_refused_and_writes_nothing_there(tmp_path):
    checkpoints = tmp_path / "run" / "checkpoints"
    config = write_config(tmp_path / "vanilla.yaml", distiller_config(tmp_path, "distillers.Vanilla", None))
    holder = _holder(checkpoints.parent / ".checkpoints.lock")
    try:
        output, code = run_main(["fit", "-c", str(config), "--checkpoint.dirpath", str(checkpoints)])
    finally:
        _release(holder)
    assert code == 1
    assert f"the run folder {checkpoints} is in use by PID {holder.pid}" in output and "--checkpoint.dirpath" in output
    assert not checkpoints.exists()
    output, code = run_main(["fit", "-c", str(config), "--checkpoint.dirpath", str(checkpoints)])
    assert code is None and (checkpoints / "last.ckpt").is_file()  # free again: the same fit runs


def _teacher_from_config(tmp_path: Path, class_path: str) -> dict:
    """A tiny distiller config whose teacher is trained on first use, into ``tmp_path/teachers``."""
    teacher = write_config(tmp_path / "teacher.yaml", teacher_config(tmp_path / "teacher-runs"))
    return distiller_config(tmp_path, class_path, None, teacher_config=str(teacher),
                            teacher_cache_dir=str(tmp_path / "teachers"))  # fmt: skip


def _start(*words: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sacd", *words], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _outputs(processes: list[subprocess.Popen]) -> list[str]:
    outputs = [process.communicate(timeout=400)[0] for process in processes]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output
    return outputs


def test_two_fits_started_together_train_their_teacher_once_and_write_two_versions(tmp_path):
    config = write_config(tmp_path / "kd.yaml", _teacher_from_config(tmp_path, "distillers.KD"))
    outputs = _outputs([_start("fit", "-c", str(config)) for _ in range(2)])
    assert sum(output.count("Training the EEG teacher") for output in outputs) == 1
    assert sum("Using cached EEG teacher" in output for output in outputs) == 1
    assert len(list((tmp_path / "teachers").glob("*/teacher.ckpt"))) == 1
    versions = sorted(path.name for path in (tmp_path / "kd").iterdir() if path.is_dir())
    assert versions == ["version_0", "version_1"]
    for version in versions:
        folder = tmp_path / "kd" / version
        assert (folder / "checkpoints" / "last.ckpt").is_file()
        assert len(list(csv.DictReader((folder / "metrics.csv").open()))) > 0


@pytest.mark.slow
def test_two_sweeps_on_one_folder_run_each_run_once_and_both_report_every_run(tmp_path):
    write_config(tmp_path / "base.yaml", _teacher_from_config(tmp_path, "distillers.KD"))
    spec = {"base": "base.yaml", "seeds": [0], "out": str(tmp_path / "sweep"),
            "methods": [{"name": "KD", "class_path": "distillers.KD"},
                        {"name": "Vanilla", "class_path": "distillers.Vanilla"}]}  # fmt: skip
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec))
    outputs = _outputs([_start("sweep", str(tmp_path / "sweep.yaml"), "--workers", "1") for _ in range(2)])
    assert sum(output.count("Training the EEG teacher") for output in outputs) == 1
    runs = sorted(path.name for path in (tmp_path / "sweep" / "runs").iterdir())
    assert runs == ["KD-fold0-seed0", "Vanilla-fold0-seed0"]
    assert sorted((tmp_path / "sweep" / "planned_runs.txt").read_text().split()) == runs  # the plan, once
    for run in runs:
        run_dir = tmp_path / "sweep" / "runs" / run
        assert read_record(run_dir)["status"] == "finished" and read_record(run_dir)["attempts"] == 1
        assert (run_dir / "output.log").read_text().count("=== attempt") == 1  # executed once, by one sweep
    rows = list(csv.DictReader((tmp_path / "sweep" / "results.csv").open()))
    assert sorted(row["run_id"] for row in rows) == runs
    for row in rows:
        report = json.loads((tmp_path / "sweep" / "runs" / row["run_id"] / "test.json").read_text())
        assert float(row["kappa"]) == pytest.approx(report["kappa"])
