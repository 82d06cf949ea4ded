"""Fault injection for the fault suite: snapshots of results, denied reads and writes, a full disk, CLI runs.

Every fault is injected at the lowest level the code under test reaches (``open``, ``os.open``, a file
object's ``write``), so the project's own handling is what is exercised. Permission faults use
``chmod`` where it denies access and a mock of the file functions where it does not (as root).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import hashlib
import io
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from conftest import run_main  # noqa: F401 - re-exported for the fault modules

from sacd.folder_locks import HOLDER_SUFFIX

#: name fragments of temporary files that a completed or failed write must not leave behind
PARTIAL_MARKERS = (".partial", ".sacd-write-test", ".tmp")

_SESSION: dict[str, Path] = {}


# -- snapshots -------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    """SHA-256 of every result file under ``root``, by path relative to it (locks are not results)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not _is_lock(path)
    }


def _is_lock(path: Path) -> bool:
    """A lock file (kept, empty, once released) or the holder record beside it (sacd.folder_locks)."""
    return path.name.endswith((".lock", HOLDER_SUFFIX))


def assert_unchanged(before: dict[str, str], root: Path) -> None:
    """Every file of ``before`` is still under ``root``, byte for byte."""
    after = snapshot(root)
    missing = sorted(set(before) - set(after))
    changed = sorted(name for name in before if name in after and after[name] != before[name])
    assert not missing and not changed, f"lost: {missing}, changed: {changed}"


def assert_no_partials(*roots: Path) -> None:
    """No temporary or half-written file (or hidden scratch folder) is left under ``roots``."""
    stray = [
        str(path)
        for root in roots
        if root.exists()
        for path in root.rglob("*")
        if any(marker in path.name for marker in PARTIAL_MARKERS) or (path.is_dir() and path.name.startswith("."))
    ]
    assert not stray, f"half-written files left behind: {stray}"


def new_entries(before: dict[str, str], root: Path) -> list[str]:
    """Files and folders (empty run folders too) under ``root`` that were not there at ``before``."""
    known = set(before) | {str(parent) for name in before for parent in Path(name).parents}
    names = (str(path.relative_to(root)) for path in root.rglob("*") if not _is_lock(path))
    return sorted(name for name in names if name not in known)


# -- denied access ---------------------------------------------------------------------------


def _inside(path: Any, folder: Path) -> bool:
    try:
        return Path(os.fsdecode(path)).resolve().is_relative_to(folder)
    except (TypeError, ValueError):
        return False


def _denied(path: Any) -> PermissionError:
    return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))


def _is_write_mode(mode: str) -> bool:
    return any(flag in mode for flag in "wax+")


@contextlib.contextmanager
def deny_reads(target: Path) -> Iterator[None]:
    """Make ``target`` unreadable: ``chmod 000``, plus a mock of ``open`` when that does not deny (root)."""
    target = target.resolve()
    mode = target.stat().st_mode
    os.chmod(target, 0)
    try:
        if _can_open(target):  # root reads anything: deny it where Python opens files instead
            real_open, real_os_open = builtins.open, os.open

            def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
                if isinstance(file, (str, bytes, os.PathLike)) and not _is_write_mode(mode) and _inside(file, target):
                    raise _denied(file)
                return real_open(file, mode, *args, **kwargs)

            def fake_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
                if _inside(path, target):
                    raise _denied(path)
                return real_os_open(path, flags, *args, **kwargs)

            with mock.patch("builtins.open", fake_open), mock.patch("io.open", fake_open), \
                    mock.patch("os.open", fake_os_open):  # fmt: skip
                yield
        else:
            yield
    finally:
        os.chmod(target, mode)


def _can_open(path: Path) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False


