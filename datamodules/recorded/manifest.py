"""The manifest of a recorded dataset: one row per subject-night, paths relative to the manifest.

CSV or YAML with the columns

    subject                 subject id (text or number); several nights of one subject share it
    psg                     PSG file (EDF, EDF+, BDF, or anything MNE reads)
    video                   video file, or several segments joined by ";" (played back to back)
    hypnogram               scored hypnogram (EDF+ annotations, CSV/TSV, or one label per line);
                            empty for a night nobody scored (training only: the teacher supervises it)
    night                   optional night index (default 0)
    video_offset_seconds    optional video clock minus PSG clock, seconds (default 0)
    eeg_channels            optional channel choice for this night, ";"-joined, overriding the
                            datamodule's ``channels`` (same count), e.g. "Fpz-Cz" for a file
                            without C4-M1
    scored                  optional: whether the night's hypnogram is used (true/false, yes/no,
                            1/0; empty: scored when it has a hypnogram). ``false`` keeps a
                            hypnogram on file but trains on the night as unscored

Other columns (as written by ``sacd synth``) are kept but not required. See docs/data-format.md.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from datamodules.recorded.errors import InputFileError
from datamodules.recorded.text import read_text

REQUIRED_COLUMNS = ("subject", "psg", "video", "hypnogram")
#: required columns whose cell may be empty: a night without a hypnogram is an unscored night
_MAY_BE_EMPTY = ("hypnogram",)
#: how a ``scored`` cell may say yes or no (YAML's own true/false are accepted too)
_SCORED_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class ManifestError(InputFileError):
    """A manifest that cannot describe a dataset; the message names the file, the row and the fix."""


@dataclass(frozen=True)
class NightEntry:
    """One subject-night of a manifest, with absolute paths.

    ``hypnogram`` is None for a night nobody scored; ``scored`` False means its epochs train unlabelled
    (``UNSCORED``), whether or not a hypnogram is on file.
    """

    subject: str
    night: int
    psg: Path
    videos: tuple[Path, ...]
    hypnogram: Path | None
    video_offset_seconds: float = 0.0
    eeg_channels: tuple[str, ...] | None = None
    scored: bool = True

    @property
    def name(self) -> str:
        return f"subject {self.subject} night {self.night}"


def _rows(path: Path) -> list[dict[str, Any]]:
    """The manifest's rows as dicts; a file that is not text, YAML or CSV is a ManifestError naming it."""
    text = read_text(path, "manifest", ManifestError)
    if path.suffix.lower() in (".yaml", ".yml"):
        loaded = _load_yaml(path, text)
        rows = loaded.get("nights", loaded) if isinstance(loaded, dict) else loaded
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ManifestError(f"{path}: a YAML manifest is a list of rows (or a mapping with a 'nights' list)")
        return rows
    try:
        return list(csv.DictReader(io.StringIO(text, newline=""), **_csv_options(text)))
    except csv.Error as error:
        raise ManifestError(
            f"{path}: not a readable CSV/TSV table ({error}); check the quoting (a quote opened and never closed "
            "swallows the rest of the file) or re-export the manifest"
        ) from error


def _load_yaml(path: Path, text: str) -> Any:
    """Parsed YAML; a syntax error (or nesting too deep to parse) is a ManifestError with its line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "context_mark", None) or getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = ", ".join(filter(None, (getattr(error, "context", None), getattr(error, "problem", None))))
        raise ManifestError(f"{path} is not valid YAML{where} ({problem or error}); fix the file there") from error
    except RecursionError as error:
        raise ManifestError(f"{path}: the YAML is nested too deeply to read; a manifest is a list of rows") from error


def _csv_options(text: str) -> dict[str, Any]:
    """How to split a CSV/TSV manifest: the sniffed dialect, or the delimiter that splits the header into columns.

    ``csv.Sniffer`` raises when it cannot decide (a lone header, ragged rows); the header decides then.
    """
    sample = text[:4096]
    if not sample.strip():
        return {"dialect": csv.excel}
    try:
        return {"dialect": csv.Sniffer().sniff(sample, delimiters=",;\t")}
    except csv.Error:
        header = sample.splitlines()[0]
        known = {d: sum(c.strip() in REQUIRED_COLUMNS for c in header.split(d)) for d in (",", "\t", ";")}
        return {"dialect": csv.excel, "delimiter": max(known, key=known.get)}


def _split_list(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value or "").split(";") if part.strip()]


#: columns that may hold a YAML list (several values) instead of a ";"-joined text
_LIST_COLUMNS = ("video", "eeg_channels")


def _is_plain(value: Any) -> bool:
    """Text, a number or nothing: what a manifest cell holds (YAML's yes/no is a bool, not a value here)."""
    return value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool))


