"""Read a scored hypnogram in the formats clinics hand over, and align it to its PSG.

Scoring arrives as EDF+ annotations (Sleep-EDF ``*-Hypnogram.edf`` or stages embedded in the PSG),
as CSV/TSV tables (one row per epoch, or onset/duration rows), or as plain text with one label per
line. Labels come in AASM (W, N1, N2, N3, R) or older R&K spelling (S1-S4, with S3 and S4 both N3).
Movement and unscored epochs are kept as -1 so the epoch grid stays intact, and are never guessed.
Any label not understood stops the read, listing every unknown label at once so one fix suffices.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datamodules.recorded.psg import MAX_RECORDING_SECONDS, RecordingError, check_readable
from datamodules.recorded.text import read_text

__all__ = [
    "EXCLUDED",
    "MAX_RECORDING_SECONDS",
    "NUMERIC_STAGE_MAP",
    "STAGE_MAP",
    "Hypnogram",
    "align",
    "read_hypnogram",
]

#: label of an epoch that is not staged (movement, unscored): excluded from training and scoring
EXCLUDED = -1

#: label text -> stage (0 W, 1 N1, 2 N2, 3 N3, 4 REM) or -1 (excluded). Keys are matched ignoring
#: case and repeated spaces. Digits follow R&K here ("4" is S4 = N3); files holding only integers
#: are read with :data:`NUMERIC_STAGE_MAP` instead.
STAGE_MAP: dict[str, int] = {
    # AASM
    "W": 0,
    "Wake": 0,
    "N1": 1,
    "N2": 2,
    "N3": 3,
    "R": 4,
    "REM": 4,
    # R&K
    "S1": 1,
    "S2": 2,
    "S3": 3,
    "S4": 3,
    "Stage 1": 1,
    "Stage 2": 2,
    "Stage 3": 3,
    "Stage 4": 3,
    "1": 1,
    "2": 2,
    "3": 3,
    "4": 3,
    "M": EXCLUDED,
    "MT": EXCLUDED,
    "Movement": EXCLUDED,
    "Movement time": EXCLUDED,
    "?": EXCLUDED,
    "Unscored": EXCLUDED,
    "U": EXCLUDED,
    # Sleep-EDF annotation text
    "Sleep stage W": 0,
    "Sleep stage 1": 1,
    "Sleep stage 2": 2,
    "Sleep stage 3": 3,
    "Sleep stage 4": 3,
    "Sleep stage R": 4,
    "Sleep stage N1": 1,
    "Sleep stage N2": 2,
    "Sleep stage N3": 3,
    "Sleep stage ?": EXCLUDED,
}

#: integer labels of numeric-only files (this project's and YASA's convention); YASA marks
#: artefacts -1 and unscored -2, both excluded
NUMERIC_STAGE_MAP: dict[int, int] = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, -1: EXCLUDED, -2: EXCLUDED}

#: accepted table column names (lower case) for the stage, onset and duration
_STAGE_COLUMNS = ("stage", "label", "sleep_stage", "sleep stage", "stages", "hypnogram")
_ONSET_COLUMNS = ("onset", "onset_seconds", "onset_s", "start", "start_seconds")
_DURATION_COLUMNS = ("duration", "duration_seconds", "duration_s")
#: suffixes read as annotation-carrying recordings rather than text
_ANNOTATION_SUFFIXES = {".edf", ".bdf", ".rec", ".gdf", ".fif", ".vhdr", ".set", ".mff", ".cnt"}


@dataclass
class Hypnogram:
    """One stage per epoch, placed on the PSG's clock.

    Attributes:
        labels: (epochs,) int64, 0..4 = W, N1, N2, N3, REM; -1 for excluded epochs.
        epoch_seconds: epoch length in seconds.
        onset_seconds: start of the first epoch in seconds after the PSG recording start.
        path: the file read.
    """

    labels: np.ndarray
    epoch_seconds: float
    onset_seconds: float
    path: Path

    @property
    def duration_seconds(self) -> float:
        """Length of the scored span in seconds."""
        return len(self.labels) * self.epoch_seconds


def read_hypnogram(
    path: str | Path,
    *,
    epoch_seconds: float = 30.0,
    recording_start: dt.datetime | None = None,
) -> Hypnogram:
    """Read a hypnogram file into one label per epoch.

    Args:
        path: EDF+ annotations (a Sleep-EDF hypnogram or a PSG with stage annotations), a CSV/TSV
            table with a stage column, or text with one label per line ("*"/"#" lines are comments).
        epoch_seconds: scoring epoch length in seconds; annotations are split into epochs of it.
        recording_start: start of the PSG (e.g. ``PSGRecording.start``); when given and the
            annotations carry their own clock, onsets are measured from it, so a hypnogram starting
            later than the PSG lands at the right sample. Naive datetimes are taken as UTC.

    Raises:
        RecordingError: missing or unreadable file, unknown labels (all listed), no stages found.
    """
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"{path}: no such file; check the hypnogram path")
    if not path.is_file():
        raise RecordingError(f"{path} is not a file; pass the hypnogram file itself")
    if epoch_seconds <= 0:
        raise ValueError(f"epoch_seconds must be positive, got {epoch_seconds}")
    check_readable(path, "hypnogram")
    if _is_annotation_file(path):
        return _read_annotations(path, epoch_seconds, recording_start)
    return _read_text(path, epoch_seconds)


def align(hypnogram: Hypnogram, duration_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Epochs of ``hypnogram`` that lie fully inside a PSG of ``duration_seconds``.

    Excluded epochs (-1) are kept so the caller sees the grid; drop them with ``labels >= 0``.
    Scored epochs may overhang the recording end by up to half an epoch (the partial epoch is
    dropped); more means the hypnogram belongs to a different or cut recording. Excluded epochs
    past the end (Sleep-EDF closes with a long "Sleep stage ?") are dropped silently.

    Returns:
        (epoch_start_seconds float64 relative to the PSG start, labels int64), both (epochs,).

    Raises:
        RecordingError: scored epochs extend beyond the recording by more than half an epoch.
    """
    labels = np.asarray(hypnogram.labels, dtype=np.int64)
    epoch = float(hypnogram.epoch_seconds)
    starts = hypnogram.onset_seconds + np.arange(labels.size, dtype=np.float64) * epoch
    scored = np.flatnonzero(labels != EXCLUDED)
    if scored.size:
        scored_end = starts[scored[-1]] + epoch
        if scored_end > duration_seconds + epoch / 2:
            raise RecordingError(
                f"{hypnogram.path}: the hypnogram's scored epochs end at {scored_end:g} s after the PSG start "
                f"({hypnogram.onset_seconds:g} s onset + {scored[-1] + 1} epochs of {epoch:g} s) but the recording "
                f"lasts {duration_seconds:g} s; check that hypnogram and PSG belong to the same night and that "
                "recording_start was passed"
            )
    tolerance = 1e-6 * epoch
    inside = (starts >= -tolerance) & (starts + epoch <= duration_seconds + tolerance)
    return starts[inside], labels[inside]


