"""Execute one sweep run as an ordinary ``sacd fit`` + test in its own process, resumably.

A run lives in ``SWEEP_DIR/runs/<run_id>/``:

- ``run_config.yaml``: the config it was started with (base configs merged with its method, seed,
  fold and grid values; see :func:`sacd.sweeps.spec.compose_run_config`);
- ``checkpoints/`` (``last.ckpt`` and the best by validation macro-F1) and ``logs/`` (metrics.csv);
- ``output.log``: everything the run printed;
- ``config.yaml``: the resolved config, which ``sacd fit -c config.yaml`` replays;
- ``test.json`` / ``test_predictions.csv``: the test subjects' metrics and per-epoch predictions;
- ``run.json``: what the run is and its status (``running``, ``failed``, ``finished``), written
  atomically and last, so a run marked finished always has its results;
- ``.run.lock``: held by the process executing the run, so a second sweep on the folder skips it.

A finished run is skipped. A run that was interrupted resumes from its ``last.ckpt``; a checkpoint
that cannot be read (a kill during its save) is set aside and the run starts over.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from sacd.atomic import atomic_copy, atomic_write_text
from sacd.environment import environment_versions
from sacd.folder_locks import FolderBusyError, exclusive
from sacd.sweeps.spec import RunSpec, compose_run_config

RECORD = "run.json"
#: held while a run executes, so two sweeps on one folder run it once
RUN_LOCK = ".run.lock"
#: status of a run that another process is executing (returned only when not waiting for it)
BUSY = "busy"


def run_dir_of(sweep_dir: Path, run: RunSpec) -> Path:
    return Path(sweep_dir) / "runs" / run.run_id


def read_record(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``run.json``, or None when absent or unreadable (a run that never got going)."""
    try:
        return json.loads((Path(run_dir) / RECORD).read_text())
    except (OSError, ValueError):
        return None


def is_finished(run_dir: Path) -> bool:
    record = read_record(run_dir)
    return bool(record and record.get("status") == "finished" and (Path(run_dir) / "test.json").is_file())


def run_config(run: RunSpec, base: list[Path], run_dir: Path) -> dict[str, Any]:
    """The run's complete config plus where its logs and checkpoints go; progress bars off (output goes to a file)."""
    config = compose_run_config(base, run)
    trainer = config.setdefault("trainer", {})
    trainer["default_root_dir"] = str(run_dir)
    trainer["enable_progress_bar"] = False
    trainer["logger"] = {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": str(run_dir), "name": "logs"},
    }
    config.setdefault("checkpoint", {})["dirpath"] = str(run_dir / "checkpoints")
    return config


def fit_command(config_path: Path, resume_from: Path | None) -> list[str]:
    command = [sys.executable, "-m", "sacd", "fit", "-c", str(config_path)]
    if resume_from is not None:
        command += ["--ckpt_path", str(resume_from)]
    return command


def execute_run(run: RunSpec, base: list[Path], sweep_dir: Path, threads: int | None = None,
                device: str | None = None, wait: bool = True) -> dict[str, Any]:  # fmt: skip
    """Run (or skip, or resume) one run to completion; return its record.

    The run's folder is locked while it runs (:mod:`sacd.folder_locks`), so a second sweep on the same
    folder never runs it twice: with ``wait`` it waits for the holder and then finds the run finished
    (or, when the holder was killed, resumes it); without, it returns at once a record of status
    :data:`BUSY` naming the holder, for the caller to come back to.
    """
    run_dir = run_dir_of(sweep_dir, run)
    if is_finished(run_dir):
        return _skipped(run_dir)
    try:
        with exclusive(run_dir / RUN_LOCK, what=f"sweep run {run.run_id} in {sweep_dir}", wait=wait):
            if is_finished(run_dir):  # finished by the sweep this one waited for
                return _skipped(run_dir)
            return _execute_locked(run, base, run_dir, threads, device)
    except FolderBusyError as busy:
        return {"run_id": run.run_id, "status": BUSY, "holder": str(busy)}


