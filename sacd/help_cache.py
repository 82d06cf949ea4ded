"""``sacd --help`` and ``sacd fit --help`` in well under a second, after the first time.

The help of the Lightning subcommands lists every Trainer option and every model and datamodule
class, so it needs Lightning imported: about 5 s on a small CPU machine, nearly all of it in
``import lightning`` (torchmetrics, torchvision, scipy), not in the project. The text only changes
when the installed code does, so the first call renders it as usual and keeps a copy; later calls
print the copy without importing anything heavy. The key holds the command words, the terminal
width, the Python and package versions and the size and modification time of every source file of
``sacd``, ``distillers`` and ``datamodules``, so an edit or an upgrade renders it again. The copies
live in ``$SACD_CACHE_DIR`` (default ``$XDG_CACHE_HOME/sacd``, else ``~/.cache/sacd``); setting
``SACD_HELP_CACHE=0`` turns this off.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

#: the subcommands whose help is cached (their text depends only on installed code)
CACHED_COMMANDS = ("fit", "validate", "test", "predict")
#: packages whose versions shape the help text
PACKAGES = ("lightning", "jsonargparse", "torch", "sacd")
#: the project's packages, whose sources shape it too
SOURCES = ("sacd", "distillers", "datamodules")


def is_plain_help(words: Sequence[str]) -> bool:
    """``sacd --help`` or ``sacd CMD --help`` with nothing else (a config or option changes the text)."""
    if list(words) in (["--help"], ["-h"]):
        return True
    return len(words) == 2 and words[0] in CACHED_COMMANDS and words[1] in ("--help", "-h")


def cache_dir() -> Path:
    if os.environ.get("SACD_CACHE_DIR"):
        return Path(os.environ["SACD_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sacd"


def help_key(words: Sequence[str], root: Path | None = None) -> str:
    """What the help text depends on, hashed (``root``: the folder holding the project's packages)."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    root = Path(__file__).resolve().parents[1] if root is None else root
    files = []
    for package in SOURCES:
        for path in sorted((root / package).rglob("*.py")):
            stat = path.stat()
            files.append((path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    record = {"words": list(words), "columns": shutil.get_terminal_size().columns, "python": sys.version,
              "versions": versions, "files": files}  # fmt: skip
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:20]


def print_help(words: Sequence[str], render: Callable[[], object]) -> None:
    """Print the help for ``words``: the kept copy when there is one, else ``render()``'s (then keep it).

    ``render`` prints the help and raises ``SystemExit(0)``, as argparse does; so does this.
    """
    if os.environ.get("SACD_HELP_CACHE", "1") == "0":
        render()
        return
    path = cache_dir() / f"help-{help_key(words)}.txt"
    if path.is_file():
        sys.stdout.write(path.read_text())
        raise SystemExit(0)
    captured = io.StringIO()
    code: object = None
    with contextlib.redirect_stdout(captured):
        try:
            render()
        except SystemExit as done:
            code = done.code
    text = captured.getvalue()
    sys.stdout.write(text)
    if code in (0, None) and text:
        _keep(path, text)
    raise SystemExit(code)


def _keep(path: Path, text: str) -> None:
    """Write the copy atomically; a cache that cannot be written is only a slower next help."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
        temporary.write_text(text)
        os.replace(temporary, path)
    except OSError:
        pass
