"""``sacd synth``: generate synthetic nights and write them as a real user's dataset folder.

Each night becomes EDF+ PSG, MP4 video and hypnogram files (see
:mod:`datamodules.generator.export`), one row in ``DIR/manifest.csv`` and, unless ``--no-report``,
a PNG report next to its files. The manifest is rewritten after every night, so an interrupted run
leaves a manifest that lists exactly the nights that are complete on disk.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datamodules.generator.night import SyntheticNight

MANIFEST_NAME = "manifest.csv"


def _generate(**kwargs: Any) -> SyntheticNight:
    """Build one night with the generator (imported here: it is heavy and the CLI must start fast)."""
    from datamodules.generator.assemble import generate_night

    return generate_night(**kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The ``sacd synth`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="sacd synth",
        description="Generate synthetic nights (EEG/EOG/EMG + infrared video + hypnogram) and export them "
        "as EDF+, MP4 and CSV files with a manifest.csv, like a real recording set.",
        allow_abbrev=False,
    )
    parser.add_argument("--out", type=Path, required=True, help="dataset folder (created if missing)")
    parser.add_argument("--subjects", type=_positive_int, required=True, help="number of subjects")
    parser.add_argument("--hours", type=_positive_float, required=True, help="time in bed per night, hours")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--first-subject", type=int, default=1, help="id of the first subject (default 1)")
    parser.add_argument("--nights-per-subject", type=_positive_int, default=1, help="nights per subject (default 1)")
    parser.add_argument("--sample-rate", type=_positive_float, default=128.0, help="PSG sample rate, Hz (default 128)")
    parser.add_argument("--fps", type=_positive_float, default=5.0, help="video frame rate, Hz (default 5)")
    parser.add_argument("--size", type=_positive_int, default=112, help="video frame height and width, pixels")
    parser.add_argument("--codec", choices=("h264", "mjpeg"), default="h264", help="video codec (default h264)")
    parser.add_argument(
        "--report", action=argparse.BooleanOptionalAction, default=True, help="write a PNG report per night"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace files of nights that already exist")
    parser.add_argument(
        "--proportions",
        choices=("paper", "healthy"),
        default="paper",
        help="stage mix: the paper's (much wake) or a healthy adult's night (default paper)",
    )
    parser.add_argument(
        "--scorer",
        type=_scorer,
        default=0,
        help="whose hypnogram is exported: a simulated human scorer's number (default 0; the AASM inter-scorer "
        "agreement against any other number), or 'latent' for the generator's latent stages. A scored "
        "night's CSV keeps the latent stages in a stage_true column",
    )
    return parser


def _scorer(text: str) -> int | None:
    if text.strip().lower() in ("latent", "none"):
        return None
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a scorer number >= 0 or 'latent', got {text!r}")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sacd synth`` on ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    from tqdm.auto import tqdm

    from datamodules.generator.export import export_night, night_paths, read_manifest, write_manifest
    from sacd.terminal import interactive_output

    args = build_parser().parse_args(argv)
    out_dir: Path = args.out
    plan = [
        (subject, night)
        for subject in range(args.first_subject, args.first_subject + args.subjects)
        for night in range(args.nights_per_subject)
    ]
    # fail before hours of generation, not after: name the first file that would be replaced
    if not args.overwrite:
        for subject, night in plan:
            for path in night_paths(out_dir, subject, night).values():
                if path.exists():
                    print(f"sacd synth: {path} already exists; pass --overwrite to replace it", file=sys.stderr)
                    return 1

    manifest_path = out_dir / MANIFEST_NAME
    rows = read_manifest(manifest_path) if manifest_path.exists() else []
    out_dir.mkdir(parents=True, exist_ok=True)
    total_frames = round(len(plan) * args.hours * 3600 * args.fps)  # an estimate: the generator rounds
    reports: list[Path] = []
    live = interactive_output()  # in a log file: a line per night instead of two redrawn bars
    with (
        tqdm(total=len(plan), desc="nights", unit="night", position=0, disable=not live) as nights_bar,
        tqdm(total=total_frames, desc="frames", unit="frame", position=1, unit_scale=True, disable=not live) as frames_bar,
    ):
        for number, (subject, night_index) in enumerate(plan, start=1):
            nights_bar.set_postfix_str(f"sub-{subject:03d} night {night_index}")
            night = _generate(
                seed=args.seed,
                subject=subject,
                night=night_index,
                hours=args.hours,
                sample_rate=args.sample_rate,
                video_fps=args.fps,
                video_size=(args.size, args.size),
                proportions=args.proportions,
                scorer=args.scorer,
            )
            row = export_night(
                night, out_dir, video_codec=args.codec, overwrite=args.overwrite, progress=frames_bar.update
            )
            rows = [r for r in rows if (r["subject"], r["night"]) != (row["subject"], row["night"])] + [row]
            rows.sort(key=lambda r: (r["subject"], r["night"]))
            write_manifest(rows, manifest_path)
            if args.report:
                from datamodules.generator.report import night_report

                psg = out_dir / row["psg"]
                reports.append(night_report(night, psg.with_name(psg.name.replace("_psg.edf", "_report.png"))))
            nights_bar.update(1)
            if not live:
                print(f"night {number}/{len(plan)}: sub-{subject:03d} night {night_index} written", flush=True)

    print(f"wrote {len(plan)} night(s) to {out_dir.resolve()}")
    print(f"  manifest: {manifest_path.resolve()} ({len(rows)} night(s) listed)")
    kinds = "psg.edf, video.mp4, hypnogram.csv, hypnogram.edf" + (", report.png" if args.report else "")
    print(f"  per night: sub-XXX/sub-XXX_night-N_{{{kinds}}}")
    if reports:
        print(f"  reports: {', '.join(str(p.resolve()) for p in reports[:3])}{' ...' if len(reports) > 3 else ''}")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


if __name__ == "__main__":
    raise SystemExit(main())