# -- readers -------------------------------------------------------------------------------------


def _key(label: str) -> str:
    return " ".join(str(label).strip().lower().split())


_STAGE_KEYS: dict[str, int] = {_key(k): v for k, v in STAGE_MAP.items()}


def _is_annotation_file(path: Path) -> bool:
    if path.suffix.lower() in _ANNOTATION_SUFFIXES:
        return True
    with open(path, "rb") as handle:
        magic = handle.read(8)
    return magic in (b"0       ", b"\xffBIOSEMI")


def _unknown_error(path: Path, unknown: list[str]) -> RecordingError:
    accepted = sorted(STAGE_MAP, key=str.lower)
    return RecordingError(
        f"{path}: unknown sleep stage labels {unknown}; accepted labels are {accepted} (case-insensitive), or "
        f"only integers {sorted(NUMERIC_STAGE_MAP)} (0 W, 1 N1, 2 N2, 3 N3, 4 REM). Rename these labels, or add "
        "them to STAGE_MAP"
    )


def _map_labels(path: Path, texts: list[str]) -> np.ndarray:
    """Stage of each label text; integer-only files use :data:`NUMERIC_STAGE_MAP`."""
    numbers = [_as_int(text) for text in texts]
    if texts and all(n is not None for n in numbers):
        unknown = sorted({t.strip() for t, n in zip(texts, numbers) if n not in NUMERIC_STAGE_MAP}, key=str)
        if unknown:
            raise _unknown_error(path, unknown)
        return np.array([NUMERIC_STAGE_MAP[n] for n in numbers], dtype=np.int64)
    unknown = sorted({t.strip() for t in texts if _key(t) not in _STAGE_KEYS})
    if unknown:
        raise _unknown_error(path, unknown)
    return np.array([_STAGE_KEYS[_key(t)] for t in texts], dtype=np.int64)


