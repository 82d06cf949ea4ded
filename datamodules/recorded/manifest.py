"""The manifest of a recorded dataset: one row per subject-night, paths relative to the manifest.

CSV or YAML with the columns

    subject                 subject id (text or number); several nights of one subject share it
    psg                     PSG file (EDF, EDF+, BDF, or anything MNE reads)
    video                   video file, or several segments joined by ";" (played back to back)
    hypnogram               scored hypnogram (EDF+ annotations, CSV/TSV, or one label per line)
    night                   optional night index (default 0)
    video_offset_seconds    optional video clock minus PSG clock, seconds (default 0)
    eeg_channels            optional channel choice for this night, ";"-joined, overriding the
                            datamodule's ``channels`` (same count), e.g. "Fpz-Cz" for a file
                            without C4-M1

Other columns (as written by ``sacd synth``) are kept but not required. See docs/data-format.md.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REQUIRED_COLUMNS = ("subject", "psg", "video", "hypnogram")


class ManifestError(ValueError):
    """A manifest that cannot describe a dataset; the message names the file, the row and the fix."""


@dataclass(frozen=True)
class NightEntry:
    """One subject-night of a manifest, with absolute paths."""

    subject: str
    night: int
    psg: Path
    videos: tuple[Path, ...]
    hypnogram: Path
    video_offset_seconds: float = 0.0
    eeg_channels: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return f"subject {self.subject} night {self.night}"


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() in (".yaml", ".yml"):
        loaded = yaml.safe_load(path.read_text())
        rows = loaded.get("nights", loaded) if isinstance(loaded, dict) else loaded
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ManifestError(f"{path}: a YAML manifest is a list of rows (or a mapping with a 'nights' list)")
        return rows
    with open(path, newline="") as handle:
        sample = handle.read(4096)
        handle.seek(0)
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
        return list(csv.DictReader(handle, dialect=dialect))


def _split_list(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value or "").split(";") if part.strip()]


def read_manifest(path: str | Path) -> list[NightEntry]:
    """Read and validate a manifest: required columns, numbers, duplicate nights; paths made absolute.

    Missing files are not checked here (``sacd check-data`` and the datamodule do that per night), so
    a manifest can be written before all of its files exist.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist; write one (see docs/data-format.md) or run `sacd manifest DIR`")
    rows = _rows(path)
    if not rows:
        raise ManifestError(f"manifest {path} lists no nights")
    missing = [c for c in REQUIRED_COLUMNS if c not in rows[0]]
    if missing:
        raise ManifestError(f"manifest {path} lacks the columns {missing}; it needs {list(REQUIRED_COLUMNS)}")
    root = path.parent
    entries = []
    for number, row in enumerate(rows, start=2 if path.suffix.lower() == ".csv" else 1):
        where = f"manifest {path}, row {number}"
        empty = [c for c in REQUIRED_COLUMNS if not str(row.get(c) or "").strip()]
        if empty:
            raise ManifestError(f"{where}: empty {empty}")
        try:
            night = int(float(row.get("night") or 0))
            offset = float(row.get("video_offset_seconds") or 0.0)
        except ValueError as error:
            raise ManifestError(f"{where}: night and video_offset_seconds must be numbers ({error})") from error
        channels = _split_list(row.get("eeg_channels"))
        entries.append(
            NightEntry(
                subject=str(row["subject"]).strip(),
                night=night,
                psg=(root / str(row["psg"]).strip()).resolve(),
                videos=tuple((root / v).resolve() for v in _split_list(row["video"])),
                hypnogram=(root / str(row["hypnogram"]).strip()).resolve(),
                video_offset_seconds=offset,
                eeg_channels=tuple(channels) or None,
            )
        )
    repeated = [key for key, n in Counter((e.subject, e.night) for e in entries).items() if n > 1]
    if repeated:
        listed = ", ".join(f"subject {s} night {n}" for s, n in repeated)
        raise ManifestError(
            f"manifest {path} lists {listed} more than once; give each subject-night one row "
            "(use the night column for several nights of one subject)"
        )
    return entries


def subject_index(entries: list[NightEntry]) -> dict[str, int]:
    """Integer id of every subject (sorted by name), as the subject-wise splits use."""
    return {name: i for i, name in enumerate(sorted({e.subject for e in entries}))}
