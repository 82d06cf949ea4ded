"""End-to-end training throughput (samples/s) of every distiller, data pipeline included, against Vanilla's.

    python benchmarks/training_throughput.py                   # every distiller, quick-start sizes
    python benchmarks/training_throughput.py --methods KD SACD --rounds 2 --steps 6
    python benchmarks/training_throughput.py --workers 2        # DataLoader worker processes
    python benchmarks/training_throughput.py --threads 1        # on a machine shared with other work

Unlike ``distiller_step_time.py`` (forward, backward and optimiser step alone), this times what a
training run waits for: the real ``SyntheticNights`` DataLoader (sampling, item assembly, video
standardisation, collation) and a Lightning ``Trainer.fit`` of each method with its teacher-output
cache on (the default). A quick-start teacher checkpoint is trained once (one step) at the start.

Each fit runs ``--epochs`` epochs of ``--steps`` batches, one epoch being the whole training set.
The first epoch warms up and fills the teacher-output cache; the later ones are timed from the start
of the epoch to the end of its last batch, and a fit's throughput is that of its fastest timed epoch
(samples over time; other work on the machine only ever adds time). Methods run in interleaved
rounds (order rotated every round) and each ratio is taken against Vanilla's throughput in the same
round, so the machine's drift cancels; the table shows medians over rounds.
A ratio below 1 is the method's cost over training the student alone.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch

from datamodules import SyntheticNights
from distiller_step_time import make_teacher  # this folder is on sys.path when run as a script


class ThroughputTimer(L.Callback):
    """Samples and wall time of each training epoch after the first ``skip_epochs``."""

    def __init__(self, skip_epochs: int) -> None:
        self.skip_epochs = skip_epochs
        self.epochs: list[tuple[int, float]] = []  # (samples, seconds from epoch start to its last batch's end)
        self._epoch_start = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.perf_counter()
        if trainer.current_epoch >= self.skip_epochs:
            self.epochs.append((0, 0.0))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:  # fmt: skip
        if trainer.current_epoch >= self.skip_epochs:
            samples, _ = self.epochs[-1]
            self.epochs[-1] = (samples + len(batch["label"]), time.perf_counter() - self._epoch_start)

    @property
    def samples_per_second(self) -> float:
        """Of the fastest timed epoch: other work on the machine only ever slows an epoch down."""
        return max(samples / seconds for samples, seconds in self.epochs)


def distiller_names() -> list[str]:
    """Every distiller class ``distillers`` exports (not the base), Vanilla first."""
    import distillers

    return distillers.method_names()


def fit_throughput(name: str, data: SyntheticNights, teacher: str, args: argparse.Namespace) -> float:
    """Samples per second of one method's fit after its warm-up epoch."""
    import distillers
    from sacd.models import create_student

    L.seed_everything(0, verbose=False)
    model = getattr(distillers, name)(
        create_student(args.student), teacher_checkpoint=teacher, num_train_samples=data.num_train_samples,
        video_shape=data.video_shape, eeg_shape=data.eeg_shape,
    )
    timer = ThroughputTimer(skip_epochs=1)
    trainer = L.Trainer(max_epochs=args.epochs, limit_val_batches=0, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[timer])  # fmt: skip
    trainer.fit(model, datamodule=data)
    return timer.samples_per_second


def make_data(args: argparse.Namespace) -> SyntheticNights:
    """Synthetic nights whose training set is ``steps`` full batches (one epoch), built before any timing."""
    train_subjects = 2
    epochs_per_night = args.steps * args.batch_size // train_subjects
    data = SyntheticNights(num_subjects=train_subjects + 2, epochs_per_night=max(epochs_per_night, 20),
                           val_subjects=1, test_subjects=1, frames=args.frames, frame_size=args.frame_size,
                           batch_size=args.batch_size, num_workers=args.workers)  # fmt: skip
    data.setup("fit")
    return data


def run_rounds(methods: list[str], data: SyntheticNights, teacher: str, args: argparse.Namespace
               ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:  # fmt: skip
    """Throughput of every method once per round (order rotated), with ratios to Vanilla's in the same round."""
    throughput: dict[str, list[float]] = {name: [] for name in methods}
    ratios: dict[str, list[float]] = {name: [] for name in methods}
    for round_index in range(args.rounds):
        shift = round_index % len(methods)
        this_round = {name: fit_throughput(name, data, teacher, args) for name in methods[shift:] + methods[:shift]}
        for name, value in this_round.items():
            throughput[name].append(value)
            ratios[name].append(value / this_round["Vanilla"])
        print(f"round {round_index + 1}/{args.rounds}: Vanilla {this_round['Vanilla']:.1f} samples/s", flush=True)
    return throughput, ratios


def print_table(methods: list[str], throughput: dict[str, list[float]], ratios: dict[str, list[float]],
                args: argparse.Namespace) -> None:  # fmt: skip
    print(f"\nstudent {args.student}, {args.frames} frames of {args.frame_size} px, batch {args.batch_size}, "
          f"{args.steps} steps per epoch, fastest of {args.epochs - 1} timed epochs, {args.workers} DataLoader "
          f"workers, torch threads {torch.get_num_threads()}, {args.rounds} rounds; teacher-output cache on; "
          "median over rounds\n")  # fmt: skip
    print("| method | samples/s | / Vanilla (same round) | min-max ratio |")
    print("|---|---:|---:|---:|")
    for name in methods:
        print(f"| {name} | {statistics.median(throughput[name]):.1f} | {statistics.median(ratios[name]):.2f} | "
              f"{min(ratios[name]):.2f}-{max(ratios[name]):.2f} |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", help="distiller class names (default: all; Vanilla is always run)")
    parser.add_argument("--student", default="x3d_tiny", help="a sacd.models.create_student preset")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--frame-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8, help="batches per epoch (the whole training set)")
    parser.add_argument("--epochs", type=int, default=4, help="the first is warm-up and fills the teacher-output cache")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's, one per core); 1 keeps "
                        "a shared machine's other work from stalling the runs")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (the datamodule's default)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.epochs < 2:
        raise SystemExit("need --epochs >= 2: the first is warm-up")
    warnings.filterwarnings("ignore")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    known = distiller_names()
    unknown = set(args.methods or []) - set(known)
    if unknown:
        raise SystemExit(f"unknown methods {sorted(unknown)}; choose from {known}")
    methods = ["Vanilla"] + [name for name in (args.methods or known) if name != "Vanilla"]
    data = make_data(args)
    with tempfile.TemporaryDirectory() as folder:
        teacher = make_teacher(data, Path(folder))
        fit_throughput("Vanilla", data, teacher, args)  # warm-up: first-call allocations and thread pools
        throughput, ratios = run_rounds(methods, data, teacher, args)
    print_table(methods, throughput, ratios, args)


if __name__ == "__main__":
    main()
