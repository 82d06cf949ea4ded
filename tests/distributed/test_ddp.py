"""Every distiller trains under DDP on the CPU (gloo, 2 processes) and the ranks agree.

Each fit runs as ``python -m sacd fit`` in a subprocess, the way users launch DDP. A probe callback
saves every rank's final weights, buffers (memory banks included) and logged metrics. The ranks must
hold identical models: gradients are all-reduced, DDP broadcasts rank 0's buffers, and the memory
banks apply every rank's batch in rank order. Evaluation under DDP counts each sample exactly once.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
import sys
from pathlib import Path

import pytest
import torch
from conftest import distiller_config, write_config

from distillers import method_names
from sacd.cli import SacdCLI

HERE = Path(__file__).parent
DISTILLERS = method_names()
BANKS = {name: ("student_bank", "teacher_bank") for name in ("CRD", "SACD")}


def prepare_ddp_fit(root: Path, name: str, teacher: Path, epochs: int = 2) -> tuple[Path, Path]:
    """The config of a 2-process CPU DDP fit of the tiny setup, and the folder its probe writes to."""
    root.mkdir(parents=True, exist_ok=True)
    config = distiller_config(root, f"distillers.{name}", str(teacher))
    probe = root / "probe"
    config["trainer"].update(strategy="ddp", devices=2, max_epochs=epochs, limit_train_batches=2, deterministic=True,
                             callbacks=[{"class_path": "rank_probe.RankStateProbe",
                                         "init_args": {"folder": str(probe)}}])  # fmt: skip
    return write_config(root / f"{name}.yaml", config), probe


def ddp_fit(root: Path, name: str, teacher: Path, extra: list[str] = (), epochs: int = 2) -> Path:
    """Run a 2-process CPU DDP fit of the tiny setup; returns the folder the probe wrote to."""
    config, probe = prepare_ddp_fit(root, name, teacher, epochs)
    check_finished(name, run_sacd(["fit", "-c", str(config), *extra], root))
    return probe


def check_finished(name: str, done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, f"DDP fit of {name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"


@pytest.fixture(scope="module")
def zoo_under_ddp(tmp_path_factory: pytest.TempPathFactory, tiny_teacher: Path) -> dict[str, tuple[Path, Path]]:
    """Every distiller's DDP fit, three at a time (a fit's two processes spend much of their time
    waiting on each other); maps each name to its run folder and probe folder."""
    root = tmp_path_factory.mktemp("zoo-ddp")
    fits = {name: prepare_ddp_fit(root / name, name, tiny_teacher) for name in DISTILLERS}
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = pool.map(lambda name: run_sacd(["fit", "-c", str(fits[name][0])], root / name), DISTILLERS)
        outcomes = dict(zip(DISTILLERS, done))
    for name, outcome in outcomes.items():
        check_finished(name, outcome)
    return {name: (root / name, probe) for name, (_, probe) in fits.items()}


def run_sacd(args: list[str], root: Path) -> subprocess.CompletedProcess:
    """``python -m sacd ARGS`` with the probe importable, from an empty working directory: ``-m`` puts
    the working directory first on ``sys.path``, where a log folder named ``sacd`` would shadow an
    editable install of the package."""
    cwd = root / "cwd"
    cwd.mkdir(exist_ok=True)
    paths = [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run([sys.executable, "-m", "sacd", *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def load_ranks(probe: Path) -> tuple[dict, dict]:
    return tuple(torch.load(probe / f"rank{rank}.pt", weights_only=False) for rank in (0, 1))


@pytest.mark.parametrize("name", DISTILLERS)
def test_every_distiller_trains_under_ddp_with_ranks_in_agreement(zoo_under_ddp, name):
    folder, probe = zoo_under_ddp[name]
    first, second = load_ranks(probe)
    assert first["world_size"] == second["world_size"] == 2
    assert first["steps"] == second["steps"] == 4  # 2 epochs x 2 batches on each rank
    assert first["state"].keys() == second["state"].keys()
    differing = [key for key in first["state"] if not torch.equal(first["state"][key], second["state"][key])]
    assert not differing, f"{name}: ranks hold different values for {differing[:6]}"
    for mine, theirs in zip(first["trained_on"], second["trained_on"]):
        assert mine and theirs and not set(mine) & set(theirs)  # each rank trains on its own shard
    seen = {index for rank in (first, second) for epoch in rank["trained_on"] for index in epoch}
    for bank in BANKS.get(name, ()):
        filled = first["state"][f"{bank}.ids"]
        assert set(filled[filled >= 0].tolist()) == seen, f"{name}.{bank} must hold every rank's samples"
    # validation metrics are synchronised; train/* are each rank's own step losses, as Lightning logs them
    evaluation = [{key: value for key, value in rank["metrics"].items() if key.startswith("val/")} for rank in (first, second)]
    assert "val/macro_f1" in evaluation[0] and evaluation[0] == evaluation[1]
    checkpoints = list((folder / name.lower()).rglob("last.ckpt"))
    assert len(checkpoints) == 1 and not any(key.startswith("teacher.") for key in
                                             torch.load(checkpoints[0], weights_only=True)["state_dict"])  # fmt: skip


def test_a_ddp_fit_resumed_from_last_ends_bit_identical(tmp_path, tiny_teacher):
    """Kill-and-resume under DDP: every rank restores its own random states, banks and cache; half
    the training subjects are unscored, so the banks also hold the teacher's stages."""
    unscored = ["--data.init_args.scored_fraction", "0.5"]
    whole = load_ranks(ddp_fit(tmp_path / "whole", "SACD", tiny_teacher, extra=unscored))
    ddp_fit(tmp_path / "parts", "SACD", tiny_teacher, extra=unscored, epochs=1)  # as if killed after epoch 1's checkpoint
    last = next((tmp_path / "parts" / "sacd").rglob("last.ckpt"))
    saved = torch.load(last, weights_only=True)  # the random states load without unpickling code
    assert len(saved["rng_states_per_rank"]) == 2
    (tmp_path / "parts" / "probe" / "rank0.pt").unlink()
    resumed = load_ranks(ddp_fit(tmp_path / "parts", "SACD", tiny_teacher, extra=[*unscored, "--ckpt_path", str(last)]))
    for rank, (straight, again) in enumerate(zip(whole, resumed)):
        differing = [key for key in straight["state"] if not torch.equal(straight["state"][key], again["state"][key])]
        assert not differing, f"rank {rank} differs after resuming: {differing[:6]}"
    bank = whole[0]["state"]
    assert (bank["teacher_bank.labels"][bank["teacher_bank.ids"] >= 0] >= 0).all()  # unscored: the teacher's stage


