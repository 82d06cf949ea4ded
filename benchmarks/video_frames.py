"""How fast are synthetic IR frames drawn, and what does rendering only the training frames save?

Prints frames/s on one core at 32, 64 and 112 pixels, and, side by side in one run, the time to
render a whole 8 h night at 5 fps against rendering only the 16 frames per 30 s epoch that training
samples. Run: ``python benchmarks/video_frames.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as a dataloader worker has

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datamodules.generator.video import draw_video_traits, render_night_video  # noqa: E402


def timed(render, indices: np.ndarray, chunk: int = 4096) -> float:
    """Seconds to render ``indices`` in chunks (as a loader would), best of two runs."""
    best = np.inf
    for _ in range(2):
        start = time.perf_counter()
        for k in range(0, len(indices), chunk):
            render(indices[k : k + chunk])
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--frames-per-epoch", type=int, default=16)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    num_epochs = int(args.hours * 120)
    labels = rng.choice(5, size=num_epochs, p=[0.15, 0.05, 0.45, 0.15, 0.2])
    labels = np.repeat(labels[::10], 10)[:num_epochs]  # 5-minute bouts
    traits = draw_video_traits(rng, age=45.0)
    start = time.perf_counter()
    renderer, motion = render_night_video(labels, traits, np.random.default_rng(1), fps=args.fps, size=112, seed=0)
    print(f"motion of a {args.hours:g} h night at {args.fps:g} fps ({motion.num_frames:,} frames) and the 112 px "
          f"scene: {time.perf_counter() - start:.2f} s")  # fmt: skip
    epoch_frames = 30.0 * args.fps
    t = args.frames_per_epoch
    sampled = (np.arange(num_epochs)[:, None] * epoch_frames + (np.arange(t) + 0.5) * epoch_frames / t).astype(np.int64)
    sampled = sampled.ravel()
    everything = np.arange(motion.num_frames)
    print(f"{'size':>8} {'frames/s':>10} {'whole night s':>14} {f'{t}/epoch s':>11} {'ratio':>7}")
    for size in (32, 64, 112):
        renderer, _ = render_night_video(labels, traits, np.random.default_rng(1), fps=args.fps, size=size, seed=0)
        whole = timed(renderer, everything)
        part = timed(renderer, sampled)
        print(f"{size:>5} px {len(everything) / whole:>10,.0f} {whole:>14.2f} {part:>11.2f} {part / whole:>7.3f}")
    print(f"(training renders {len(sampled):,} of {len(everything):,} frames: {len(sampled) / len(everything):.3f})")


if __name__ == "__main__":
    main()
