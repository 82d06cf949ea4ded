"""Training-epoch time and peak memory of ``sacd fit`` as the number of nights grows 1x, 2x, 4x.

    python benchmarks/scaling.py               # KD, X3D tiny on 8 frames of 32 px, 1/2/4 nights per split
    python benchmarks/scaling.py --threads 1   # on a machine shared with other work
    python benchmarks/scaling.py --rounds 2 --workers 0 1 2 --storage mmap
    python benchmarks/scaling.py --nights 1 4 --epochs-per-night 960 --rounds 1 --epochs 2 --workers 0  # memory

A size n trains on n synthetic nights, validates on n (and holds n out for testing, unused), with
the quick-start model (experiments/quickstart.yaml, its distiller replaced by ``--method``) and a
teacher checkpoint trained once at the start. Every configuration is its own
``python -m sacd fit -c CONFIG`` process, so memory is per configuration:

- storage ``memory``: the default ``SyntheticNights`` (no ``cache_dir``): each process generates its
  nights and keeps them in RAM;
- storage ``mmap``: ``cache_dir`` set; the cache is filled once before the rounds and every process
  memory-maps it.

An ``EpochTimer`` callback (added through the config) stamps each epoch. The first epoch (warm-up,
teacher-output cache fill) is dropped; the fastest of the later epochs is the run's epoch time
(other work on the machine only adds time), split into training (epoch start to last batch) and the
rest (validation, checkpoint, logging). Process start-up and data generation happen before the
first epoch and are never timed. While a process runs, the parent samples its /proc status every
50 ms: peak RSS is the process's own high-water mark (VmHWM), shown with the peaks of its anonymous
and file-backed resident memory; DataLoader worker processes are not included. (``ru_maxrss`` from
``wait4`` or ``RUSAGE_CHILDREN`` would not do: Linux carries the parent's peak RSS over ``exec`` into
the child's, so a child never reads below its parent's peak.)

Configurations run in interleaved rounds (order rotated every round) and every ratio is taken
against the 1x configuration of the same storage in the same round, so the machine's drift cancels;
the tables show medians over rounds. Reading them: the ideal time ratio is the size factor (an
epoch's work is proportional to its nights), "ok" when within ``--tolerance`` of it; a ratio below
ideal means a fixed per-epoch cost. For memory the expectation is bounded growth: "anon" is private
memory (what holding nights in RAM costs), "file" is file-backed pages (libraries, and the cache
pages a memory-mapped run has read: page cache the kernel can drop), "fit data" is the bytes of the
train and val nights a fit reads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import yaml
from process_memory import MemorySampler

ROOT = Path(__file__).resolve().parent.parent
STUDENT_CONFIG = ROOT / "experiments" / "quickstart.yaml"
TEACHER_CONFIG = ROOT / "experiments" / "quickstart_teacher.yaml"


class EpochTimer(L.Callback):
    """Writes, when training ends, the start of every epoch, the end of its last batch and the end of training.

    Lives here so that a ``sacd fit`` config can name it as ``scaling.EpochTimer`` (with this folder on
    PYTHONPATH): the run being timed is the real CLI, callbacks and checkpointing included.
    """

    def __init__(self, output: str) -> None:
        self.output = output
        self.epoch_starts: list[float] = []
        self.train_ends: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epoch_starts.append(time.perf_counter())
        self.train_ends.append(float("nan"))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:  # fmt: skip
        self.train_ends[-1] = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        stamps = {"epoch_starts": self.epoch_starts, "train_ends": self.train_ends, "end": time.perf_counter()}
        Path(self.output).write_text(json.dumps(stamps))


@dataclass(frozen=True)
class Config:
    """One measured configuration: nights per split, where the nights live, DataLoader workers."""

    nights: int
    storage: str
    workers: int


@dataclass
class Measurement:
    """What one ``sacd fit`` process gave: its fastest timed epoch in parts (seconds) and memory peaks (MiB)."""

    epoch_s: float
    train_s: float
    rest_s: float
    peak_rss_mib: float
    peak_anon_mib: float
    peak_file_mib: float


# -- configs ---------------------------------------------------------------------------------------


def data_section(nights: int, args: argparse.Namespace, cache_dir: str | None, workers: int) -> dict:
    """The SyntheticNights section for ``nights`` nights in each of train, val and test."""
    return {"class_path": "datamodules.SyntheticNights", "init_args": {
        "num_subjects": 3 * nights, "epochs_per_night": args.epochs_per_night, "val_subjects": nights,
        "test_subjects": nights, "frames": args.frames, "frame_size": args.frame_size, "seed": 0,
        "batch_size": args.batch_size, "cache_dir": cache_dir, "num_workers": workers}}  # fmt: skip


def trainer_section(folder: Path, epochs: int, callbacks: list[dict]) -> dict:
    """The quick-start trainer, its logs and checkpoints in ``folder``, no progress bar."""
    logger = {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(folder)}}
    return {"max_epochs": epochs, "accelerator": "cpu", "devices": 1, "log_every_n_steps": 10,
            "default_root_dir": str(folder), "logger": logger, "enable_progress_bar": False,
            "enable_model_summary": False, "callbacks": callbacks}  # fmt: skip


def teacher_config(folder: Path, args: argparse.Namespace) -> dict:
    """The quick-start teacher for one training step (its speed, not its accuracy, matters here)."""
    config = yaml.safe_load(TEACHER_CONFIG.read_text())
    config["trainer"] = trainer_section(folder, 1, []) | {"max_steps": 1, "limit_val_batches": 1}
    config["checkpoint"] = {"dirpath": str(folder / "checkpoints")}
    config["data"] = data_section(1, args, None, 0)
    return config


def student_config(config: Config, folder: Path, teacher: Path, cache_dir: str, args: argparse.Namespace) -> dict:
    """The quick-start distillation run for ``config``, with the epoch timer writing to ``folder``."""
    model = yaml.safe_load(STUDENT_CONFIG.read_text())["model"]
    model["class_path"] = f"distillers.{args.method}"
    model["init_args"].pop("teacher_config", None)
    model["init_args"]["teacher_checkpoint"] = str(teacher)
    timer = {"class_path": "scaling.EpochTimer", "init_args": {"output": str(folder / "epochs.json")}}
    storage = cache_dir if config.storage == "mmap" else None
    return {"seed_everything": 0, "test_after_fit": False, "model": model,
            "trainer": trainer_section(folder, args.epochs, [timer]),
            "checkpoint": {"dirpath": str(folder / "checkpoints")},
            "data": data_section(config.nights, args, storage, config.workers)}  # fmt: skip


# -- running one process ---------------------------------------------------------------------------


def child_environment(threads: int | None) -> dict[str, str]:
    """This folder on PYTHONPATH (for ``scaling.EpochTimer``) and, if given, torch's intra-op thread count."""
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def run_fit(config_path: Path, log_path: Path, threads: int | None) -> dict[str, float]:
    """Run ``sacd fit -c config_path``; return the peaks of its memory (MiB) sampled from /proc."""
    env = child_environment(threads)
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "sacd", "fit", "-c", str(config_path)], stdout=log,
                                   stderr=subprocess.STDOUT, env=env, cwd=ROOT)  # fmt: skip
        sampler = MemorySampler(process.pid)
        sampler.start()
        returncode = process.wait()
        sampler.stop()
    if returncode != 0:
        raise SystemExit(f"sacd fit -c {config_path} failed:\n{log_path.read_text()[-3000:]}")
    return sampler.peaks


