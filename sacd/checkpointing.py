"""The checkpoint callback every ``sacd fit`` uses: the best by validation macro-F1, and a
``last.ckpt`` that is always the latest epoch.

Lightning's ``save_last`` refreshes ``last.ckpt`` only when a top-k checkpoint is saved, so after
an epoch that did not improve the monitored metric, ``last.ckpt`` is older than the run and
``--ckpt_path last`` would replay epochs. Here it is written at the end of every validation (or
training epoch), so resuming continues exactly where the run stopped.

A checkpoint that cannot be written stops the run with an error naming the file and the fix (disk
full, permission denied); the checkpoints already written stay as they were. Lightning itself
drops a ``PermissionError`` from its save, so a local file that was not replaced is checked for.
"""

from __future__ import annotations

import errno
import os
import uuid
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from sacd.atomic import NO_SPACE


class ResumableCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` follows every epoch (written atomically, see
    :class:`AtomicCheckpointIO`), whose failed saves name the file and the fix, and which remembers
    the best checkpoint across a resume into another folder.

    A fit resumed with ``--ckpt_path`` under a versioned logger writes to a new ``version_N+1``
    folder. Lightning then keeps only the best checkpoint's path, not its score, so the resumed run's
    first validation would become "best" and the run would end by testing another checkpoint than
    an uninterrupted run. Here the whole best-checkpoint record comes across; checkpoints of the
    earlier folder are never deleted from the new run.
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved_folder = state_dict.get("dirpath", self.dirpath)
        if saved_folder == self.dirpath:
            super().load_state_dict(state_dict)
            return
        best = state_dict.get("best_model_path") or ""
        if best and not Path(best).is_file():
            warnings.warn(f"resuming: the best checkpoint so far, {best}, is gone; the best is chosen again from "
                          "the epochs still to come", stacklevel=2)  # fmt: skip
            return
        kept = {path: score for path, score in (state_dict.get("best_k_models") or {}).items() if Path(path).is_file()}
        self.best_model_path, self.best_model_score = best, state_dict.get("best_model_score")
        self.best_k_models = kept
        self.kth_best_model_path = state_dict.get("kth_best_model_path", "") if kept else ""
        self.kth_value = state_dict.get("kth_value", self.kth_value) if kept else self.kth_value
        self.current_score = state_dict.get("current_score")

    def _remove_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        """Remove a superseded checkpoint of this run's folder; one of an earlier run's folder stays."""
        if self.dirpath is None or Path(filepath).resolve().parent == Path(self.dirpath).resolve():
            super()._remove_checkpoint(trainer, filepath)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):  # else the top-k save comes at epoch end, first
            self._refresh_last(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.fast_dev_run:  # Lightning's own end-of-training save_last ignores fast_dev_run
            super().on_train_end(trainer, pl_module)

    def _refresh_last(self, trainer: L.Trainer) -> None:
        if not self.save_last or self._should_skip_saving_checkpoint(trainer):
            return
        if self._last_global_step_saved != trainer.global_step or not self.last_model_path:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        local = trainer.is_global_zero and isinstance(self._fs, LocalFileSystem)
        before = _stamp(filepath) if local else None
        try:
            super()._save_checkpoint(trainer, filepath)
        except OSError as error:
            message = _not_saved(filepath, error.errno, error.strerror or str(error))
            raise (OSError(error.errno, message) if error.errno else OSError(message)) from error
        if local and _stamp(filepath) in (None, before):
            raise PermissionError(errno.EACCES, _not_saved(filepath, errno.EACCES, "permission denied"))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Local checkpoints are written to a temporary file in the checkpoint's own folder, synced, then
    renamed over the target, so a kill at any moment leaves the previous file or the new one.

    Lightning's own save goes through a temporary file in the system's temp folder; when that is on
    another filesystem (a tmpfs ``/tmp``), the final move is a copy, and a kill during the copy
    leaves a truncated ``last.ckpt``. The temporary name holds no ``last``, so Lightning's search
    for the newest ``last*.ckpt`` (``--ckpt_path last``) never picks up a partial file. Remote paths
    (``s3://`` and the like) keep Lightning's handling.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        target = str(path)
        if "://" in target and not target.startswith("file://"):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        target_path = Path(target.removeprefix("file://"))
        target_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = target_path.parent / f".checkpoint-{uuid.uuid4().hex}.partial"  # hex digits never spell "last"
        try:
            with open(temporary, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target_path)
        finally:
            temporary.unlink(missing_ok=True)


def _stamp(path: str) -> tuple[int, int, int, int] | None:
    """What changes whenever a file is replaced or rewritten (None: no file)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def _not_saved(filepath: str, code: int | None, reason: str) -> str:
    folder = os.path.dirname(filepath)
    if code in NO_SPACE:
        cause, fix = f"disk full: no space left on the device holding {folder}", "free space there"
    else:
        cause, fix = reason, f"make {folder} writable"
    return (
        f"could not save checkpoint {filepath} ({cause}); {fix} or set --checkpoint.dirpath to another folder, then "
        "resume with --ckpt_path and the last checkpoint kept. Checkpoints already written are unchanged."
    )


def newest_last_checkpoint(folders: list[Path]) -> Path | None:
    """The most recently written ``last*.ckpt`` under ``folders`` (any logger version), or None.

    Lightning looks for ``--ckpt_path last`` only in the new run's own folder, which a versioned
    logger (``version_N``) has just created empty; a killed run's checkpoint is in an earlier one.
    """
    found = [path for folder in folders if folder.is_dir() for path in folder.rglob("last*.ckpt") if path.is_file()]
    return max(found, key=lambda path: path.stat().st_mtime_ns, default=None)
