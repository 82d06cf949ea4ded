"""Memory of the synthetic default set: peak RSS while building it with and without the disk cache.

    python benchmarks/synthetic_memory.py --subjects 20 --hours 8 --cache runs/cache/bench

Prints generation time per night, the bytes the epochs take, and peak resident memory, so the claim
"a 20-subject set needs disk, not RAM" is a measurement. Each configuration runs in its own process
(peak RSS is per process).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time


def build(subjects: int, hours: float, frames: int, size: int, cache: str | None) -> dict:
    from datamodules import SyntheticNights

    start = time.perf_counter()
    dm = SyntheticNights(num_subjects=subjects, epochs_per_night=int(hours * 120), val_subjects=1, test_subjects=1,
                         frames=frames, frame_size=size, cache_dir=cache)  # fmt: skip
    dm.setup()
    seconds = time.perf_counter() - start
    stored = sum(dm.night(s).video.nbytes + dm.night(s).eeg.nbytes for s in dm.split.subjects)
    batch = next(iter(dm.train_dataloader()))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "per_night_s": seconds / subjects, "epochs_gib": stored / 2**30,
            "peak_rss_gib": peak_mib / 1024, "batch": list(batch["video"].shape)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--cache", default="runs/cache/memory-benchmark")
    parser.add_argument("--one", choices=["memory", "disk"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        cache = args.cache if args.one == "disk" else None
        print(json.dumps(build(args.subjects, args.hours, args.frames, args.size, cache)))
        return
    shutil.rmtree(args.cache, ignore_errors=True)
    results = {}
    for mode in ("disk", "disk", "memory"):  # the second disk run reads the cache back
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--one", mode], capture_output=True, text=True,
                             check=True)  # fmt: skip
        key = mode if mode not in results else "disk (cached)"
        results[key] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.subjects} subjects x {args.hours:g} h, {args.frames} frames of {args.size}x{args.size} per epoch")
    print(f"{'mode':15s} {'build s':>8s} {'s/night':>8s} {'epochs GiB':>11s} {'peak RSS GiB':>13s}")
    for mode, r in results.items():
        print(f"{mode:15s} {r['seconds']:8.1f} {r['per_night_s']:8.2f} {r['epochs_gib']:11.2f} {r['peak_rss_gib']:13.2f}")
    disk, memory = results["disk (cached)"], results["memory"]
    print(f"peak RSS, cached on disk / in memory: {disk['peak_rss_gib'] / memory['peak_rss_gib']:.2f}")
    shutil.rmtree(args.cache, ignore_errors=True)


if __name__ == "__main__":
    main()