def epoch_parts(stamps: dict) -> tuple[float, float, float]:
    """(epoch, training, rest) seconds of the fastest epoch after the first.

    The fastest, because other work on the machine only ever adds time: with torch's threads on
    every core, a busy neighbour can stretch one epoch several-fold.
    """
    starts = stamps["epoch_starts"] + [stamps["end"]]
    epochs = [(end - start, train_end - start)
              for start, end, train_end in zip(starts[1:-1], starts[2:], stamps["train_ends"][1:])]  # fmt: skip
    epoch, train = min(epochs)
    return epoch, train, epoch - train


def measure(config: Config, work: Path, teacher: Path, cache_dir: str, args: argparse.Namespace) -> Measurement:
    """One ``sacd fit`` process of ``config``: its epoch times and memory peaks."""
    folder = Path(tempfile.mkdtemp(dir=work, prefix="run-"))
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(student_config(config, folder, teacher, cache_dir, args)))
    peaks = run_fit(config_path, folder / "fit.log", args.threads)
    epoch, train, rest = epoch_parts(json.loads((folder / "epochs.json").read_text()))
    return Measurement(epoch, train, rest, peaks["hwm"], peaks["anon"], peaks["file"])


# -- set-up before the rounds ----------------------------------------------------------------------


def make_teacher(work: Path, args: argparse.Namespace) -> Path:
    """A quick-start teacher checkpoint from one training step through ``sacd fit``."""
    folder = work / "teacher"
    folder.mkdir()
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(teacher_config(folder, args)))
    run_fit(config_path, folder / "fit.log", args.threads)
    return folder / "checkpoints" / "last.ckpt"


