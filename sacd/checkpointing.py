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

import lightning as L
from fsspec.implementations.local import LocalFileSystem
from lightning.pytorch.callbacks import ModelCheckpoint

from sacd.atomic import NO_SPACE


class ResumableCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` follows every epoch (written atomically by Lightning)."""

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):  # else the top-k save comes at epoch end, first
            self._refresh_last(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

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
