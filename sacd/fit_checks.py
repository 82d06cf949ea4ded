"""Checks ``sacd fit`` makes before it starts, so a wrong resume or an unwritable folder fails
at once, with the file and the fix, instead of training the wrong model or losing the run's output."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sacd.class_paths import import_class_path


def check_resumable(ckpt_path: str, configured: dict[str, Any]) -> None:
    """Refuse to resume a fit from a checkpoint of another model class or student network.

    Lightning takes the model from the checkpoint's hyper-parameters, so a mismatch would silently
    train the checkpoint's model in place of the configured one.
    """
    from sacd.safe_checkpoints import load_checkpoint

    hparams = plain_config(load_checkpoint(ckpt_path).get("hyper_parameters") or {})
    wanted, found = configured.get("class_path"), hparams.get("_class_path")
    if wanted and found and not _same_class(wanted, found):
        problem = f"it holds a {found} run, but this fit configures {wanted}"
    else:
        student = (configured.get("init_args") or {}).get("student") or {}
        saved = hparams.get("student") or {}
        args, saved_args = student.get("init_args") or {}, saved.get("init_args") or {}
        changed = [f"{key} {saved_args[key]} (config: {value})" for key, value in args.items()
                   if key in saved_args and saved_args[key] != value]  # fmt: skip
        classes = (student.get("class_path"), saved.get("class_path"))
        if all(classes) and not _same_class(*classes):
            changed.insert(0, f"class {classes[1]} (config: {classes[0]})")
        if not changed:
            return
        problem = f"its student network differs from the configured one: {', '.join(changed)}"
    config = Path(ckpt_path).resolve().parent.parent / "config.yaml"
    origin = f" ({config})" if config.is_file() else ""
    raise ValueError(
        f"cannot resume from {ckpt_path}: {problem}. Resume with the config of the run that wrote it{origin}, "
        "or drop --ckpt_path to start a new fit."
    )


def check_writable_folder(folder: Path) -> None:
    """An OSError naming ``folder`` (PermissionError when denied) unless a file can be created in it or its
    nearest existing parent."""
    import tempfile

    existing = next((p for p in (folder, *folder.parents) if p.is_dir()), None)
    if existing is None:
        return
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".sacd-write-test.")
        os.close(fd)
        os.remove(probe)
    except OSError as error:
        raise OSError(
            error.errno,
            f"cannot write the run's outputs to {folder} ({error.strerror or error} in {existing}); make it writable "
            "or choose another folder with --trainer.default_root_dir (and the logger's save_dir, "
            "--checkpoint.dirpath if set). Files already there are unchanged.",
        ) from error


def _same_class(first: str, second: str) -> bool:
    """Whether two class paths name one class ("distillers.KD" and "distillers.kd.KD" do)."""

    found = import_class_path(first)
    return first == second or (found is not None and found is import_class_path(second))


def plain_config(value: Any) -> Any:
    """A config node (jsonargparse Namespace, dict, tuple) as plain dicts and lists, for comparing."""
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    if isinstance(value, dict):
        return {key: plain_config(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_config(item) for item in value]
    return value


def run_folders(config: dict[str, Any]) -> list[Path]:
    """Where a fit's checkpoints go, over all its logger versions: ``checkpoint.dirpath`` when set,
    else the logger's ``save_dir/name`` (each ``version_N`` below it), else the root folder."""
    dirpath = (config.get("checkpoint") or {}).get("dirpath")
    if dirpath:
        return [Path(dirpath)]
    trainer = config.get("trainer") or {}
    root = Path(trainer.get("default_root_dir") or ".")
    logger = trainer.get("logger")
    if isinstance(logger, list):
        logger = logger[0] if logger else False
    if isinstance(logger, dict):
        args = logger.get("init_args") or {}
        return [Path(args.get("save_dir") or root) / str(args.get("name") or "lightning_logs")]
    if logger is False:
        return [root]
    return [root / "lightning_logs"]  # Lightning's default logger


def holds_no_test_subjects(data_config: dict[str, Any] | None) -> bool:
    """Whether a datamodule config asks for no test subjects (``test_subjects: 0`` and no k-fold split)."""
    init_args = (data_config or {}).get("init_args") or {}
    return init_args.get("test_subjects") == 0 and (init_args.get("num_folds") or 0) < 2