def _skipped(run_dir: Path) -> dict[str, Any]:
    """The record of a finished run, marked as not run again."""
    return {**(read_record(run_dir) or {}), "skipped": True}


def _execute_locked(run: RunSpec, base: list[Path], run_dir: Path, threads: int | None,
                    device: str | None) -> dict[str, Any]:  # fmt: skip
    """Execute a run whose folder this process holds."""
    config_path = run_dir / "run_config.yaml"
    atomic_write_text(config_path, yaml.safe_dump(run_config(run, base, run_dir), sort_keys=False))
    previous = read_record(run_dir) or {}
    resume_from = _resumable_checkpoint(run_dir)
    record = {
        "run_id": run.run_id, "method": run.method, "class_path": run.class_path, "seed": run.seed,
        "fold": run.fold, "params": run.params, "status": "running", "attempts": previous.get("attempts", 0) + 1,
        "resumed_from": str(resume_from) if resume_from else None, "started": time.time(),
        "command": fit_command(config_path, resume_from), "host": os.uname().nodename,
    }  # fmt: skip
    _write_record(run_dir, record)
    env = dict(os.environ)
    if threads:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = device
    with open(run_dir / "output.log", "a") as log:
        log.write(f"\n=== attempt {record['attempts']}: {' '.join(record['command'])}\n")
        log.flush()
        code = subprocess.run(record["command"], stdout=log, stderr=subprocess.STDOUT, env=env, check=False).returncode
    record["seconds"] = time.time() - record["started"]
    if code != 0:
        record.update(status="failed", returncode=code, error=_tail(run_dir / "output.log"))
        _write_record(run_dir, record)
        return record
    try:
        record.update(_collect_results(run_dir))
    except FileNotFoundError as error:
        record.update(status="failed", returncode=code, error=str(error))
        _write_record(run_dir, record)
        return record
    record.update(status="finished", versions=environment_versions())
    _write_record(run_dir, record)
    return record


def _resumable_checkpoint(run_dir: Path) -> Path | None:
    """``last.ckpt`` if it loads; a corrupt one (killed mid-save) is moved aside and the run restarts.

    One that holds more than tensors and plain values is refused (:mod:`sacd.safe_checkpoints`): it is
    not what ``sacd fit`` writes, and opening it could run code.
    """
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        return None
    from sacd.safe_checkpoints import UnsafeCheckpointError, load_checkpoint

    try:
        load_checkpoint(last)
    except UnsafeCheckpointError:
        raise
    except Exception:  # noqa: BLE001 - any unreadable checkpoint means: start over
        aside = run_dir / f"corrupt-{int(time.time())}"
        shutil.move(str(run_dir / "checkpoints"), aside)
        return None
    return last


def _collect_results(run_dir: Path) -> dict[str, Any]:
    """Copy the tested checkpoint's metrics, predictions and the resolved config to the run's top level."""
    reports = sorted((run_dir / "checkpoints").glob("*.test.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        raise FileNotFoundError(f"{run_dir}: the fit ended without a test report (*.test.json in checkpoints/)")
    report = reports[-1]
    stem = report.name.removesuffix(".test.json")
    atomic_copy(report, run_dir / "test.json")
    predictions = report.with_name(f"{stem}.test_predictions.csv")
    if predictions.is_file():
        atomic_copy(predictions, run_dir / "test_predictions.csv")
    configs = sorted((run_dir / "logs").glob("version_*/config.yaml"), key=lambda p: p.stat().st_mtime)
    if configs:
        atomic_copy(configs[-1], run_dir / "config.yaml")
    metrics = json.loads(report.read_text())
    return {"tested_checkpoint": str(report.with_name(f"{stem}.ckpt")), "acc": metrics["acc"],
            "macro_f1": metrics["macro_f1"], "kappa": metrics["kappa"], "degenerate": metrics.get("degenerate")}  # fmt: skip


def _write_record(run_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_text(run_dir / RECORD, json.dumps(record, indent=2, default=str) + "\n")


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
