"""Faults while a fit runs or is resumed: a full disk, a folder that turns read-only, NaN in a batch, and a
checkpoint that does not fit the config. Each stops with an error naming the file (or input) and the fix,
and the checkpoints, metrics and reports written before the fault stay byte-identical."""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import distiller_config, write_config
from faultkit import (  # noqa: F401 - fixtures are found by name
    _one_torch_thread,
    finished_run,
    DenyWrites,
    DiskFull,
    assert_no_partials,
    assert_unchanged,
    copy_of,
    fit,
    new_entries,
    snapshot,
)

from distillers import KD
from sacd.checkpointing import ResumableCheckpoint
from sacd.cli import SacdCLI

#: best-by-epoch (mode min): epoch 0 stays the best, so later epochs save only last.ckpt
EPOCH_ZERO_IS_BEST = ["--checkpoint.monitor", "epoch", "--checkpoint.mode", "min"]
RUN = Path("kd") / "version_0"


def _config(root: Path, class_path: str, teacher: Path, epochs: int, **init_args: Any) -> str:
    """A tiny fit of ``epochs`` epochs of one training batch (of four clips) each."""
    config = distiller_config(root, class_path, str(teacher), **init_args)
    config["trainer"].update(max_epochs=epochs, limit_train_batches=1)
    config["data"]["init_args"]["batch_size"] = 4
    return str(write_config(root.parent / f"{root.name}-{class_path.rsplit('.', 1)[-1]}-{epochs}.yaml", config))


def _rows_of(text: str) -> list[dict[str, str]]:
    """CSV rows without their empty fields (a logger that adds a column rewrites the earlier rows)."""
    return [{key: value for key, value in row.items() if value} for row in csv.DictReader(io.StringIO(text))]


def _rows(path: Path) -> list[dict[str, str]]:
    return _rows_of(path.read_text())


# -- a full disk ---------------------------------------------------------------------------------------


def test_disk_full_on_the_second_checkpoint_keeps_the_previous_one_loadable(tmp_path: Path, tiny_teacher: Path) -> None:
    """The second save of last.ckpt runs out of space halfway: the error says so and where, the first
    last.ckpt and the best checkpoint are untouched, and the run resumes from them."""
    runs = tmp_path / "runs"
    config = _config(runs, "distillers.KD", tiny_teacher, epochs=2)
    last = runs / RUN / "checkpoints" / "last.ckpt"
    with DiskFull(lambda path: path.endswith("last.ckpt"), nth=2, watch=runs) as disk, pytest.raises(OSError) as caught:
        fit(["-c", config, *EPOCH_ZERO_IS_BEST])
    message = str(caught.value)
    assert caught.value.errno == errno.ENOSPC
    for fragment in ("disk full", str(last), f"device holding {last.parent}", "--checkpoint.dirpath", "unchanged"):
        assert fragment in message, fragment
    written = {str(RUN / "checkpoints" / name) for name in ("last.ckpt", "epoch000.ckpt")}
    assert disk.before is not None and written <= set(disk.before)
    metrics = str(RUN / "metrics.csv")
    assert_unchanged({key: value for key, value in disk.before.items() if key != metrics}, runs)
    if metrics in disk.tables:  # the log is appended to: the rows written before the fault are all kept
        assert all(row in _rows(runs / metrics) for row in _rows_of(disk.tables[metrics]))
    kept = sorted(Path(key).name for key in disk.before if "checkpoints" in key)
    assert sorted(path.name for path in last.parent.iterdir()) == kept, "a half-written checkpoint was left"
    assert disk.temp is not None and not disk.temp.exists(), "the half-written scratch file was left behind"
    assert_no_partials(runs)

    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 0
    resumed = fit(["-c", config, *EPOCH_ZERO_IS_BEST, "--ckpt_path", str(last)])
    assert resumed.trainer.current_epoch == 2


