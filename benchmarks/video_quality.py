"""Does the synthetic IR video carry the cues it claims? Recover them with simple intensity methods.

For each night: the breathing rate per 30 s epoch from the chest region's mean brightness (divided
by the frame's mean, which cancels gain and flicker) via the FFT peak, against the generated rate;
and gross movements detected from differences of block-averaged frames, counted per hour of each stage, against the
generated events and the physiological targets. Run: ``python benchmarks/video_quality.py --nights 5``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datamodules.stages import STAGES  # noqa: E402
from datamodules.generator.video import MOVEMENT, POSTURE_SHIFT, draw_video_traits, render_night_video  # noqa: E402

W, N1, N2, N3, REM = range(5)
# What docs/physiology.md asks for, gross movements per hour of each stage (a rough reading).
TARGET_PER_HOUR = ("many (head/arms)", "many", "few", "almost none", "none (atonia)")


def cycle_hypnogram(rng: np.random.Generator, hours: float, epoch_seconds: float = 30.0) -> np.ndarray:
    """A plain night: W, then ~90 min cycles N1-N2-N3-N2-REM with front-loaded N3, longer REM later."""
    per_min = 60.0 / epoch_seconds
    total = int(hours * 3600 / epoch_seconds)
    out: list[int] = [W] * int(rng.uniform(5, 25) * per_min)
    cycle = 0
    while len(out) < total:
        n3 = max(0.0, 35.0 - 12.0 * cycle) * rng.uniform(0.7, 1.3)
        rem = (6.0 + 7.0 * cycle) * rng.uniform(0.7, 1.3)
        for stage, minutes in ((N1, rng.uniform(1, 5)), (N2, rng.uniform(15, 30)), (N3, n3), (N2, rng.uniform(5, 15)),
                               (REM, rem), (W, rng.uniform(0, 3) if rng.random() < 0.5 else 0.0)):  # fmt: skip
            out += [stage] * int(minutes * per_min)
        cycle += 1
    return np.array(out[:total], dtype=np.int64)


def breathing_rate_bpm(signal: np.ndarray, fps: float) -> float:
    """Dominant frequency of a chest signal in breaths/min (Hann window, zero-padded FFT, 8-30 bpm)."""
    x = (signal - signal.mean()) * np.hanning(len(signal))
    n_fft = 1 << 14
    power = np.abs(np.fft.rfft(x, n_fft)) ** 2
    freqs_bpm = np.fft.rfftfreq(n_fft, d=1.0 / fps) * 60.0
    band = (freqs_bpm >= 8.0) & (freqs_bpm <= 30.0)
    return float(freqs_bpm[band][np.argmax(power[band])])


def detect_movements(diff: np.ndarray, fps: float, threshold: float) -> np.ndarray:
    """Onset frames of runs where the frame difference exceeds ``threshold`` (gaps < 1 s merged, >= 1.5 s long)."""
    above = np.flatnonzero(diff > threshold)
    if len(above) == 0:
        return above
    breaks = np.flatnonzero(np.diff(above) > fps) + 1
    runs = np.split(above, breaks)
    return np.array([r[0] for r in runs if r[-1] - r[0] + 1 >= 1.5 * fps], dtype=np.int64)


def analyse_night(night: int, args: argparse.Namespace) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([args.seed, night])
    labels = cycle_hypnogram(rng, args.hours)
    traits = draw_video_traits(rng, age=float(rng.uniform(25.0, 70.0)))
    renderer, motion = render_night_video(labels, traits, rng, fps=args.fps, size=args.size, seed=args.seed + night)
    epoch_frames = int(round(30.0 * args.fps))
    num_epochs = motion.num_frames // epoch_frames
    estimated = np.full(num_epochs, np.nan)
    diff = np.zeros(motion.num_frames)
    previous = None
    for e in range(num_epochs):
        frames = renderer(np.arange(e * epoch_frames, (e + 1) * epoch_frames)).astype(np.float32)
        level = frames.mean(axis=(1, 2))
        roi = renderer.chest_weights(e * epoch_frames + epoch_frames // 2)
        chest = np.tensordot(frames, roi, axes=2) / roi.sum() / level
        estimated[e] = breathing_rate_bpm(chest, args.fps)
        b = args.size // 16  # 16x16 blocks: averaging out sensor noise leaves the motion
        blocks = frames[:, : 16 * b, : 16 * b].reshape(len(frames), 16, b, 16, b).mean(axis=(2, 4))
        normalised = blocks / level[:, None, None]
        chained = normalised if previous is None else np.concatenate([previous[None], normalised])
        d = 100.0 * np.abs(np.diff(chained, axis=0)).mean(axis=(1, 2))
        diff[e * epoch_frames + (previous is None) : (e + 1) * epoch_frames] = d
        previous = normalised[-1]
    # Epochs without any gross movement, scored where the generated rate is known.
    onset = np.round(motion.movement_onset_seconds * args.fps).astype(np.int64)
    gross = np.isin(motion.movement_kind, (MOVEMENT, POSTURE_SHIFT))
    moving_epochs = np.zeros(num_epochs, dtype=bool)
    for s, d in zip(onset[gross], np.round(motion.movement_duration_seconds[gross] * args.fps).astype(np.int64)):
        moving_epochs[s // epoch_frames : min(num_epochs, (s + d) // epoch_frames + 1)] = True
    threshold = np.median(diff) + args.threshold_mads * 1.4826 * np.median(np.abs(diff - np.median(diff)))
    detected = detect_movements(diff, args.fps, threshold)
    stage_of = motion.stage[: num_epochs * epoch_frames]
    return {
        "stage": labels[:num_epochs],
        "error_bpm": np.where(moving_epochs, np.nan, np.abs(estimated - motion.breath_rate_bpm[:num_epochs])),
        "hours": np.bincount(labels[:num_epochs], minlength=5) * 30.0 / 3600.0,
        "true_moves": np.bincount(motion.stage[onset[gross]], minlength=5),
        "true_posture": np.bincount(motion.stage[onset[motion.movement_kind == POSTURE_SHIFT]], minlength=5),
        "detected_moves": np.bincount(stage_of[detected], minlength=5),
    }


def print_error_row(name: str, e: np.ndarray) -> None:
    """One table row: epochs, median and 90th percentile absolute error (breaths/min), share within 1."""
    print(f"{name:>6} {len(e):>7} {np.median(e):>17.2f} {np.percentile(e, 90):>13.2f} {np.mean(e <= 1.0):>13.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=5)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=32, help="frame height and width in pixels")
    parser.add_argument(
        "--threshold-mads", type=float, default=5.0, help="movement threshold: robust SDs above the median"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    results = [analyse_night(n, args) for n in range(args.nights)]
    stage = np.concatenate([r["stage"] for r in results])
    error = np.concatenate([r["error_bpm"] for r in results])
    hours = sum(r["hours"] for r in results)
    print(f"{args.nights} nights of {args.hours:g} h at {args.fps:g} fps, {args.size}x{args.size} px "
          f"({time.perf_counter() - start:.1f} s)")  # fmt: skip
    print("\nbreathing rate from the chest-region brightness (FFT peak per 30 s epoch, still epochs)")
    print(f"{'stage':>6} {'epochs':>7} {'median |err| bpm':>17} {'90th pct bpm':>13} {'within 1 bpm':>13}")
    for s, name in enumerate(STAGES):
        e = error[(stage == s) & np.isfinite(error)]
        if len(e):
            print_error_row(name, e)
    print_error_row("all", error[np.isfinite(error)])
    print("\ngross movements per hour of each stage: generated (posture shifts among them) vs detected")
    print(f"{'stage':>6} {'hours':>7} {'generated/h':>12} {'posture/h':>10} {'detected/h':>11}  target")
    for s, name in enumerate(STAGES):
        h = max(hours[s], 1e-9)
        true = sum(r["true_moves"][s] for r in results) / h
        posture = sum(r["true_posture"][s] for r in results) / h
        found = sum(r["detected_moves"][s] for r in results) / h
        print(f"{name:>6} {hours[s]:>7.1f} {true:>12.1f} {posture:>10.2f} {found:>11.1f}  {TARGET_PER_HOUR[s]}")
    sleep_hours = hours[1:].sum()
    true_sleep = sum(r["true_moves"][1:].sum() for r in results) / sleep_hours
    posture_all = sum(r["true_posture"].sum() for r in results) / hours.sum()
    found_sleep = sum(r["detected_moves"][1:].sum() for r in results) / sleep_hours
    print(f"per hour of sleep: generated {true_sleep:.1f}, detected {found_sleep:.1f} (target ~10); "
          f"posture shifts per hour in bed {posture_all:.1f} (target 2-4)")  # fmt: skip


if __name__ == "__main__":
    main()
