"""Shared fixtures: tiny configs and one tiny trained teacher for the CLI tests."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis profiles for the reader fuzz tests (tests/recorded/test_reader_fuzzing.py, marker `fuzz`; a test may
# take a share of the budget). "ci", the default: 100 examples per test (about 12 s for all of them), the same
# examples every run (derandomized), no example database, a 5 s deadline per example (generous against a loaded
# machine). "fuzz", the long run (`python -m pytest -m fuzz --hypothesis-profile fuzz`, about 6 minutes): 5000
# examples per test, a new random search every run, no deadline (the tests' own hang guards still apply).
settings.register_profile("ci", max_examples=100, deadline=dt.timedelta(seconds=5), derandomize=True, database=None)
settings.register_profile("fuzz", max_examples=5000, deadline=None, database=None)
settings.load_profile("ci")
# Hypothesis keeps caches (constants, Unicode tables) in a folder, from collection on: a temporary one, never
# the checkout (HYPOTHESIS_STORAGE_DIRECTORY, if set, says where instead)
_HYPOTHESIS_HOME = os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY") or Path(tempfile.gettempdir()) / "sacd-hypothesis"
set_hypothesis_home_dir(_HYPOTHESIS_HOME)

# Tiny nights: 6 subjects x 24 epochs, 4 frames of 32x32; one subject each for val and test.
TINY_DATA: dict[str, Any] = {
    "class_path": "datamodules.SyntheticNights",
    "init_args": {
        "num_subjects": 6,
        "epochs_per_night": 24,
        "val_subjects": 1,
        "test_subjects": 1,
        "frames": 4,
        "frame_size": 32,
        "seed": 3,
        "batch_size": 16,
    },
}
TINY_STUDENT: dict[str, Any] = {
    "class_path": "sacd.models.X3D",
    "init_args": {"widths": [8, 16], "depths": [1, 1], "stem_width": 8, "embed_dim": 16},
}
TINY_TEACHER_MODEL: dict[str, Any] = {
    "class_path": "sacd.EEGTeacher",
    "init_args": {"embed_dim": 16, "width": 8, "d_model": 16, "num_heads": 2, "num_layers": 1},
}


def trainer_config(root: Path, name: str, **overrides: Any) -> dict[str, Any]:
    config = {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": 1,
        "limit_train_batches": 2,
        "limit_val_batches": 1,
        "log_every_n_steps": 1,
        "enable_model_summary": False,
        "enable_progress_bar": False,
        "default_root_dir": str(root),
        "logger": {
            "class_path": "lightning.pytorch.loggers.CSVLogger",
            "init_args": {"save_dir": str(root), "name": name},
        },
    }
    config.update(overrides)
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def distiller_config(root: Path, class_path: str, teacher_checkpoint: str | None, **init_args: Any) -> dict[str, Any]:
    model_args = {"student": copy.deepcopy(TINY_STUDENT), **init_args}
    if teacher_checkpoint is not None:
        model_args["teacher_checkpoint"] = teacher_checkpoint
    return {
        "seed_everything": 0,
        "trainer": trainer_config(root, class_path.rsplit(".", 1)[-1].lower()),
        "model": {"class_path": class_path, "init_args": model_args},
        "data": copy.deepcopy(TINY_DATA),
    }


def teacher_config(root: Path) -> dict[str, Any]:
    return {
        "seed_everything": 0,
        "trainer": trainer_config(root, "teacher"),
        "model": copy.deepcopy(TINY_TEACHER_MODEL),
        "data": copy.deepcopy(TINY_DATA),
    }


def run_main(args: list[str]) -> tuple[str, int | None]:
    """Run ``sacd ARGS`` in-process; return what it printed (stdout and stderr) and its exit code."""
    from sacd.entry_point import main

    out = io.StringIO()
    code = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main(args)
        except SystemExit as done:
            code = done.code
    return out.getvalue(), code


def export_synthetic(out: Path, *, subjects: int, epochs: int, size: int, seed: int) -> Path:
    """``sacd synth`` of ``subjects`` nights (ids from 0) of ``epochs`` epochs each, MJPEG video, with a manifest."""
    output, code = run_main(["synth", "--out", str(out), "--subjects", str(subjects), "--first-subject", "0",
                             "--hours", str(epochs / 120), "--size", str(size), "--codec", "mjpeg",
                             "--seed", str(seed), "--no-report"])  # fmt: skip
    assert code == 0, output
    return out


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A teacher checkpoint trained for two steps through the CLI (shared by the CLI tests)."""
    from sacd.cli import SacdCLI

    root = tmp_path_factory.mktemp("teacher")
    config = write_config(root / "teacher.yaml", teacher_config(root))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["sacd"])
        cli = SacdCLI.create(["fit", "--config", str(config)])
    return Path(cli.trainer.checkpoint_callback.last_model_path)


@pytest.fixture(autouse=True)
def _help_cache_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Kept copies of ``--help`` (sacd.help_cache) go to the test session's folder, never the user's cache."""
    monkeypatch.setenv("SACD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "sacd-cache"))


@pytest.fixture(autouse=True)
def _cli_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI is driven through ``args``; pytest's own command line must not look like CLI input."""
    monkeypatch.setattr(sys, "argv", ["sacd"])


@pytest.fixture(autouse=True)
def _quiet_known_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        yield