def _as_int(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def _check_spans(path: Path, onsets: np.ndarray, durations: np.ndarray) -> None:
    """A RecordingError unless onsets and durations are finite, durations not negative, and the whole within
    :data:`MAX_RECORDING_SECONDS` (so the epoch grid they imply is a night or a few, not gigabytes).

    Onsets may be negative (scoring that starts before the PSG) and in any order.
    """
    bad = ~np.isfinite(onsets) | ~np.isfinite(durations)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise RecordingError(
            f"{path}: stage {row + 1} has onset {onsets[row]:g} s and duration {durations[row]:g} s; onsets and "
            "durations must be finite numbers of seconds (fix or remove that row)"
        )
    if (durations < 0).any():
        row = int(np.flatnonzero(durations < 0)[0])
        raise RecordingError(
            f"{path}: stage {row + 1} has a negative duration ({durations[row]:g} s); durations are seconds >= 0"
        )
    first, end = float(onsets.min()), float((onsets + durations).max())
    if end - first > MAX_RECORDING_SECONDS or abs(first) > MAX_RECORDING_SECONDS:
        raise RecordingError(
            f"{path}: the stages run from {first:g} s to {end:g} s, more than {MAX_RECORDING_SECONDS:g} s (7 days, "
            "MAX_RECORDING_SECONDS); check that onsets and durations are seconds (not milliseconds or samples) and "
            "that no row is damaged"
        )


def _place(
    path: Path, onsets: np.ndarray, durations: np.ndarray, stages: np.ndarray, epoch_seconds: float
) -> tuple[np.ndarray, float]:
    """Expand (onset, duration, stage) rows onto an epoch grid starting at the first onset.

    Gaps between rows become -1; a row of zero duration covers one epoch.
    """
    _check_spans(path, onsets, durations)
    order = np.argsort(onsets, kind="stable")
    onsets, durations, stages = onsets[order], durations[order], stages[order]
    first = float(onsets[0])
    start_epochs = np.rint((onsets - first) / epoch_seconds).astype(np.int64)
    counts = np.maximum(np.rint(durations / epoch_seconds).astype(np.int64), 1)
    labels = np.full(int((start_epochs + counts).max()), EXCLUDED, dtype=np.int64)
    for start, count, stage in zip(start_epochs.tolist(), counts.tolist(), stages.tolist()):
        labels[start : start + count] = stage
    return labels, first


def _read_annotations(path: Path, epoch_seconds: float, recording_start: dt.datetime | None) -> Hypnogram:
    import mne

    try:
        annotations = mne.read_annotations(path)
    except Exception as error:
        raise RecordingError(
            f"{path} cannot be read as an annotation file ({type(error).__name__}: {error}); check that it is an "
            "intact EDF+ file with sleep stage annotations, or use a CSV/text hypnogram"
        ) from error
    descriptions = [str(d) for d in annotations.description]
    # a PSG's annotations also hold events (arousals, lights off, MNE's BAD_ gap markers): keep
    # only those that read as stages; a "Sleep stage X" we cannot map is an error, not an event
    is_stage = [_key(d) in _STAGE_KEYS or _key(d).startswith("sleep stage") for d in descriptions]
    unknown = sorted({d for d, s in zip(descriptions, is_stage) if s and _key(d) not in _STAGE_KEYS})
    if unknown:
        raise _unknown_error(path, unknown)
    if not any(is_stage):
        found = sorted(set(descriptions))[:20]
        raise RecordingError(
            f"{path} holds no sleep stage annotations (found {found or 'no annotations'}); expected Sleep-EDF "
            f"style labels such as 'Sleep stage W' or any of {sorted(STAGE_MAP, key=str.lower)}"
        )
    keep = np.flatnonzero(is_stage)
    onsets = np.asarray(annotations.onset, dtype=np.float64)[keep]
    durations = np.asarray(annotations.duration, dtype=np.float64)[keep]
    stages = np.array([_STAGE_KEYS[_key(descriptions[i])] for i in keep], dtype=np.int64)
    labels, first = _place(path, onsets, durations, stages, epoch_seconds)
    shift = 0.0
    # mne.read_annotations leaves orig_time unset for EDF/BDF, so the header gives the clock
    file_start = _edf_start(path) or annotations.orig_time
    if recording_start is not None and file_start is not None:
        shift = (_utc(file_start) - _utc(recording_start)).total_seconds()
    return Hypnogram(labels=labels, epoch_seconds=float(epoch_seconds), onset_seconds=first + shift, path=path)


def _edf_start(path: Path) -> dt.datetime | None:
    """Start of an EDF/BDF file from its header (UTC, as MNE reads EDF clock time), or None.

    EDF+ keeps the 4-digit year in the recording field ("Startdate 04-MAR-2021"); plain EDF has
    only "dd.mm.yy", with years 85-99 meaning 1985-1999.
    """
    try:
        with open(path, "rb") as handle:
            header = handle.read(256).decode("ascii", errors="replace")
        if len(header) < 256 or not (header.startswith("0       ") or header[1:8] == "BIOSEMI"):
            return None
        day, month, year = (int(part) for part in header[168:176].split("."))
        hour, minute, second = (int(part) for part in header[176:184].split("."))
        year += 1900 if year >= 85 else 2000
        fields = header[88:168].split()
        if header[192:196] == "EDF+" and len(fields) > 1 and fields[0] == "Startdate" and fields[1] != "X":
            year = dt.datetime.strptime(fields[1].title(), "%d-%b-%Y").year
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.timezone.utc)
    except (OSError, ValueError):
        return None


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment


