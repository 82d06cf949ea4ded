"""Where a fit writes, claimed before it starts, so two fits never share a run folder unawares.

A versioned logger (CSV, TensorBoard) picks ``version_N`` as one more than the folders it finds, so
two fits started together both pick ``version_0`` and write one ``metrics.csv`` and one
``checkpoints/`` between them. Here the number is chosen and its folder created under a lock on the
logger's folder, so they get ``version_0`` and ``version_1``. The run's folder (its version folder,
or the checkpoint folder it is given) is then held for the whole fit (:mod:`sacd.folder_locks`): a second fit aimed at the same folder (the same
``--checkpoint.dirpath`` or logger version) is refused, naming the fit that holds it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lightning.fabric.utilities.rank_zero import rank_zero_only

from sacd.folder_locks import exclusive

#: lock file, in a logger's ``save_dir/name`` folder, held while a version number is chosen
VERSIONS_LOCK = ".versions.lock"
#: what a fit refused a run folder can do instead
BUSY_FIX = ("Wait for that fit to end, or write this one elsewhere: another --checkpoint.dirpath, or leave the "
            "logger's version unset so it takes the next free version_N.")  # fmt: skip


def share_logger_versions(loggers: Sequence[Any], *, claim: bool = False) -> None:
    """Loggers writing under one ``save_dir/name`` (CSV and TensorBoard side by side) use the first one's
    ``version_N``; each would otherwise count the other's new folder and take the next number.

    With ``claim``, the first one's number, when unset, is chosen under the folder's lock and its
    ``version_N`` folder created at once, so a fit starting at the same moment takes the next one.
    """
    first_of: dict[str, Any] = {}
    for logger in loggers:
        root = getattr(logger, "root_dir", None)
        if root is None or not hasattr(logger, "_version"):
            continue
        leader = first_of.setdefault(str(Path(root).resolve()), logger)
        if leader is logger:
            if claim and logger._version is None and _is_local(root):
                _claim_version(logger)
        elif logger._version is None:
            logger._version = leader.version


def _claim_version(logger: Any) -> None:
    root = Path(logger.root_dir)
    with exclusive(root / VERSIONS_LOCK, what=f"the version numbers of {root}", wait=True):
        version = logger.version  # the logger's own rule: one more than the version_N folders there
        (root / (version if isinstance(version, str) else f"version_{version}")).mkdir(parents=True, exist_ok=True)


def run_folder(trainer: Any) -> Path:
    """The folder a fit writes its run to, by Lightning's rule for checkpoints: the callback's ``dirpath``,
    else the first logger's ``save_dir/name/version_N`` (its ``checkpoints/`` inside), else
    ``default_root_dir/checkpoints``."""
    dirpath = getattr(trainer.checkpoint_callback, "dirpath", None)
    if dirpath is not None:
        return Path(dirpath)
    if trainer.loggers:
        logger = trainer.loggers[0]
        version = logger.version
        version = version if isinstance(version, str) else f"version_{version}"
        return Path(logger.save_dir or trainer.default_root_dir) / str(logger.name) / version
    return Path(trainer.default_root_dir) / "checkpoints"


@contextlib.contextmanager
def claimed_run_folder(trainer: Any) -> Iterator[None]:
    """Claim the fit's logger versions and hold its run folder until the block ends.

    Only the first process of a distributed run claims (the others are its own workers), and a
    ``fast_dev_run``, which writes nothing, claims nothing.
    """
    if rank_zero_only.rank != 0 or trainer.fast_dev_run or trainer.checkpoint_callback is None:
        yield
        return
    share_logger_versions(trainer.loggers, claim=True)
    folder = run_folder(trainer)
    if not _is_local(folder):
        yield
        return
    # the lock sits beside the folder, not in it: loggers warn about a version folder that is not empty
    with exclusive(folder.parent / f".{folder.name}.lock", what=f"the run folder {folder}", fix=BUSY_FIX):
        yield


def _is_local(path: str | os.PathLike[str]) -> bool:
    """Whether a path is on this machine's filesystem (``s3://`` and the like are not locked)."""
    return "://" not in os.fspath(path)