def _check_cells(where: str, row: dict[str, Any]) -> None:
    """A ManifestError for a YAML cell that is a mapping, a date, a bool or a nested list where a value belongs.

    str() of such a cell would become a path like "{'a': 1}", and a cell built of YAML aliases can be
    exponentially long once written out.
    """
    for column in (*REQUIRED_COLUMNS, "night", "video_offset_seconds", "eeg_channels"):
        value = row.get(column)
        items = value if column in _LIST_COLUMNS and isinstance(value, list) else [value]
        odd = next((item for item in items if not _is_plain(item)), None)
        if odd is not None:
            raise ManifestError(
                f"{where}: {column} must be {'a list of ' if len(items) > 1 else ''}plain text or a number, got "
                f"{type(odd).__name__} {str(odd)[:60]!r}; quote the value in the YAML file"
            )


def _number(where: str, column: str, value: Any, default: float) -> float:
    """The float in a cell (empty: ``default``); a ManifestError if it is not a finite number."""
    if value is None or str(value).strip() == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise ManifestError(
            f"{where}: night and video_offset_seconds must be numbers, but {column} is {str(value)[:60]!r}"
        ) from error
    if not math.isfinite(number):
        raise ManifestError(f"{where}: {column} must be a finite number, got {str(value)[:60]!r}")
    return number


def _night(where: str, value: Any) -> int:
    """The night index in a cell (empty: 0): a whole number 0, 1, 2, ... ("2.0" as spreadsheets write it is 2)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number: float | int = value
    else:
        number = _number(where, "night", value, 0.0)
    if number < 0 or number != int(number):
        raise ManifestError(f"{where}: night must be a whole number 0, 1, 2, ... (the night index), got {value!r:.60}")
    return int(number)


def _path(where: str, root: Path, column: str, value: Any) -> Path:
    """``value`` as an absolute path under the manifest's folder; a ManifestError if no file can have that name."""
    text = str(value).strip()
    try:
        return (root / text).resolve()
    except (ValueError, OSError) as error:  # a NUL byte, a name too long for the file system
        raise ManifestError(f"{where}: the {column} path {text[:80]!r} is not a usable file name ({error})") from error


def _entry(path: Path, where: str, row: dict[str, Any]) -> NightEntry:
    """One checked row of the manifest at ``path``."""
    _check_cells(where, row)
    empty = [c for c in REQUIRED_COLUMNS if c not in _MAY_BE_EMPTY and not _has_text(row.get(c))]
    if empty:
        raise ManifestError(f"{where}: empty {empty}")
    root = path.parent
    channels = _split_list(row.get("eeg_channels"))
    has_hypnogram = _has_text(row.get("hypnogram"))
    scored = _scored(where, row.get("scored"), default=has_hypnogram)
    if scored and not has_hypnogram:
        raise ManifestError(
            f"{where}: scored is true but the hypnogram cell is empty; give the night's hypnogram file, "
            "or set scored to false (or leave it empty) to train on the night as unscored"
        )
    return NightEntry(
        subject=str(row["subject"]).strip(),
        night=_night(where, row.get("night")),
        psg=_path(where, root, "psg", row["psg"]),
        videos=tuple(_path(where, root, "video", v) for v in _split_list(row["video"])),
        hypnogram=_path(where, root, "hypnogram", row["hypnogram"]) if has_hypnogram else None,
        video_offset_seconds=_number(where, "video_offset_seconds", row.get("video_offset_seconds"), 0.0),
        eeg_channels=tuple(channels) or None,
        scored=scored,
    )


def _has_text(value: Any) -> bool:
    return bool(str(value if value is not None else "").strip())


def _scored(where: str, value: Any, *, default: bool) -> bool:
    """The ``scored`` cell as a bool (empty: ``default``, i.e. whether the row names a hypnogram)."""
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if not text:
        return default
    if text not in _SCORED_WORDS:
        raise ManifestError(
            f"{where}: scored must be true or false (yes/no, 1/0, or empty), got {str(value)[:60]!r}"
        )
    return _SCORED_WORDS[text]


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
    first_row = 1 if path.suffix.lower() in (".yaml", ".yml") else 2  # a CSV's row 2 is the line after the header
    entries = [_entry(path, f"manifest {path}, row {n}", row) for n, row in enumerate(rows, start=first_row)]
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