def _read_text(path: Path, epoch_seconds: float) -> Hypnogram:
    fix = "pass an EDF+ hypnogram, or save the CSV/TSV table or list of labels as UTF-8 text"
    text = read_text(path, "hypnogram", RecordingError, fix)
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith(("*", "#"))]
    if not lines:
        raise RecordingError(f"{path} holds no labels; expected one label per line or a table with a stage column")
    delimiter = _delimiter(lines[0])
    if delimiter is not None or _key(lines[0]) in _STAGE_COLUMNS:
        return _read_table(path, lines, delimiter, epoch_seconds)
    labels = _map_labels(path, lines)
    return Hypnogram(labels=labels, epoch_seconds=float(epoch_seconds), onset_seconds=0.0, path=path)


def _delimiter(header: str) -> str | None:
    for delimiter in ("\t", ",", ";"):
        if delimiter in header:
            return delimiter
    return None


def _read_table(path: Path, lines: list[str], delimiter: str | None, epoch_seconds: float) -> Hypnogram:
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter or ","))
    except csv.Error as error:
        raise RecordingError(
            f"{path}: not a readable CSV/TSV table ({error}); check the quoting (a quote opened and never closed "
            "swallows the rest of the file) or re-export the hypnogram"
        ) from error
    header = [_key(cell) for cell in rows[0]]

    def column(names: tuple[str, ...]) -> int | None:
        return next((header.index(name) for name in names if name in header), None)

    stage_col, onset_col, duration_col = column(_STAGE_COLUMNS), column(_ONSET_COLUMNS), column(_DURATION_COLUMNS)
    if stage_col is None:
        raise RecordingError(
            f"{path}: no stage column in the header {rows[0]}; name the column one of {list(_STAGE_COLUMNS)} "
            f"(optional onset column {list(_ONSET_COLUMNS)}, duration column {list(_DURATION_COLUMNS)})"
        )
    body = rows[1:]
    if not body:
        raise RecordingError(f"{path} has a header but no rows")
    last_col = max(c for c in (stage_col, onset_col, duration_col) if c is not None)
    short = [i + 2 for i, row in enumerate(body) if len(row) <= last_col]
    if short:
        raise RecordingError(f"{path}: rows {short[:10]} have too few columns for the header {rows[0]}")
    stages = _map_labels(path, [row[stage_col] for row in body])

    def numbers(col: int, what: str) -> np.ndarray:
        try:
            return np.array([float(row[col]) for row in body], dtype=np.float64)
        except ValueError as error:
            raise RecordingError(
                f"{path}: the {what} column {rows[0][col]!r} must hold seconds as numbers ({error})"
            ) from error

    durations = numbers(duration_col, "duration") if duration_col is not None else np.full(len(body), epoch_seconds)
    if onset_col is not None:
        onsets = numbers(onset_col, "onset")
    else:
        onsets = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    labels, first = _place(path, onsets, durations, stages, epoch_seconds)
    return Hypnogram(labels=labels, epoch_seconds=float(epoch_seconds), onset_seconds=first, path=path)