def fill_cache(cache_dir: str, nights: int, args: argparse.Namespace) -> float:
    """Generate every night of the largest size into the memory-mapped cache; return the mean bytes of a night."""
    from datamodules import SyntheticNights

    data = SyntheticNights(**data_section(nights, args, cache_dir, 0)["init_args"])
    sizes = [data.night(s).video.nbytes + data.night(s).eeg.nbytes for s in data.split.subjects]
    return statistics.mean(sizes)


def configurations(args: argparse.Namespace) -> list[Config]:
    """Every size for every storage at the first worker count; the other worker counts at the largest size."""
    largest, first_workers = max(args.nights), args.workers[0]
    scaling = [Config(n, storage, first_workers) for storage in args.storage for n in args.nights]
    extra = [Config(largest, args.storage[-1], w) for w in args.workers[1:]]
    return scaling + extra


# -- tables ----------------------------------------------------------------------------------------


def median_of(runs: list[Measurement], field: str) -> float:
    return statistics.median(getattr(run, field) for run in runs)


def scaling_row(config: Config, runs: list[Measurement], base: list[Measurement], ratios: list[float],
                ideal: float, night_mib: float, tolerance: float) -> str:  # fmt: skip
    """One markdown row: a size's times, its time ratio against ideal, and its memory."""
    ratio = statistics.median(ratios)
    ok = "yes" if abs(ratio - ideal) <= tolerance * ideal else "no"
    rss_ratio = median_of(runs, "peak_rss_mib") / median_of(base, "peak_rss_mib")
    cells = [config.storage, str(config.nights), f"{2 * config.nights * night_mib:.1f}",
             *(f"{median_of(runs, field):.2f}" for field in ("epoch_s", "train_s", "rest_s")),
             f"{ratio:.2f}", f"{min(ratios):.2f}-{max(ratios):.2f}", f"{ideal:.1f}", ok,
             f"{median_of(runs, 'peak_rss_mib'):.0f}", f"{rss_ratio:.2f}",
             f"{median_of(runs, 'peak_anon_mib'):.0f}", f"{median_of(runs, 'peak_file_mib'):.0f}"]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def print_scaling(results: dict[Config, list[Measurement]], ratios: dict[Config, list[float]],
                  night_mib: float, args: argparse.Namespace) -> None:  # fmt: skip
    """The time and memory table of the sizes at the first worker count."""
    print(f"\n{args.method}, X3D tiny, {args.frames} frames of {args.frame_size} px, batch {args.batch_size}, "
          f"{args.epochs_per_night} epochs per night, {args.rounds} rounds, workers {args.workers[0]}, "
          f"torch threads {args.threads or 'default'}; "
          "ratios against 1x of the same storage in the same round (median over rounds)\n")  # fmt: skip
    print("| storage | nights/split | fit data MiB | epoch s | train s | val+ckpt s | time ratio | min-max | ideal "
          f"| within {args.tolerance:.0%} | peak RSS MiB | RSS ratio | peak anon MiB | peak file MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|---:|")
    smallest = min(args.nights)
    for storage in args.storage:
        base = results[Config(smallest, storage, args.workers[0])]
        for nights in args.nights:
            config = Config(nights, storage, args.workers[0])
            print(scaling_row(config, results[config], base, ratios[config], nights / smallest, night_mib,
                              args.tolerance))


