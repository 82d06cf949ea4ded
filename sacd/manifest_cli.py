"""``sacd manifest DIR``: write a manifest from files named by the rule in docs/data-format.md."""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from datamodules.recorded.discover import discover_nights
from sacd.atomic import atomic_write_text

COLUMNS = ("subject", "night", "psg", "video", "hypnogram", "video_offset_seconds")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sacd manifest", description=__doc__)
    parser.add_argument("folder", help="folder holding <stem>_psg.edf, <stem>_video.mp4, <stem>_hypnogram.csv")
    parser.add_argument("--out", help="manifest path (default FOLDER/manifest.csv)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing manifest")
    args = parser.parse_args(argv)
    folder = Path(args.folder).resolve()
    out = Path(args.out).resolve() if args.out else folder / "manifest.csv"
    if out.exists() and not args.overwrite:
        print(f"error: {out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 1
    try:
        rows = discover_nights(folder)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    def relative(path: str) -> str:  # manifest paths are relative to the manifest's folder
        return Path(os.path.relpath(folder / path, out.parent)).as_posix()

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        videos = ";".join(relative(v) for v in str(row["video"]).split(";"))
        hypnogram = relative(str(row["hypnogram"])) if row["hypnogram"] else ""  # empty: nobody scored the night
        writer.writerow({**row, "psg": relative(row["psg"]), "hypnogram": hypnogram, "video": videos})
    atomic_write_text(out, buffer.getvalue())
    unscored = sum(not row["hypnogram"] for row in rows)
    print(f"wrote {out} with {len(rows)} night(s) of {len({r['subject'] for r in rows})} subject(s)"
          + (f"; {unscored} without a hypnogram, which train as unscored nights" if unscored else ""))  # fmt: skip
    return 0