def test_ddp_evaluation_counts_every_test_sample_exactly_once(tmp_path, tiny_teacher):
    """Lightning's padded DistributedSampler would repeat samples; the test metrics and predictions
    under 2 processes must equal a single-process test of the same checkpoint."""
    ddp_fit(tmp_path, "KD", tiny_teacher, epochs=1)
    checkpoint = next((tmp_path / "kd").rglob("last.ckpt"))
    config = tmp_path / "KD.yaml"
    single = SacdCLI.create(["test", "-c", str(config), "--trainer.strategy", "auto", "--trainer.devices", "1",
                             "--trainer.callbacks", "[]", "--ckpt_path", str(checkpoint)])  # fmt: skip
    predictions = checkpoint.with_name(f"{checkpoint.stem}.test_predictions.csv")
    report = checkpoint.with_name(f"{checkpoint.stem}.test.csv")
    expected_rows, expected_report = predictions.read_text().splitlines(), report.read_text()
    assert single.trainer.world_size == 1
    predictions.unlink()
    report.unlink()
    done = run_sacd(["test", "-c", str(config), "--trainer.callbacks", "[]", "--ckpt_path", str(checkpoint)], tmp_path)
    assert done.returncode == 0, done.stderr[-5000:]
    rows = predictions.read_text().splitlines()
    assert len(rows) == len(expected_rows) == 1 + 24  # header + one test night of 24 epochs, none repeated
    assert rows == expected_rows
    assert report.read_text() == expected_report  # metrics from the confusion counts: exactly equal