def test_disk_full_while_writing_test_predictions_keeps_the_previous_ones(
    tmp_path: Path, finished_run: Path, tiny_teacher: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-testing a checkpoint on a full disk: the earlier test report and predictions stay complete."""
    runs = copy_of(finished_run, tmp_path / "runs")
    best = runs / RUN / "checkpoints" / "epoch000.ckpt"
    predictions = best.with_name("epoch000.test_predictions.csv")
    before = snapshot(best.parent)
    real_write_text = Path.write_text

    def full_disk(path: Path, text: str, *args: Any, **kwargs: Any) -> int:
        if "test_predictions" in path.name and ".partial" in path.name:
            real_write_text(path, text[: len(text) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_text(path, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    config = _config(runs, "distillers.KD", tiny_teacher, epochs=1)
    with pytest.raises(OSError) as caught:
        SacdCLI.create(["test", "-c", config, "--ckpt_path", str(best)])
    assert caught.value.errno == errno.ENOSPC
    for fragment in ("disk full while writing", str(predictions), f"device holding {best.parent}", "unchanged"):
        assert fragment in str(caught.value), fragment
    assert_unchanged(before, best.parent)
    assert not new_entries(before, best.parent)
    assert_no_partials(runs)


# -- folders that cannot be written ---------------------------------------------------------------


def test_fit_into_a_read_only_run_folder_fails_before_training(
    tmp_path: Path, finished_run: Path, tiny_teacher: Path
) -> None:
    """Lightning would fail deep in its logger with a bare 'Permission denied'; the CLI names the folder first."""
    runs = copy_of(finished_run, tmp_path / "runs")
    before = snapshot(runs)
    config = _config(runs, "distillers.KD", tiny_teacher, epochs=1)
    with DenyWrites(runs), pytest.raises(PermissionError) as caught:
        fit(["-c", config])
    for fragment in (str(runs), "cannot write the run's outputs", "--trainer.default_root_dir", "unchanged"):
        assert fragment in str(caught.value), fragment
    assert_unchanged(before, runs)
    assert not new_entries(before, runs)
    assert_no_partials(runs)


def test_a_checkpoint_folder_turning_read_only_mid_fit_is_an_error_not_a_skipped_save(
    tmp_path: Path, tiny_teacher: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lightning drops a PermissionError from its checkpoint save: the run would go on with a stale
    last.ckpt. The checkpoint callback must notice the file was not written and stop."""
    runs = tmp_path / "runs"
    folder = runs / RUN / "checkpoints"
    config = _config(runs, "distillers.KD", tiny_teacher, epochs=2, cache_teacher_outputs=False)
    seen: dict[str, dict[str, str]] = {}
    with contextlib.ExitStack() as read_only:

        def at_epoch_start(callback: ResumableCheckpoint, trainer: Any, module: Any) -> None:
            if trainer.current_epoch == 1:
                seen["before"] = snapshot(folder)
                read_only.enter_context(DenyWrites(folder))

        monkeypatch.setattr(ResumableCheckpoint, "on_train_epoch_start", at_epoch_start)
        with pytest.raises(PermissionError) as caught:
            fit(["-c", config, *EPOCH_ZERO_IS_BEST])
    message = str(caught.value)
    for fragment in ("could not save checkpoint", str(folder / "last.ckpt"), f"make {folder} writable",
                     "--checkpoint.dirpath"):  # fmt: skip
        assert fragment in message, fragment
    assert set(seen["before"]) == {"epoch000.ckpt", "last.ckpt"}
    assert_unchanged(seen["before"], folder)
    assert not new_entries(seen["before"], folder)
    assert torch.load(folder / "last.ckpt", map_location="cpu", weights_only=True)["epoch"] == 0
    assert_no_partials(runs)


# -- NaN in a batch ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "label", "other"), [("video", "video", "EEG"), ("eeg", "EEG", "video")])
def test_nan_in_a_training_batch_stops_the_fit_naming_the_input_and_samples(
    tmp_path: Path, tiny_teacher: Path, monkeypatch: pytest.MonkeyPatch, key: str, label: str, other: str
) -> None:
    """Non-finite inputs would train on silently into NaN weights; the run must stop at the bad batch,
    say which input of which samples, and keep the checkpoints already written."""
    runs = tmp_path / "runs"
    folder = runs / RUN / "checkpoints"
    config = _config(runs, "distillers.KD", tiny_teacher, epochs=2, cache_teacher_outputs=False)
    seen: dict[str, Any] = {}

    def poison(module: KD, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        if module.current_epoch == 1 and batch_idx == 0:
            rows = [1, 3]
            seen.update(before=snapshot(folder), index=batch["index"][rows].tolist(),
                        subject=batch["subject"][rows].tolist())  # fmt: skip
            batch[key][rows] = float("nan")

    monkeypatch.setattr(KD, "on_train_batch_start", poison, raising=False)
    with pytest.raises(FloatingPointError) as caught:
        fit(["-c", config])
    message = str(caught.value)
    for fragment in ("training loss is not finite at epoch 1, batch 0", f"the {label} input of 2 sample(s)",
                     f"index {seen['index']}", f"subject {seen['subject']}", "fix or exclude those recordings",
                     f"kept; resume from them with --ckpt_path {folder / 'last.ckpt'}"):  # fmt: skip
        assert fragment in message, fragment
    assert f"the {other} input" not in message
    assert_unchanged(seen["before"], folder)
    assert not new_entries(seen["before"], folder)
    assert_no_partials(runs)


# -- resuming from a checkpoint that does not fit -----------------------------------------------------


def _resume_fails(runs: Path, config: str, ckpt: Path, *fragments: str) -> None:
    before = snapshot(runs)
    with pytest.raises(ValueError) as caught:
        fit(["-c", config, "--ckpt_path", str(ckpt)])
    for fragment in fragments:
        assert fragment in str(caught.value), f"{fragment!r} not in: {caught.value}"
    assert_unchanged(before, runs)
    assert not new_entries(before, runs), "the refused resume wrote into the run folder"
    assert_no_partials(runs)


def test_resuming_from_another_distillers_checkpoint_is_refused(
    tmp_path: Path, finished_run: Path, tiny_teacher: Path
) -> None:
    """Lightning would quietly train the checkpoint's KD in place of the configured CRD."""
    runs = copy_of(finished_run, tmp_path / "runs")
    last = runs / RUN / "checkpoints" / "last.ckpt"
    config = _config(runs, "distillers.CRD", tiny_teacher, epochs=2)
    _resume_fails(runs, config, last, str(last), "holds a distillers.KD run", "configures distillers.CRD",
                  str(runs / RUN / "config.yaml"), "drop --ckpt_path")  # fmt: skip


def test_resuming_with_another_student_size_is_refused(tmp_path: Path, finished_run: Path, tiny_teacher: Path) -> None:
    """Lightning would quietly rebuild the checkpoint's student and ignore the configured widths."""
    runs = copy_of(finished_run, tmp_path / "runs")
    last = runs / RUN / "checkpoints" / "last.ckpt"
    root = runs
    config = distiller_config(root, "distillers.KD", str(tiny_teacher))
    config["trainer"]["max_epochs"] = 2
    config["model"]["init_args"]["student"]["init_args"]["widths"] = [16, 32]
    path = str(write_config(tmp_path / "wide.yaml", config))
    _resume_fails(runs, path, last, str(last), "student network differs", "widths [8, 16] (config: [16, 32])",
                  "Resume with the config of the run")  # fmt: skip


def test_resuming_from_a_truncated_checkpoint_names_it(tmp_path: Path, finished_run: Path, tiny_teacher: Path) -> None:
    """A last.ckpt cut short (a copy interrupted) is named, with the other checkpoints as the way out."""
    runs = copy_of(finished_run, tmp_path / "runs")
    last = runs / RUN / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:4096])
    config = _config(runs, "distillers.KD", tiny_teacher, epochs=2)
    _resume_fails(runs, config, last, str(last), "not a readable Lightning checkpoint", "truncated",
                  "best epochNNN.ckpt")  # fmt: skip
