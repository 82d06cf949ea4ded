"""Atomic file writes: results already on disk are never left half-written or truncated."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


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
