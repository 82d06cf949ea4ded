"""How fast are training clips decoded from a night's video file, with decord against PyAV?

Exports one synthetic night (H.264 and MJPEG MP4), then, side by side in one run, decodes 16 frames of
112x112 per 30 s epoch over the whole night with each backend and prints clips/s and the ratio.
Run: ``python benchmarks/video_decoding.py`` (``--hours 8`` for a full night).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datamodules.generator.assemble import generate_night  # noqa: E402
from datamodules.generator.export import write_video  # noqa: E402
from datamodules.epochs import EpochStore, epoch_arrays  # noqa: E402
from datamodules.recorded.video import NightVideo  # noqa: E402


def decode_all(video: NightVideo, epoch_starts: np.ndarray, frames: int, size: tuple[int, int]) -> np.ndarray:
    """Every epoch's clip, uint8 (epochs, frames, H, W): the work a cache would save, to be timed."""
    return video.clips(epoch_starts, 30.0, frames, size=size)


def clips_per_second(path: Path, backend: str, epoch_starts: np.ndarray, frames: int, size: int) -> float:
    """Epoch clips decoded per second (opening and indexing the file included), best of two runs."""
    best = np.inf
    for _ in range(2):
        start = time.perf_counter()
        video = NightVideo([path], backend=backend)
        clips = decode_all(video, epoch_starts, frames, (size, size))
        best = min(best, time.perf_counter() - start)
    assert clips.shape == (len(epoch_starts), frames, size, size)
    return len(epoch_starts) / best


def cached_clips_per_second(path: Path, epoch_starts: np.ndarray, frames: int, size: int, folder: Path) -> float:
    """Epoch clips per second read back from the memory-mapped epoch cache (what later runs pay)."""
    labels, eeg = np.zeros(len(epoch_starts), np.int64), np.zeros((len(epoch_starts), 1, 1), np.float32)
    clips = decode_all(NightVideo([path]), epoch_starts, frames, (size, size))
    EpochStore(folder).get("night", lambda: epoch_arrays(labels, eeg, clips, epoch_starts))
    best = np.inf
    for _ in range(2):
        start = time.perf_counter()
        arrays = EpochStore(folder).get("night", lambda: None)  # a new run: open the cache
        total = sum(float(arrays.video_clip(e).mean()) for e in range(len(epoch_starts)))
        best = min(best, time.perf_counter() - start)
    assert np.isfinite(total)
    return len(epoch_starts) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=0.5)
    parser.add_argument("--frames", type=int, default=16, help="frames per 30 s epoch")
    parser.add_argument("--size", type=int, default=112, help="frame size in pixels")
    args = parser.parse_args()
    night = generate_night(seed=0, subject=1, hours=args.hours, video_size=args.size)
    epoch_starts = np.arange(night.num_epochs) * night.epoch_seconds
    print(
        f"{args.hours:g} h night: {night.num_epochs} epochs, {night.num_frames:,} frames at {night.video_fps:g} fps, "
        f"{args.frames} frames of {args.size}x{args.size} per epoch"
    )
    print(f"{'codec':>6} {'MB':>6} {'decord clips/s':>15} {'PyAV clips/s':>13} {'decord/PyAV':>12} "
          f"{'cache clips/s':>14} {'cache/best decode':>18}")
    with tempfile.TemporaryDirectory() as folder:
        for codec in ("h264", "mjpeg"):
            path = Path(folder) / f"night_{codec}.mp4"
            write_video(night, path, codec=codec)
            fast = clips_per_second(path, "decord", epoch_starts, args.frames, args.size)
            slow = clips_per_second(path, "pyav", epoch_starts, args.frames, args.size)
            cached = cached_clips_per_second(path, epoch_starts, args.frames, args.size, Path(folder) / f"cache_{codec}")
            megabytes = path.stat().st_size / 1e6
            print(f"{codec:>6} {megabytes:6.1f} {fast:15.1f} {slow:13.1f} {fast / slow:11.2f}x "
                  f"{cached:14.1f} {cached / max(fast, slow):17.1f}x")


if __name__ == "__main__":
    main()
