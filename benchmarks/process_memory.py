"""Peak memory of a child process, read from /proc while it runs (Linux).

A child's ``ru_maxrss`` (from ``wait4`` or ``RUSAGE_CHILDREN``) cannot be used: Linux carries the
parent's peak RSS over ``exec`` into the child's, so a child never reads below its parent's peak.
The high-water mark ``VmHWM`` belongs to the child's own address space and starts afresh at ``exec``.
"""

from __future__ import annotations

import threading
from pathlib import Path


def proc_memory_mib(pid: int) -> dict[str, float]:
    """Resident memory of a process from /proc: high-water mark, total, anonymous and file-backed, in MiB.

    Empty once the process is gone.
    """
    wanted = {"VmHWM": "hwm", "VmRSS": "rss", "RssAnon": "anon", "RssFile": "file"}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    values = {}
    for line in lines:
        key, _, rest = line.partition(":")
        if key in wanted:
            values[wanted[key]] = int(rest.split()[0]) / 1024
    return values


class MemorySampler(threading.Thread):
    """Polls a process's /proc status until stopped and keeps the peak of each kind of memory."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval_s = interval_s
        self.peaks = {"hwm": 0.0, "rss": 0.0, "anon": 0.0, "file": 0.0}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            for kind, value in proc_memory_mib(self.pid).items():
                self.peaks[kind] = max(self.peaks[kind], value)
            self._done.wait(self.interval_s)

    def stop(self) -> None:
        self._done.set()
        self.join()