def print_workers(results: dict[Config, list[Measurement]], ratios: dict[Config, list[float]],
                  args: argparse.Namespace) -> None:  # fmt: skip
    """Epoch time per DataLoader worker count at the largest size, against the first count."""
    if len(args.workers) < 2:
        return
    largest, storage = max(args.nights), args.storage[-1]
    print(f"\nDataLoader workers at {largest} nights per split ({storage}), {os.cpu_count()} CPU cores, torch threads "
          f"{args.threads or 'default'}; "
          f"ratio against {args.workers[0]} workers in the same round (median over rounds)\n")
    print("| workers | epoch s | train s | val+ckpt s | epoch time ratio | min-max |")
    print("|---:|---:|---:|---:|---:|---:|")
    for workers in args.workers:
        config = Config(largest, storage, workers)
        runs, spread = results[config], ratios[config] if workers != args.workers[0] else [1.0]
        print(f"| {workers} | {median_of(runs, 'epoch_s'):.2f} | {median_of(runs, 'train_s'):.2f} | "
              f"{median_of(runs, 'rest_s'):.2f} | {statistics.median(spread):.2f} | "
              f"{min(spread):.2f}-{max(spread):.2f} |")


# -- main ------------------------------------------------------------------------------------------


def reference(config: Config, args: argparse.Namespace) -> Config:
    """The configuration a ratio is taken against: 1x of the same storage, or the first worker count."""
    if config.workers != args.workers[0]:
        return Config(config.nights, config.storage, args.workers[0])
    return Config(min(args.nights), config.storage, config.workers)


def run_rounds(configs: list[Config], work: Path, teacher: Path, cache_dir: str, args: argparse.Namespace
               ) -> tuple[dict[Config, list[Measurement]], dict[Config, list[float]]]:  # fmt: skip
    """Measure every configuration once per round (order rotated), with ratios within each round."""
    results: dict[Config, list[Measurement]] = {config: [] for config in configs}
    ratios: dict[Config, list[float]] = {config: [] for config in configs}
    for round_index in range(args.rounds):
        shift = round_index % len(configs)
        this_round = {config: measure(config, work, teacher, cache_dir, args)
                      for config in configs[shift:] + configs[:shift]}  # fmt: skip
        for config, measured in this_round.items():
            results[config].append(measured)
            ratios[config].append(measured.epoch_s / this_round[reference(config, args)].epoch_s)
        summary = ", ".join(f"{c.nights}/{c.storage}/{c.workers}w {m.epoch_s:.2f} s" for c, m in this_round.items())
        print(f"round {round_index + 1}/{args.rounds}: {summary}", flush=True)
    return results, ratios


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="KD", help="a distillers class name (default KD)")
    parser.add_argument("--nights", type=int, nargs="+", default=[1, 2, 4], help="nights per split")
    parser.add_argument("--storage", nargs="+", choices=["memory", "mmap"], default=["memory", "mmap"])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2],
                        help="DataLoader workers: the first for the scaling table, the others at the largest size")
    parser.add_argument("--epochs-per-night", type=int, default=128, help="a multiple of --batch-size: full batches")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--frame-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4, help="training epochs per run; the first is warm-up")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch intra-op threads of the runs (default: torch's, one per "
                        "core); 1 keeps a shared machine's other work from stalling them")
    parser.add_argument("--tolerance", type=float, default=0.10, help="relative distance from ideal called ok")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.epochs < 2:
        raise SystemExit("need --epochs >= 2: the first epoch is warm-up")
    args.nights = sorted(set(args.nights))
    configs = configurations(args)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        teacher = make_teacher(work, args)
        cache_dir = str(work / "cache")
        night_bytes = fill_cache(cache_dir, max(args.nights), args)
        print(f"teacher and {max(args.nights) * 3} cached nights ready in {time.perf_counter() - start:.0f} s; "
              f"{len(configs)} configurations x {args.rounds} rounds", flush=True)
        results, ratios = run_rounds(configs, work, teacher, cache_dir, args)
    print_scaling(results, ratios, night_bytes / 2**20, args)
    print_workers(results, ratios, args)


if __name__ == "__main__":
    main()
