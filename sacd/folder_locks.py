"""One writer per folder: a lock that names its holder, so a second process waits or refuses clearly.

Two ``sacd sweep`` processes on one sweep folder, two ``sacd fit`` runs writing one checkpoint folder,
or two runs that both need a teacher nobody has trained yet would otherwise write the same files at
once. Each such folder gets a lock file taken with :class:`filelock.FileLock` (``flock`` on Unix, so
the operating system releases it the moment its process dies, even by ``kill -9``) and, beside it, a
small *holder record* (PID, host, command, start time) that the next process reads to say who holds
the folder. A record left behind by a killed process is recognised when its lock is free again, and
the new holder says it took over from it.

The locks coordinate processes on one machine, and machines sharing a filesystem whose locks work
across clients (local disks, NFSv4); on a filesystem without working locks they protect nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from sacd.atomic import atomic_write_text

#: suffix of the holder record beside a lock file
HOLDER_SUFFIX = ".holder.json"
#: how long a contender looks for the record of a holder that has just taken the lock
RECORD_GRACE_SECONDS = 2.0


class FolderBusyError(RuntimeError):
    """Another live process holds the folder; the message names it and what to do instead."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock: enough to find the process, or to see that it is gone."""

    pid: int
    host: str
    command: str
    since: str

    @classmethod
    def this_process(cls) -> LockHolder:
        program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
        name = program.parent.name if program.name == "__main__.py" else program.name  # `python -m sacd`: sacd
        command = " ".join([name, *sys.argv[1:]])[:200]
        return cls(os.getpid(), socket.gethostname(), command, dt.datetime.now().isoformat(timespec="seconds"))

    def describe(self) -> str:
        return f"PID {self.pid} on host {self.host} (`{self.command}`, since {self.since})"

    def is_alive(self) -> bool | None:
        """Whether the process still runs: known on this host only (None elsewhere)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # it runs, as another user
            return True
        return True


def holder_record(lock_file: Path) -> Path:
    return lock_file.with_name(lock_file.name + HOLDER_SUFFIX)


def read_holder(lock_file: str | Path) -> LockHolder | None:
    """The holder record beside ``lock_file``, or None (no record, or one cut short)."""
    try:
        fields = json.loads(holder_record(Path(lock_file)).read_text())
        return LockHolder(int(fields["pid"]), str(fields["host"]), str(fields["command"]), str(fields["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def exclusive(lock_file: str | Path, *, what: str, wait: bool = False, fix: str = "") -> Iterator[LockHolder | None]:
    """Hold ``lock_file`` for the block: the only process writing ``what``.

    Args:
        lock_file: the lock's path (its folder is created).
        what: the thing guarded, for messages ("sweep run kd-s0", "the teacher in runs/teachers/ab12").
        wait: wait for the holder to finish (saying once who it is) instead of refusing.
        fix: what a refused user can do instead, appended to the refusal.

    Yields:
        the holder whose stale record was taken over (a process killed while holding), else None.

    Raises:
        FolderBusyError: the lock is held by another process and ``wait`` is false.
    """
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_file), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        holder = _current_holder(lock_file)
        named = holder.describe() if holder else "another process (it has not written its record yet)"
        if not wait:
            raise FolderBusyError(f"{what} is in use by {named}; its lock is {lock_file}. {fix}".rstrip()) from None
        print(f"Waiting for {what}: it is in use by {named}", flush=True)
        lock.acquire(timeout=-1)
    try:
        stale = read_holder(lock_file)
        if stale is not None:
            print(f"Taking over the lock of {what} from {stale.describe()}, which ended without releasing it "
                  "(killed?)", flush=True)  # fmt: skip
        atomic_write_text(holder_record(lock_file), json.dumps(asdict(LockHolder.this_process())) + "\n")
        yield stale
    finally:
        holder_record(lock_file).unlink(missing_ok=True)  # before the release: never a newer holder's record
        lock.release()


def _current_holder(lock_file: Path) -> LockHolder | None:
    """The record of the process that holds ``lock_file`` now; one that has just taken it gets a moment."""
    deadline = time.monotonic() + RECORD_GRACE_SECONDS
    while True:
        holder = read_holder(lock_file)
        if holder is not None and holder.is_alive() is not False:
            return holder
        if time.monotonic() > deadline:
            return holder
        time.sleep(0.05)
