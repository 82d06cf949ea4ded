"""Atomic file writes: results already on disk are never left half-written or truncated."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

#: errors that mean "this folder cannot take the file", as opposed to a bug in what is written
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
NO_ACCESS = (errno.EACCES, errno.EPERM, errno.EROFS)


def write_error(error: OSError, paths: Iterable[str | Path]) -> OSError:
    """``error`` (disk full, permission denied) restated with the files and folder it hit and the fix."""
    paths = [Path(p) for p in paths]
    names = ", ".join(str(p) for p in paths)
    folder = paths[0].parent if paths else Path()
    if error.errno in NO_SPACE:
        text = f"disk full while writing {names}: no space left on the device holding {folder}; free space there"
    else:
        text = f"cannot write {names} ({error.strerror or error}); make {folder} writable or write elsewhere"
    return OSError(error.errno, f"{text} and run again (files already there are unchanged)")


def _default_mode() -> int:
    """Permissions a plainly created file would get (temporary files are created private)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def staged(paths: Iterable[str | Path]) -> Iterator[list[Path]]:
    """Temporary paths beside ``paths`` (same suffix), renamed onto them only if the block succeeds.

    Several files staged together appear together: if writing any of them fails, none is renamed
    and every temporary file is removed.
    """
    targets = [Path(p) for p in paths]
    temps: list[Path] = []
    try:
        for path in targets:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".partial{path.suffix}")
            os.close(fd)
            temps.append(Path(name))
        yield temps
        mode = _default_mode()
        for temp, path in zip(temps, targets):
            os.chmod(temp, mode)
            os.replace(temp, path)
    except OSError as error:
        folders = {path.parent for path in targets}
        if error.errno in NO_SPACE + NO_ACCESS and (error.filename is None or Path(error.filename).parent in folders):
            raise write_error(error, targets) from error
        raise
    finally:
        for temp in temps:
            if temp.exists():
                temp.unlink()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    with staged([path]) as (tmp,):
        tmp.write_text(text)


def atomic_copy(source: str | Path, destination: str | Path) -> None:
    """Copy a file so that ``destination`` is either absent or complete, never partial."""
    with staged([destination]) as (tmp,):
        shutil.copyfile(source, tmp)