class DenyWrites:
    """Make ``folder`` read-only while entered: ``chmod a-w`` on it and everything in it, plus mocks where
    that does not deny (root). The mocks refuse creating, writing, renaming and making folders inside
    ``folder``, as the kernel does for a read-only folder of read-only files.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> DenyWrites:
        paths = [self.folder, *self.folder.rglob("*")]
        modes = {p: p.stat().st_mode for p in paths}
        for path in paths:
            os.chmod(path, 0o555 if path.is_dir() else 0o444)
        self._stack.callback(lambda: [os.chmod(p, m) for p, m in modes.items()])
        if _can_create(self.folder):
            self._install_mocks()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    def _install_mocks(self) -> None:
        folder = self.folder
        real_open, real_os_open, real_mkdir, real_replace = builtins.open, os.open, os.mkdir, os.replace
        real_rename = os.rename

        def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, (str, bytes, os.PathLike)) and _is_write_mode(mode) and _inside(file, folder):
                raise _denied(file)
            return real_open(file, mode, *args, **kwargs)

        def fake_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and _inside(path, folder):
                raise _denied(path)
            return real_os_open(path, flags, *args, **kwargs)

        def fake_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
            if _inside(path, folder):
                raise _denied(path)
            real_mkdir(path, *args, **kwargs)

        def moving(real: Callable[..., None]) -> Callable[..., None]:
            def fake(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
                if _inside(src, folder) or _inside(dst, folder):
                    raise _denied(dst)
                real(src, dst, *args, **kwargs)

            return fake

        for name, fake in (("builtins.open", fake_open), ("io.open", fake_open), ("os.open", fake_os_open),
                           ("os.mkdir", fake_mkdir), ("os.replace", moving(real_replace)),
                           ("os.rename", moving(real_rename))):  # fmt: skip
            self._stack.enter_context(mock.patch(name, fake))


def _can_create(folder: Path) -> bool:
    probe = folder / ".faultkit-probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


# -- a full disk -----------------------------------------------------------------------------


class DiskFull:
    """Fail the ``nth`` checkpoint save to a path satisfying ``hits`` with ENOSPC, after writing half.

    Patches the serialisation inside :class:`sacd.checkpointing.AtomicCheckpointIO`, so the fault
    strikes while the scratch file beside the checkpoint is being written, as a full disk would.
    ``before`` holds the snapshot of ``watch`` taken at the moment of the fault, ``tables`` the text
    of its CSV files then, and ``temp`` the scratch file being written.
    """

    def __init__(self, hits: Callable[[str], bool], nth: int, watch: Path) -> None:
        self.hits, self.nth, self.watch = hits, nth, watch
        self.count = 0
        self.before: dict[str, str] | None = None
        self.tables: dict[str, str] = {}
        self.temp: Path | None = None
        self._patches: list[Any] = []

    def __enter__(self) -> DiskFull:
        import torch

        from sacd.checkpointing import AtomicCheckpointIO

        real_save_checkpoint, real_torch_save = AtomicCheckpointIO.save_checkpoint, torch.save
        fault, saving = self, {}

        def save_checkpoint(io_: Any, checkpoint: Any, path: Any, storage_options: Any = None) -> None:
            saving["target"] = str(path)
            try:
                real_save_checkpoint(io_, checkpoint, path, storage_options)
            finally:
                saving.clear()

        def torch_save(obj: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
            target = saving.get("target")
            if target is not None and fault.hits(target):
                fault.count += 1
                if fault.count == fault.nth:
                    fault.temp = Path(handle.name)
                    scratch = str(fault.temp.relative_to(fault.watch))
                    fault.before = {key: value for key, value in snapshot(fault.watch).items() if key != scratch}
                    fault.tables = {str(p.relative_to(fault.watch)): p.read_text() for p in fault.watch.rglob("*.csv")}
                    whole = io.BytesIO()
                    real_torch_save(obj, whole)
                    handle.write(whole.getvalue()[: len(whole.getvalue()) // 2])
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real_torch_save(obj, handle, *args, **kwargs)

        self._patches = [mock.patch.object(AtomicCheckpointIO, "save_checkpoint", save_checkpoint),
                         mock.patch("sacd.checkpointing.torch.save", torch_save)]  # fmt: skip
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        for patch in self._patches:
            patch.stop()


# -- running commands ------------------------------------------------------------------------


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Torch on one thread: the suite's networks are tiny, and two threads on two busy cores mostly wait."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    with single_threaded():
        yield


@pytest.fixture
def finished_run(tmp_path_factory: pytest.TempPathFactory, tiny_teacher: Path) -> Path:
    """A finished KD run (checkpoints, metrics, test predictions), shared read-only."""
    return session_folder("finished-run", tmp_path_factory, lambda folder: finish_a_run(folder, tiny_teacher))


# -- data and results made once per session ---------------------------------------------------


def session_folder(name: str, factory: pytest.TempPathFactory, build: Callable[[Path], None]) -> Path:
    """A folder built once per test session (shared by every module of the suite)."""
    if name not in _SESSION:
        folder = factory.mktemp(name)
        build(folder)
        _SESSION[name] = folder
    return _SESSION[name]


def copy_of(source: Path, target: Path) -> Path:
    """A private copy of a session folder that a test may damage."""
    shutil.copytree(source, target)
    return target


def synthesize_nights(folder: Path) -> None:
    """Three synthetic 12-minute nights (subjects 0-2): EDF+ PSG, 16 px MJPEG video, CSV hypnogram, manifest."""
    from sacd.synth_cli import main as synth

    code = synth(["--out", str(folder), "--subjects", "3", "--first-subject", "0", "--hours", "0.2", "--size", "16",
                  "--codec", "mjpeg", "--seed", "11", "--no-report"])  # fmt: skip
    assert code == 0


def fit(args: list[str]) -> Any:
    """``sacd fit ARGS`` in-process, with pytest's own command line out of the way."""
    from sacd.cli import SacdCLI

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["sacd"])
        return SacdCLI.create(["fit", *args])


def cut_video(source: Path, target: Path, seconds: float) -> Path:
    """Copy the first ``seconds`` of a video's packets into ``target`` (no re-encoding): a clip cut short."""
    import av

    with av.open(str(source)) as reader, av.open(str(target), "w", format="mp4") as writer:
        stream = reader.streams.video[0]
        copied = writer.add_stream_from_template(stream)
        for packet in reader.demux(stream):
            if packet.pts is None:
                continue
            if packet.pts * stream.time_base >= seconds:
                break
            packet.stream = copied
            writer.mux(packet)
    return target


def finish_a_run(folder: Path, teacher: Path) -> None:
    """A finished KD fit on the tiny synthetic nights, tested after fit: ``folder/kd/version_0`` holds its
    checkpoints (best ``epoch000.ckpt`` and ``last.ckpt``), test reports and predictions, metrics.csv."""
    from conftest import distiller_config, write_config

    config = distiller_config(folder, "distillers.KD", str(teacher))
    config["test_after_fit"] = True
    fit(["-c", str(write_config(folder / "kd.yaml", config))])
    assert (folder / "kd" / "version_0" / "checkpoints" / "epoch000.test_predictions.csv").is_file()
