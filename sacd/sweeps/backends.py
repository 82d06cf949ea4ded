"""Where a sweep's runs execute: a local pool of processes, or a Ray cluster.

Neither is a scheduler of our own: locally, a fixed number of worker slots each start one
``sacd fit`` process at a time (threads only wait on them), sized by the GPUs or CPU cores;
on Ray, each run is a task with its CPU/GPU request and Ray places it. A run that another sweep on
the same folder is executing is not run again: it is waited for (see :func:`execute_run`).
"""

from __future__ import annotations

import os
import queue
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from sacd.terminal import interactive_output

from sacd.sweeps.runner import BUSY, execute_run
from sacd.sweeps.spec import RunSpec


CPU_THREADS_PER_RUN = 1
"""Threads of each run on a CPU-only machine, unless told: runs side by side, one per core.

Measured with ``benchmarks/sweep_parallelism.py`` on 2 cores (README, "Comparing methods: sweeps"): two
runs of one thread each finish a sweep in 0.79 of the time one run of two threads takes, because
the small students spend much of a step in work that does not parallelise (data assembly, Python,
small kernels), and a second process fills that time.
"""


def local_slots(workers: int | None, threads_per_run: int | None) -> tuple[int, int | None, list[str | None]]:
    """(workers, threads per run, device per slot): one slot per GPU, else cores / threads per run."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    cores = os.cpu_count() or 1
    if workers is None:
        workers = gpus or max(1, cores // max(threads_per_run or CPU_THREADS_PER_RUN, 1))
    if threads_per_run is None:
        threads_per_run = max(1, cores // workers)
    devices: list[str | None] = [str(i % gpus) for i in range(workers)] if gpus else [None] * workers
    return workers, threads_per_run, devices


def run_local(runs: list[RunSpec], base: list[Path], sweep_dir: Path, workers: int | None = None,
              threads_per_run: int | None = None, on_done: Callable[[dict], None] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Execute runs on this machine, ``workers`` at a time; returns their records in completion order."""
    workers, threads, devices = local_slots(workers, threads_per_run)
    free: queue.Queue[str | None] = queue.Queue()
    for device in devices:
        free.put(device)

    def one(run: RunSpec, wait: bool) -> dict[str, Any]:
        device = free.get()
        try:
            return execute_run(run, base, sweep_dir, threads=threads, device=device, wait=wait)
        finally:
            free.put(device)

    by_id = {run.run_id: run for run in runs}
    with ThreadPoolExecutor(max_workers=workers) as pool:

        def records() -> Iterator[dict[str, Any]]:
            """Every run once; one that another sweep on the folder is running is waited for last."""
            waiting = []
            for future in as_completed([pool.submit(one, run, False) for run in runs]):
                record = future.result()
                if record.get("status") == BUSY:
                    waiting.append(pool.submit(one, by_id[record["run_id"]], True))
                else:
                    yield record
            yield from (future.result() for future in as_completed(waiting))

        return _with_progress(records(), len(runs), on_done)


def run_ray(runs: list[RunSpec], base: list[Path], sweep_dir: Path, address: str | None = None,
            cpus_per_run: int = 1, gpus_per_run: float = 0, local_cpus: int | None = None,
            on_done: Callable[[dict], None] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Execute runs as Ray tasks, on ``address`` (a cluster) or a local Ray instance.

    The sweep folder, the configs and the teacher cache must be on storage every node sees.
    """
    try:
        import ray
    except ImportError as error:
        raise RuntimeError('the Ray backend needs Ray: pip install -e ".[ray]"') from error
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=local_cpus, include_dashboard=False, log_to_driver=False,
                     _node_ip_address="127.0.0.1")  # fmt: skip
    try:
        task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run)(execute_run)
        pending = [task.remote(run, base, sweep_dir, threads=cpus_per_run) for run in runs]

        def finished() -> Iterator[dict[str, Any]]:
            while pending:
                (ref,), _ = ray.wait(pending, num_returns=1)
                pending.remove(ref)
                yield ray.get(ref)

        return _with_progress(finished(), len(runs), on_done)
    finally:
        if started_here:
            ray.shutdown()


def _with_progress(records: Iterable[dict[str, Any]], total: int,
                   on_done: Callable[[dict], None] | None) -> list[dict[str, Any]]:  # fmt: skip
    """Collect records as runs finish, with a progress bar and a per-run callback."""
    collected = []
    with tqdm(total=total, desc="runs", unit="run", disable=not interactive_output()) as bar:
        for record in records:
            collected.append(record)
            bar.update()
            if bar.disable:  # a log file: a line per run instead of a redrawn bar
                print(f"runs: {len(collected)}/{total} done", flush=True)
            if on_done:
                on_done(record)
    return collected
