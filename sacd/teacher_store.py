"""Train a teacher once per (teacher config, data config) and reuse it from a cache.

A distiller given ``teacher_config`` and no ``teacher_checkpoint`` gets its teacher from here: the
teacher config's model, trainer and seed are combined with the student run's own data section (so
teacher and student see the same subject split), hashed, and trained only if that hash has no
checkpoint yet. ``teacher_data`` may add init args that change only the teacher's training set (more
nights of the same training subjects, say): the teacher still holds out, and is tested on, exactly
the student's test subjects and epochs. Two runs that need the same untrained teacher train it
once: the second waits on the cache entry's lock (:mod:`sacd.folder_locks`) and then finds the
teacher there.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from sacd.atomic import atomic_copy, atomic_write_text
from sacd.class_paths import import_class_path
from sacd.fit_checks import holds_no_test_subjects
from sacd.folder_locks import exclusive
from sacd.hashing import config_hash
from sacd.reference_levels import report_path

TEACHER_FILE = "teacher.ckpt"
#: held while a teacher is trained (or tested), so two runs needing it train it once
TRAINING_LOCK = ".training.lock"


def teacher_run_config(
    teacher_config: str | Path, data_config: dict[str, Any], teacher_data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The fit config that trains the teacher for a run whose data section is ``data_config``, with the
    data init args ``teacher_data`` applied on top (only ones that leave validation and test alone)."""
    path = Path(teacher_config)
    if not path.is_file():
        raise FileNotFoundError(
            f"teacher config {path} does not exist; point model.init_args.teacher_config at a teacher fit "
            "config such as experiments/teacher.yaml"
        )
    config = yaml.safe_load(path.read_text()) or {}
    model = config.get("model") or {}
    if isinstance(model, dict) and "teacher" not in str(model.get("class_path", "sacd.EEGTeacher")).lower():
        raise ValueError(f"{path} configures model {model.get('class_path')!r}, not an EEG teacher")
    config = {key: value for key, value in config.items() if key in ("model", "trainer", "seed_everything")}
    config["data"] = with_teacher_data(data_config, teacher_data or {})
    return config


def with_teacher_data(data_config: dict[str, Any], teacher_data: dict[str, Any]) -> dict[str, Any]:
    """``data_config`` with ``teacher_data`` merged into its init args, refusing any key that could move a
    subject between splits or change a validation or test epoch (the datamodule's ``training_only_args``)."""
    data = copy.deepcopy(data_config)
    if not teacher_data:
        return data
    datamodule = import_class_path(data.get("class_path"))
    allowed = getattr(datamodule, "training_only_args", frozenset())
    refused = sorted(set(teacher_data) - allowed)
    if refused:
        raise ValueError(
            f"model.init_args.teacher_data sets {', '.join(refused)}, which {data.get('class_path')} does not "
            f"count as training-only: the teacher must be tested on its students' test subjects and epochs. "
            f"Give only {', '.join(sorted(allowed)) or 'nothing'} there, or change the run's data section instead."
        )
    data["init_args"] = {**(data.get("init_args") or {}), **copy.deepcopy(teacher_data)}
    return data


def cached_teacher(
    teacher_config: str | Path,
    data_config: dict[str, Any],
    cache_dir: str | Path,
    teacher_data: dict[str, Any] | None = None,
) -> Path:
    """Return the cached teacher checkpoint for this config, training it first on a cache miss."""
    from sacd import __version__

    config = teacher_run_config(teacher_config, data_config, teacher_data)
    key = config_hash({"config": config, "version": __version__})
    run_dir = Path(cache_dir) / key
    checkpoint = run_dir / TEACHER_FILE
    if checkpoint.is_file() and report_path(checkpoint).is_file():  # a finished entry: read without a lock
        print(f"Using cached EEG teacher {checkpoint}")
        return checkpoint
    with exclusive(run_dir / TRAINING_LOCK, what=f"the EEG teacher in {run_dir}", wait=True):
        if checkpoint.is_file():  # cached, or trained by the process this one waited for
            print(f"Using cached EEG teacher {checkpoint}")
            if not report_path(checkpoint).is_file() and (run_dir / "config.yaml").is_file():  # cached before reports
                test_teacher(run_dir / "config.yaml", checkpoint)
            return checkpoint
        _train_teacher(config, teacher_config, run_dir, checkpoint)
    return checkpoint


def _train_teacher(config: dict[str, Any], teacher_config: str | Path, run_dir: Path, checkpoint: Path) -> None:
    """Fit the teacher into ``run_dir``, copy its best checkpoint to ``checkpoint`` and test it."""
    print(f"Training the EEG teacher from {teacher_config} (cache: {run_dir})")
    trainer = config.setdefault("trainer", {}) or {}
    config["trainer"] = trainer
    trainer["default_root_dir"] = str(run_dir)
    trainer["logger"] = {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": str(run_dir), "name": "teacher"},
    }
    config_path = run_dir / "config.yaml"
    atomic_write_text(config_path, yaml.safe_dump(config, sort_keys=False))

    from sacd.cli import SacdCLI

    cli = SacdCLI.create(["fit", "--config", str(config_path)])
    best = cli.trainer.checkpoint_callback.best_model_path or cli.trainer.checkpoint_callback.last_model_path
    if not best:
        raise RuntimeError(f"training the teacher in {run_dir} wrote no checkpoint")
    atomic_copy(best, checkpoint)
    test_teacher(config_path, checkpoint)


def test_teacher(config_path: Path, checkpoint: Path) -> None:
    """Test a cached teacher on its data's test subjects, writing ``teacher.test.json`` beside it: the
    level every student taught by it is read against (:mod:`sacd.reference_levels`)."""
    from sacd.cli import SacdCLI

    if holds_no_test_subjects((yaml.safe_load(Path(config_path).read_text()) or {}).get("data")):
        return
    SacdCLI.create(["test", "--config", str(config_path), "--ckpt_path", str(checkpoint)])
