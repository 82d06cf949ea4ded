"""``sacd check-data MANIFEST``: run every input check on every night and print a per-subject table.

Nothing is trained or cached; each night is read, aligned and cut exactly as ``RecordedNights``
would, and a night that fails shows its error instead of stopping the others.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from datamodules.recorded.datamodule import EpochingConfig, prepare_night
from datamodules.recorded.manifest import ManifestError, read_manifest
from datamodules.stages import STAGES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sacd check-data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("manifest", help="CSV or YAML manifest")
    parser.add_argument("--channels", default="C4-M1", help="EEG channels, ';'-joined (default C4-M1)")
    parser.add_argument("--sample-rate", type=float, default=128.0, help="EEG rate after resampling, Hz")
    parser.add_argument("--frames", type=int, default=4, help="video frames per epoch to decode (default 4)")
    parser.add_argument("--frame-size", type=int, default=32, help="frame size after resizing, pixels")
    parser.add_argument("--flat-volts", type=float, default=0.1e-6, help="flat-epoch threshold, volts p-p")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        entries = read_manifest(args.manifest)
    except ManifestError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    config = EpochingConfig(tuple(c for c in args.channels.split(";") if c), args.sample_rate, 30.0, args.frames,
                            args.frame_size, 0.3, 35.0, args.flat_volts)  # fmt: skip
    header = f"{'subject':>10s} {'night':>5s} {'scored':>6s} {'usable':>6s} {'unscored':>8s} {'bad':>4s}  " + " ".join(
        f"{s:>4s}" for s in STAGES
    )
    print(header)
    failures = 0
    for entry in entries:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, s = prepare_night(entry, config)
        except (ValueError, OSError) as error:
            failures += 1
            print(f"{entry.subject:>10s} {entry.night:5d}  ERROR: {error}")
            continue
        counts = " ".join(f"{c:4d}" for c in s.stage_counts) if entry.scored else "nobody scored: training only"
        print(f"{entry.subject:>10s} {entry.night:5d} {s.scored_epochs:6d} {s.usable_epochs:6d} "
              f"{s.excluded_unscored:8d} {s.excluded_bad_signal:4d}  {counts}")  # fmt: skip
    print(f"\n{len(entries) - failures} of {len(entries)} nights ready" + (f"; {failures} failed" if failures else ""))
    return 1 if failures else 0
