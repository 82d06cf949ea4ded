"""Training-step time of every distiller divided by Vanilla's, with the teacher-output cache on and off.

    python benchmarks/distiller_step_time.py                       # quick-start sizes (X3D tiny, 8 x 32 px)
    python benchmarks/distiller_step_time.py --student x3d_xs --frames 16 --frame-size 112 --batch-size 16
    python benchmarks/distiller_step_time.py --methods CRD CRD:negatives=uniform   # a method's options side by side

Each method trains through Lightning for ``--epochs`` epochs of ``--steps`` batches on the same
synthetic nights. The first epoch fills the teacher-output cache and warms up; the step times of
the later epochs are timed (median per step: forward, backward and optimiser step). Methods are
timed in interleaved rounds, and every ratio is taken against Vanilla's time in the same round, so
the machine's drift cancels. Prints the median ratio over rounds per method and cache setting.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import lightning as L
import yaml

TEACHER = {"embed_dim": 128, "width": 32, "d_model": 64, "num_heads": 4, "num_layers": 1}  # quick-start teacher


class StepTimer(L.Callback):
    """Wall time of each training batch after the first ``skip_epochs`` epochs."""

    def __init__(self, skip_epochs: int) -> None:
        self.skip_epochs = skip_epochs
        self.times: list[float] = []
        self._start = 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.current_epoch >= self.skip_epochs:
            self.times.append(time.perf_counter() - self._start)


def _trainer(epochs: int, steps: int, callbacks: list[L.Callback]) -> L.Trainer:
    return L.Trainer(max_epochs=epochs, limit_train_batches=steps, limit_val_batches=0, accelerator="cpu",
                     logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, callbacks=callbacks)  # fmt: skip


def make_teacher(data, folder: Path) -> str:
    """A teacher checkpoint of the quick-start architecture (one training step: its speed is what matters)."""
    from sacd import EEGTeacher

    L.seed_everything(0, verbose=False)
    teacher = EEGTeacher(**TEACHER, eeg_shape=data.eeg_shape, num_classes=data.num_classes)
    trainer = _trainer(1, 1, [])
    trainer.fit(teacher, datamodule=data)
    path = folder / "teacher.ckpt"
    trainer.save_checkpoint(path)
    return str(path)


def parse_method(text: str) -> tuple[str, dict]:
    """``"CRD:negatives=uniform,num_negatives=4096"`` -> ("CRD", {"negatives": "uniform", "num_negatives": 4096})."""
    name, _, options = text.partition(":")
    pairs = (item.split("=", 1) for item in options.split(",") if item)
    return name, {key: yaml.safe_load(value) for key, value in pairs}


def time_method(method: str, cache: bool, data, teacher: str, args: argparse.Namespace) -> float:
    import distillers
    from sacd.models import create_student

    name, options = parse_method(method)
    L.seed_everything(0, verbose=False)
    model = getattr(distillers, name)(
        create_student(args.student), teacher_checkpoint=teacher, cache_teacher_outputs=cache,
        num_train_samples=data.num_train_samples, video_shape=data.video_shape, eeg_shape=data.eeg_shape, **options,
    )
    timer = StepTimer(skip_epochs=1)
    _trainer(args.epochs, args.steps, [timer]).fit(model, datamodule=data)
    return statistics.median(timer.times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student", default="x3d_tiny", help="a sacd.models.create_student preset")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--frame-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8, help="batches per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="the first is warm-up and fills the cache")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--methods", nargs="+", help="names, or NAME:OPTION=VALUE,... for a variant (default: the zoo)")
    args = parser.parse_args()
    if args.methods is None:
        import distillers

        args.methods = distillers.method_names()
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)

    from datamodules import SyntheticNights

    subjects = 4
    epochs_per_night = -(-args.steps * args.batch_size // (subjects - 2))
    data = SyntheticNights(num_subjects=subjects, epochs_per_night=epochs_per_night, val_subjects=1, test_subjects=1,
                           frames=args.frames, frame_size=args.frame_size, batch_size=args.batch_size)  # fmt: skip
    data.setup("fit")
    ratios: dict[tuple[str, bool], list[float]] = {}
    seconds: dict[tuple[str, bool], list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        teacher = make_teacher(data, Path(folder))
        time_method("Vanilla", False, data, teacher, args)  # warm-up: first-call allocations and thread pools
        for round_index in range(args.rounds):
            vanilla = time_method("Vanilla", False, data, teacher, args)
            for name in args.methods:
                for cache in (True, False):
                    if name == "Vanilla" and not cache:
                        continue
                    step = vanilla if name == "Vanilla" else time_method(name, cache, data, teacher, args)
                    ratios.setdefault((name, cache), []).append(step / vanilla)
                    seconds.setdefault((name, cache), []).append(step)
            print(f"round {round_index + 1}/{args.rounds}: Vanilla {vanilla * 1000:.1f} ms/step", flush=True)

    print(f"\nstudent {args.student}, {args.frames} frames of {args.frame_size} px, batch {args.batch_size}, "
          f"{args.rounds} rounds; step time / Vanilla's (median over rounds)")  # fmt: skip
    width = max(10, *(len(name) for name in args.methods))
    print(f"{'method':<{width}} {'cache on':>9} {'cache off':>10} {'ms/step (on)':>13}")
    for name in args.methods:
        on = statistics.median(ratios[(name, True)])
        off = statistics.median(ratios[(name, False)]) if (name, False) in ratios else on
        ms = statistics.median(seconds[(name, True)]) * 1000
        print(f"{name:<{width}} {on:>8.2f}x {off:>9.2f}x {ms:>13.1f}")


if __name__ == "__main__":
    main()
