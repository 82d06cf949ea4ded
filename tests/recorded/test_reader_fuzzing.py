"""Property-based fuzzing of every reader of outside input, fed mutations of files the project writes.

Each property damages a valid file (see ``mutations.py``: byte flips, truncations at every length class,
inserted garbage, other encodings, empty, huge, negative and non-finite fields, extra or missing columns)
and calls the reader. The reader must either return something the checks below accept, or raise the
project's :class:`InputFileError` naming the file; anything else (an ``IndexError``, a hang, a decoder
that dies) fails the example. CI runs the small ``ci`` profile registered in ``tests/conftest.py``;
``python -m pytest -m fuzz --hypothesis-profile fuzz`` runs the long one.

The plain tests at the end pin each defect the fuzzing found, so the fixes hold without the fuzzer.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import io
import math
import shutil
import signal
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import edfio
import numpy as np
import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st
from mutations import Mutated, VideoIndexer, mutated_binary, mutated_text

from datamodules.generator.export import (
    export_night,
    write_annotations_edf,
    write_hypnogram_csv,
    write_manifest,
    write_video,
)
from datamodules.generator.night import SyntheticNight
from datamodules.recorded.discover import discover_nights, subject_label
from datamodules.recorded.errors import InputFileError
from datamodules.recorded.hypnogram import EXCLUDED, MAX_RECORDING_SECONDS, Hypnogram, align, read_hypnogram
from datamodules.recorded.manifest import ManifestError, NightEntry, read_manifest
from datamodules.recorded.psg import PSGRecording, RecordingError, read_psg
from datamodules.recorded.video import NightVideo, VideoError

#: seconds after which a pure-Python reader counts as hung (the Hypothesis deadline catches the merely slow)
HANG_SECONDS = 20.0
#: seconds the child process may take to index one video before it counts as hung
VIDEO_HANG_SECONDS = 30.0
START = dt.datetime(2021, 3, 4, 23, 0, tzinfo=dt.timezone.utc)
#: the seed hypnogram's stages, one per 30 s epoch, every stage and an unscored epoch
SEED_LABELS = np.array([0, 1, 2, 3, 4, 2, 2, 0], dtype=np.int64)


def share(fraction: float) -> int:
    """This test's example budget: a fraction of the active profile's (slow readers get less)."""
    return max(1, int(settings.default.max_examples * fraction))


# -- the valid files mutated ---------------------------------------------------------------------------


def _flat_frames(indices: np.ndarray) -> np.ndarray:
    """Frame i is a flat gray of 16 i: cheap to encode, and every frame differs."""
    return np.repeat(np.asarray(indices, dtype=np.uint8) * np.uint8(16), 32 * 32).reshape(-1, 32, 32)


def _seed_night() -> SyntheticNight:
    """Two 30 s epochs of three 100 Hz channels and a 32x32 video at 0.2 fps (12 frames): tiny, but real."""
    rng = np.random.default_rng(11)
    rate_hz, epochs = 100.0, 2
    signals = rng.normal(0, 30e-6, (3, int(rate_hz * 30 * epochs))).astype(np.float32)
    return SyntheticNight(
        subject=1,
        night=0,
        labels=np.array([0, 2], dtype=np.int64),
        epoch_seconds=30.0,
        signals=signals,
        channel_names=("C4-M1", "EOG", "EMG"),
        channel_types=("eeg", "eog", "emg"),
        sample_rate=rate_hz,
        video_fps=0.2,
        video_size=(32, 32),
        render_frames=_flat_frames,
        num_frames=12,
    )


def _write_bdf(path: Path, signal_volts: np.ndarray, rate_hz: int) -> Path:
    """A one-channel BDF (24-bit Biosemi EDF) with 1 s records: the project writes no BDF, so by hand."""
    digital = np.clip(np.round(signal_volts / 1e-3 * 8388607), -8388608, 8388607).astype(np.int32)
    records = len(digital) // rate_hz
    fixed = (
        b"\xffBIOSEMI".ljust(8)
        + b"X X X X".ljust(80)
        + b"Startdate 04-MAR-2021 X X X".ljust(80)
        + START.strftime("%d.%m.%y").encode()
        + START.strftime("%H.%M.%S").encode()
        + str(256 * 2).encode().ljust(8)
        + b"24BIT".ljust(44)
        + str(records).encode().ljust(8)
        + b"1".ljust(8)
        + b"1".ljust(4)
    )
    fields = [b"EEG C4-M1", b"AgAgCl electrode", b"uV", b"-1000", b"1000", b"-8388608", b"8388607", b"HP:0.1Hz"]
    widths = [16, 80, 8, 8, 8, 8, 8, 80]
    signal_header = b"".join(value.ljust(width) for value, width in zip(fields, widths))
    signal_header += str(rate_hz).encode().ljust(8) + b"".ljust(32)
    samples = digital[: records * rate_hz].astype("<i4").tobytes()
    data = b"".join(samples[i : i + 3] for i in range(0, len(samples), 4))
    path.write_bytes(fixed + signal_header + data)
    return path


def _table(rows: list[list[str]], delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


class Seeds:
    """The valid files (bytes by name) and the folder their fuzzed copies are written to."""

    def __init__(self, files: dict[str, bytes], folder: Path) -> None:
        self.files = files
        self.folder = folder

    def write(self, name: str, mutated: Mutated) -> Path:
        """The mutated copy of seed ``name`` on disk, under a name that shows in any error message."""
        path = self.folder / f"fuzzed_{name}"
        path.write_bytes(mutated.data)
        return path

    def __repr__(self) -> str:  # printed with every failing example: names only
        return f"Seeds({sorted(self.files)})"


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Seeds:
    """Every seed file, written once per module by the project's own exporters where it has them."""
    root = tmp_path_factory.mktemp("fuzz_seeds")
    night = _seed_night()
    row = export_night(night, root / "export", video_codec="mjpeg", recording_start=START)
    files: dict[str, bytes] = {}
    export = root / "export"
    files["psg.edf"] = (export / row["psg"]).read_bytes()
    files["psg.bdf"] = _write_bdf(root / "psg.bdf", night.signals[0].astype(np.float64), 100).read_bytes()
    files["video_mjpeg.mp4"] = (export / row["video"]).read_bytes()
    write_video(night, root / "h264.mp4", codec="h264")
    files["video_h264.mp4"] = (root / "h264.mp4").read_bytes()

    rows = [row, {**row, "subject": 2, "video": "sub-002/a_video.mp4;sub-002/b_video.mp4", "video_offset_seconds": 2.5}]
    write_manifest(rows, root / "manifest.csv")
    files["manifest.csv"] = (root / "manifest.csv").read_bytes()
    table = list(csv.reader(io.StringIO(files["manifest.csv"].decode())))
    files["manifest.tsv"] = _table(table, "\t").encode()
    semicolons = [[cell.replace(";", "|") for cell in line] for line in table]  # ";" joins segments too
    files["manifest_semicolon.csv"] = _table(semicolons, ";").encode()
    files["manifest.yaml"] = yaml.safe_dump({"nights": rows}, sort_keys=False).encode()

    write_hypnogram_csv(SEED_LABELS, 30.0, root / "onsets.csv")
    onset_table = list(csv.reader(io.StringIO((root / "onsets.csv").read_text())))
    files["hypnogram_onsets.csv"] = (root / "onsets.csv").read_bytes()
    sleep_edf_style = [["onset", "duration", "sleep_stage"]] + [r[1:] for r in onset_table[1:]]
    files["hypnogram_onsets.tsv"] = _table(sleep_edf_style, "\t").encode()
    files["hypnogram_epochs.csv"] = _table([["epoch", "stage"]] + [[r[0], r[3]] for r in onset_table[1:]], ",").encode()
    files["hypnogram_epochs.tsv"] = _table([["Stage"]] + [[r[3]] for r in onset_table[1:]], "\t").encode()
    files["hypnogram_labels.txt"] = ("* scored by hand\n" + "\n".join(r[3] for r in onset_table[1:]) + "\n").encode()
    files["hypnogram_numbers.txt"] = ("\n".join(str(v) for v in SEED_LABELS.tolist()) + "\n").encode()
    unscored = np.where(np.arange(len(SEED_LABELS)) == 5, EXCLUDED, SEED_LABELS)
    write_annotations_edf(unscored, 30.0, root / "hypnogram.edf", recording_start=START)
    files["hypnogram.edf"] = (root / "hypnogram.edf").read_bytes()
    files["psg_annotations.edf"] = files["psg.edf"]

    folder = root / "fuzzed"
    folder.mkdir()
    seeds = Seeds(files, folder)
    _check_seeds_are_valid(seeds)
    return seeds


def _check_seeds_are_valid(seeds: Seeds) -> None:
    """The unmutated seeds read cleanly, so every refusal in a property is the mutation's doing."""
    unchanged = {name: seeds.write(name, Mutated(data, ())) for name, data in seeds.files.items()}
    for name in MANIFESTS:
        _check_manifest(read_manifest(unchanged[name]))
    for name in HYPNOGRAMS:
        _check_hypnogram(read_hypnogram(unchanged[name], recording_start=START), unchanged[name])
    for name in PSGS:
        _check_psg(read_psg(unchanged[name]))


# -- what a parsed result must satisfy -------------------------------------------------------------------


def _check_manifest(entries: list[NightEntry]) -> None:
    assert entries and all(isinstance(entry, NightEntry) for entry in entries)
    for entry in entries:
        assert isinstance(entry.subject, str) and entry.subject
        assert isinstance(entry.night, int)
        assert math.isfinite(entry.video_offset_seconds)
        assert entry.psg.is_absolute() and (entry.hypnogram is None or entry.hypnogram.is_absolute())
        assert entry.hypnogram is not None or not entry.scored  # no scored night without a hypnogram
        assert entry.videos and all(video.is_absolute() for video in entry.videos)
        assert entry.eeg_channels is None or (entry.eeg_channels and all(entry.eeg_channels))
    assert len({(entry.subject, entry.night) for entry in entries}) == len(entries)


def _check_hypnogram(hypnogram: Hypnogram, path: Path) -> None:
    labels = hypnogram.labels
    assert isinstance(labels, np.ndarray) and labels.dtype == np.int64 and labels.ndim == 1
    assert 1 <= labels.size <= MAX_RECORDING_SECONDS / hypnogram.epoch_seconds + 1
    assert labels.min() >= EXCLUDED and labels.max() <= 4
    assert hypnogram.epoch_seconds == 30.0 and math.isfinite(hypnogram.onset_seconds)
    assert hypnogram.path == path
    try:  # aligning to a PSG of the hypnogram's own length: the next thing every caller does
        align(hypnogram, hypnogram.onset_seconds + hypnogram.duration_seconds)
    except RecordingError as error:
        assert path.name in str(error)


def _check_psg(recording: PSGRecording) -> None:
    assert recording.signals.dtype == np.float32 and recording.signals.ndim == 2
    assert recording.signals.shape[0] == 1 and recording.signals.shape[1] > 0
    assert math.isfinite(recording.sample_rate) and recording.sample_rate > 0
    assert math.isfinite(recording.duration_seconds) and recording.duration_seconds > 0


def _check_video(result: dict[str, Any]) -> None:
    times = np.asarray(result["timestamps"], dtype=np.float64)
    assert times.size >= 1 and np.all(np.isfinite(times)) and np.all(np.diff(times) >= 0)
    assert times[0] == 0.0
    assert math.isfinite(result["duration_seconds"]) and result["duration_seconds"] >= times[-1]
    height, width = result["frame_size"]
    assert height >= 1 and width >= 1
    if result["clip"] is not None:
        assert result["clip"] == ((2, height, width), "uint8")


# -- judging one example ---------------------------------------------------------------------------------


class _Interrupted(Exception):
    """Raised into a reader that ran past the hang limit (it may catch and wrap it; the guard still fails)."""


@contextlib.contextmanager
def hang_guard(seconds: float, what: str) -> Iterator[None]:
    """Interrupt the block after ``seconds`` of wall-clock time and fail, whatever the block did with that."""
    fired = []

    def interrupt(signum: int, frame: Any) -> None:
        fired.append(True)
        raise _Interrupted(f"{what} ran past {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Exception:
        if not fired:
            raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if fired:
        raise AssertionError(f"{what} hung: still running after {seconds:g} s")


def judge(path: Path, read: Callable[[Path], Any], check: Callable[[Any], None]) -> str:
    """Read ``path``; a result must pass ``check``, an error must be an InputFileError naming the file.

    Any other exception propagates and fails the example. Returns "parsed" or "refused" for the statistics.
    """
    with hang_guard(HANG_SECONDS, f"reading {path.name}"):
        try:
            result = read(path)
        except InputFileError as error:
            assert path.name in str(error), f"the error does not name {path.name}: {error}"
            return "refused"
    check(result)
    return "parsed"


# -- the properties ------------------------------------------------------------------------------------

MANIFESTS = {"manifest.csv": ",", "manifest.tsv": "\t", "manifest_semicolon.csv": ";", "manifest.yaml": None}
HYPNOGRAMS = {
    "hypnogram_epochs.csv": ",",
    "hypnogram_epochs.tsv": "\t",
    "hypnogram_onsets.csv": ",",
    "hypnogram_onsets.tsv": "\t",
    "hypnogram_labels.txt": None,
    "hypnogram_numbers.txt": None,
    "hypnogram.edf": "edf",
    "psg_annotations.edf": "edf",
}
PSGS = ("psg.edf", "psg.bdf")
VIDEOS = ("video_mjpeg.mp4", "video_h264.mp4")


@pytest.mark.fuzz
@pytest.mark.parametrize("name", sorted(MANIFESTS))
@settings(max_examples=share(1.0))
@given(data=st.data())
def test_manifest_reader_accepts_or_names_the_file(seeds: Seeds, name: str, data: st.DataObject) -> None:
    text = seeds.files[name].decode()
    mutated = data.draw(mutated_text(text, MANIFESTS[name], yaml=name.endswith(".yaml")), label="mutated")
    event(judge(seeds.write(name, mutated), read_manifest, _check_manifest))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # MNE's arithmetic on a damaged header warns first
@pytest.mark.fuzz
@pytest.mark.parametrize("name", sorted(HYPNOGRAMS))
@settings(max_examples=share(1.0))
@given(data=st.data())
def test_hypnogram_reader_accepts_or_names_the_file(seeds: Seeds, name: str, data: st.DataObject) -> None:
    seed = seeds.files[name]
    if HYPNOGRAMS[name] == "edf":
        mutated = data.draw(mutated_binary(seed, "edf"), label="mutated")
    else:
        mutated = data.draw(mutated_text(seed.decode(), HYPNOGRAMS[name]), label="mutated")
    recording_start = data.draw(st.sampled_from((None, START)), label="recording_start")
    path = seeds.write(name, mutated)
    read = functools.partial(read_hypnogram, recording_start=recording_start)
    event(judge(path, read, lambda hypnogram: _check_hypnogram(hypnogram, path)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # MNE's arithmetic on a damaged header warns first
@pytest.mark.fuzz
@pytest.mark.parametrize("name", PSGS)
@settings(max_examples=share(1.0))
@given(data=st.data())
def test_psg_reader_accepts_or_names_the_file(seeds: Seeds, name: str, data: st.DataObject) -> None:
    mutated = data.draw(mutated_binary(seeds.files[name], "edf"), label="mutated")
    event(judge(seeds.write(name, mutated), read_psg, _check_psg))


@pytest.fixture(scope="module")
def video_indexer() -> Iterator[VideoIndexer]:
    indexer = VideoIndexer(VIDEO_HANG_SECONDS)
    yield indexer
    indexer.stop()


@pytest.mark.fuzz
@pytest.mark.parametrize("name", VIDEOS)
# no deadline: the index runs in a child process with its own hang guard (VIDEO_HANG_SECONDS), and the
# first example includes that process's start, which took 6.8 s on a loaded 2-core machine
@settings(max_examples=share(0.5), deadline=None)
@given(data=st.data())
def test_video_index_accepts_or_names_the_file(
    seeds: Seeds, video_indexer: VideoIndexer, name: str, data: st.DataObject
) -> None:
    mutated = data.draw(mutated_binary(seeds.files[name], "mp4"), label="mutated")
    path = seeds.write(name, mutated)
    result = video_indexer.index(path)
    if "error" in result:
        assert result["project_error"], f"{result['error']} from the video index: {result['message']}"
        assert path.name in result["message"], f"the error does not name {path.name}: {result['message']}"
        event("refused")
        return
    _check_video(result)
    event("parsed")


#: file-name stems a folder of recordings may hold: the exporter's, Sleep-EDF's, and odd ones
STEMS = ("sub-001", "sub-001_night-2", "SC4001", "sub-\u00b2", "sub-\u0663", "sub-", "_", "sub-001_night-", "a b")
#: the three files of a whole night, by role
WHOLE_NIGHT = ("_psg.edf", "_video.mp4", "_hypnogram.csv")
#: other endings a file may have: other suffixes, a second segment, a role word with more, no suffix
ENDINGS = ("_psg.bdf", "_PSG.EDF", "_video_2.mp4", "_video.avi", "_hypnogram.edf", "_hypnogram_x.csv", "_psg",
           ".edf", "_video.txt")  # fmt: skip


@st.composite
def recording_folders(draw: Any) -> list[str]:
    """Relative file names of a folder of recordings: whole nights, nights lacking a file, and stray files,
    under known and random stems."""
    name_characters = st.characters(exclude_categories=("Cs",), exclude_characters="/\x00")
    stem = st.one_of(st.sampled_from(STEMS), st.text(name_characters, min_size=1, max_size=20))
    folder = st.sampled_from(("", "night1/", "sub-001/"))
    names = []
    for prefix in draw(st.lists(st.tuples(folder, stem).map("".join), min_size=1, max_size=4)):
        roles = draw(st.sampled_from((WHOLE_NIGHT, WHOLE_NIGHT, WHOLE_NIGHT[:2], WHOLE_NIGHT[1:])))
        extra = draw(st.lists(st.one_of(st.sampled_from(ENDINGS), st.text(name_characters, max_size=10)), max_size=2))
        names += [prefix + ending for ending in (*roles, *extra)]
    return [name for name in names if all(_usable(part) for part in name.split("/"))]


def _usable(part: str) -> bool:
    """A file or folder name the file system takes (so the test writes every drawn name)."""
    return 0 < len(part.encode()) < 200 and part not in (".", "..")


@pytest.mark.fuzz
@settings(max_examples=share(0.5))
@given(names=recording_folders())
def test_discover_nights_lists_whole_nights_or_names_the_folder(
    tmp_path_factory: pytest.TempPathFactory, names: list[str]
) -> None:
    folder = tmp_path_factory.mktemp("recordings")
    try:
        _write_files(folder, names)
        with hang_guard(HANG_SECONDS, f"discovering {folder}"):
            try:
                rows = discover_nights(folder)
            except ValueError as error:
                assert str(folder) in str(error), f"the error does not name {folder}: {error}"
                event("refused")
                return
        _check_rows(folder, rows)
    finally:
        shutil.rmtree(folder)
    event("parsed")


def _write_files(folder: Path, names: list[str]) -> None:
    """One small file per name; a name that collides with another's folder (or the reverse) is left out."""
    for name in names:
        try:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(b"x")
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue


def _check_rows(folder: Path, rows: list[dict[str, Any]]) -> None:
    """Whole nights of existing files, and a manifest written from them (as `sacd manifest` does) reads back."""
    for row in rows:
        assert isinstance(row["night"], int) and row["night"] >= 0
        assert row["subject"] == 0 or row["subject"]
        subject_label(row["subject"])  # the inverse the CLI uses to name files must take every id
        assert (folder / row["psg"]).is_file()
        assert row["hypnogram"] == "" or (folder / row["hypnogram"]).is_file()  # empty: a night nobody scored
        assert all((folder / video).is_file() for video in row["video"].split(";"))
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=("subject", "night", "psg", "video", "hypnogram"), lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: row[key] for key in writer.fieldnames} for row in rows)
    try:
        entries = read_manifest(manifest)
    except ManifestError as error:  # two stems that are one subject-night ("sub-1", "sub-001"): said so, by name
        assert "more than once" in str(error), error
        return
    assert [entry.videos for entry in entries] == [tuple(folder / v for v in row["video"].split(";")) for row in rows]


# -- one plain test per defect the fuzzing found ---------------------------------------------------------------


def _manifest(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_utf16_manifest_is_read_and_latin1_is_refused(tmp_path: Path) -> None:
    """Excel's "Unicode text" (UTF-16 with BOM, tabs) was a UnicodeDecodeError; Latin-1 is refused by name."""
    text = "subject\tpsg\tvideo\thypnogram\nM\u00fcller\ta.edf\tv.mp4\th.csv\n"
    (entry,) = read_manifest(_manifest(tmp_path, "unicode.tsv", text.encode("utf-16")))
    assert entry.subject == "M\u00fcller" and entry.psg == (tmp_path / "a.edf").resolve()
    path = _manifest(tmp_path, "latin1.csv", text.replace("\t", ",").encode("latin-1"))
    with pytest.raises(ManifestError, match=r"latin1\.csv: the manifest is not UTF-8 text .*save the manifest as"):
        read_manifest(path)


def test_manifest_row_missing_a_cell_is_a_manifest_error(tmp_path: Path) -> None:
    """csv.Sniffer raised csv.Error ("Could not determine delimiter") on ragged rows; the header decides now."""
    path = _manifest(tmp_path, "ragged.csv", "subject,psg,video,hypnogram\n1,a.edf\n")
    with pytest.raises(ManifestError, match=r"ragged\.csv, row 2: empty \['video'\]"):
        read_manifest(path)
    path = _manifest(tmp_path, "short.csv", "subject,psg,video,hypnogram\n1,a.edf,v.mp4\n")
    assert read_manifest(path)[0].hypnogram is None  # no hypnogram cell: a night nobody scored
    path = _manifest(tmp_path, "extra.tsv", "subject\tpsg\tvideo\thypnogram\n1\ta.edf\tv.mp4\th.csv\textra\n")
    assert [entry.subject for entry in read_manifest(path)] == ["1"]


def test_manifest_unterminated_quote_is_a_manifest_error(tmp_path: Path) -> None:
    """A quote never closed swallowed the file into one field past csv's limit: csv.Error."""
    text = 'subject,psg,video,hypnogram\n"1,a.edf,v.mp4,h.csv\n' + "x" * 140_000 + "\n"
    path = _manifest(tmp_path, "quote.csv", text)
    with pytest.raises(ManifestError, match=r"quote\.csv: not a readable CSV/TSV table .*quoting"):
        read_manifest(path)


def test_manifest_yaml_syntax_error_is_a_manifest_error(tmp_path: Path) -> None:
    """yaml.scanner.ScannerError escaped the reader."""
    path = _manifest(tmp_path, "broken.yaml", "- subject: 1\n  psg: 'a.edf\n  video: v.mp4\n")
    with pytest.raises(ManifestError, match=r"broken\.yaml is not valid YAML at line 2, column 8 \(while scanning"):
        read_manifest(path)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        # each with what the reader did before: a TypeError, an OverflowError, NaN or a wrong night accepted, ...
        ("video_offset_seconds: 2021-03-04", "video_offset_seconds must be plain text or a number, got date"),
        ("night: .inf", "night must be a finite number"),  # OverflowError from int(float('inf'))
        ("video_offset_seconds: .nan", "video_offset_seconds must be a finite number"),  # accepted as NaN
        ("night: -1", "night must be a whole number"),  # accepted
        ("night: 2.5", "night must be a whole number"),  # silently night 2
        ('psg: "a\\0b.edf"', "the psg path 'a\\x00b.edf' is not a usable file name"),  # ValueError: embedded null byte
        ("psg: {file: a.edf}", "psg must be plain text or a number, got dict"),  # became the path "{'file': 'a.edf'}"
    ],
)
def test_manifest_cells_that_are_not_values_are_manifest_errors(tmp_path: Path, cell: str, message: str) -> None:
    row = {"subject": "1", "psg": "a.edf", "video": "v.mp4", "hypnogram": "h.csv"}
    key = cell.split(":")[0]
    lines = [f"  {k}: {v}" for k, v in row.items() if k != key] + [f"  {cell}"]
    path = _manifest(tmp_path, "cells.yaml", "-\n" + "\n".join(lines) + "\n")
    with pytest.raises(ManifestError) as caught:
        read_manifest(path)
    assert "cells.yaml, row 1" in str(caught.value) and message in str(caught.value)


def test_manifest_csv_infinite_night_is_a_manifest_error(tmp_path: Path) -> None:
    """int(float("inf")) raised OverflowError."""
    path = _manifest(tmp_path, "inf.csv", "subject,psg,video,hypnogram,night\n1,a.edf,v.mp4,h.csv,inf\n")
    with pytest.raises(ManifestError, match=r"inf\.csv, row 2: night must be a finite number"):
        read_manifest(path)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("onset,duration,stage\n9e18,30,W\n30,30,N2\n", "more than 604800 s"),  # MemoryError (2 EiB)
        ("onset,duration,stage\n0,30,W\n30,1e12,N2\n", "more than 604800 s"),  # MemoryError
        ("onset,duration,stage\n-inf,30,W\n30,30,N2\n", "must be finite numbers"),  # negative dimensions
        ("onset,duration,stage\n0,nan,W\n30,30,N2\n", "must be finite numbers"),  # NaN cast to one epoch
        ("onset,duration,stage\n0,30,W\n30,-30,N2\n", "negative duration"),  # silently one epoch
    ],
)
def test_hypnogram_onsets_and_durations_must_be_plausible(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "stages.csv"
    path.write_text(table)
    with pytest.raises(RecordingError, match=message) as caught:
        read_hypnogram(path)
    assert str(path) in str(caught.value)


def test_hypnogram_onsets_before_the_psg_and_unsorted_are_still_read(tmp_path: Path) -> None:
    """The bound refuses the absurd only: negative (scored before the PSG) and unsorted onsets stay valid."""
    path = tmp_path / "stages.csv"
    path.write_text("onset,duration,stage\n30,30,N2\n-30,60,W\n")
    hypnogram = read_hypnogram(path)
    assert hypnogram.onset_seconds == -30.0 and hypnogram.labels.tolist() == [0, 0, 2]


def test_hypnogram_unterminated_quote_is_a_recording_error(tmp_path: Path) -> None:
    """csv.Error "field larger than field limit" escaped the table reader."""
    path = tmp_path / "quote.csv"
    path.write_text('stage\n"W\n' + "W\n" * 70_000)
    with pytest.raises(RecordingError, match=r"quote\.csv: not a readable CSV/TSV table"):
        read_hypnogram(path)


def test_hypnogram_utf16_table_is_read(tmp_path: Path) -> None:
    path = tmp_path / "stages.txt"
    path.write_bytes("Stage\nW\nN2\nREM\n".encode("utf-16"))
    assert read_hypnogram(path).labels.tolist() == [0, 2, 4]


def test_edf_annotation_onset_far_beyond_a_week_is_refused(tmp_path: Path) -> None:
    """An EDF+ TAL onset of 99999999999 s made the epoch grid a 25 GiB array (MemoryError, or the machine's memory)."""
    rows = [(0.0, 30.0, "Sleep stage W"), (99_999_999_999.0, 30.0, "Sleep stage 2")]
    edf = edfio.Edf(
        [],
        recording=edfio.Recording(startdate=START.date()),
        starttime=START.time().replace(tzinfo=None),
        annotations=[edfio.EdfAnnotation(onset, duration, text) for onset, duration, text in rows],
    )
    path = tmp_path / "far.edf"
    edf.write(path)
    with pytest.raises(RecordingError, match=r"far\.edf: the stages run from 0 s to 1e\+11 s, more than 604800 s"):
        read_hypnogram(path)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("record_seconds", [b"1e-320  ", b"nan     "])
def test_psg_record_duration_that_gives_no_sampling_rate_is_refused(seeds: Seeds, record_seconds: bytes) -> None:
    """A BDF header's record duration of 1e-320 s (or NaN) gave MNE an infinite rate: OverflowError / ValueError."""
    data = bytearray(seeds.files["psg.bdf"])
    data[244:252] = record_seconds
    path = seeds.write("psg.bdf", Mutated(bytes(data), ("record duration",)))
    with pytest.raises(RecordingError) as caught:
        read_psg(path)
    assert str(path) in str(caught.value)


def test_video_whose_decoder_config_is_damaged_is_a_video_error(seeds: Seeds) -> None:
    """A damaged esds box left PyAV a 0x0 stream: indexed as 0x0 pixels, then av.InvalidDataError on decoding."""
    data = bytearray(seeds.files["video_mjpeg.mp4"])
    esds = data.find(b"esds")
    data[esds - 4 : esds] = struct.pack(">I", 1)
    path = seeds.write("damaged.mp4", Mutated(bytes(data), ("esds size 1",)))
    with pytest.raises(VideoError, match=r"damaged\.mp4: the video stream declares a frame size of 0x0 pixels"):
        NightVideo([path])


def test_video_that_indexes_but_cannot_be_decoded_is_a_video_error(seeds: Seeds) -> None:
    """A zeroed H.264 decoder record (avcC) indexed fine, then PyAV's InvalidDataError escaped the clip."""
    data = bytearray(seeds.files["video_h264.mp4"])
    record = data.find(b"avcC") + 4
    data[record : record + 4] = bytes(4)
    path = seeds.write("undecodable.mp4", Mutated(bytes(data), ("avcC zeroed",)))
    video = NightVideo([path])
    with pytest.raises(VideoError, match=r"undecodable\.mp4: FFmpeg cannot decode this video"):
        video.clip(0.0, video.duration_seconds, 2)


def test_video_declaring_billions_of_frames_is_read_without_decord(seeds: Seeds, video_indexer: VideoIndexer) -> None:
    """decord trusted a damaged stts sample count (2.5e9 frames in 7 KB) and aborted the process (std::bad_alloc).

    Run in the child process, so that if the guard ever breaks this test fails instead of killing the session.
    """
    data = bytearray(seeds.files["video_mjpeg.mp4"])
    sample_count = data.find(b"stts") + 12  # after the box type, version and flags, and the entry count
    data[sample_count : sample_count + 4] = struct.pack(">I", 2_499_805_196)
    path = seeds.write("billions.mp4", Mutated(bytes(data), ("stts sample count 2499805196",)))
    result = video_indexer.index(path)
    assert result["backends"] == ("pyav",) and len(result["timestamps"]) == 12, result
    with pytest.raises(VideoError, match=r"billions\.mp4: not handed to decord: its header declares 2499805196 frames"):
        NightVideo([path], backend="decord")


def test_video_with_damaged_metadata_text_is_read(seeds: Seeds) -> None:
    """PyAV raised UnicodeDecodeError on a container whose brand tags are not UTF-8; the video itself is intact."""
    data = bytearray(seeds.files["video_mjpeg.mp4"])
    data[20:24] = b"\xff\xfe\xfd\xfc"  # the ftyp box's second compatible brand
    path = seeds.write("brands.mp4", Mutated(bytes(data), ("ftyp brand not UTF-8",)))
    for backend in ("auto", "pyav"):
        assert NightVideo([path], backend=backend).num_frames == 12


def test_discover_folder_with_a_superscript_digit_subject(tmp_path: Path) -> None:
    """"sub-\u00b2" passed str.isdigit and int() raised ValueError; it is a text label now."""
    for role in ("_psg.edf", "_video.mp4", "_hypnogram.csv"):
        (tmp_path / f"sub-\u00b2{role}").write_bytes(b"x")
    (row,) = discover_nights(tmp_path)
    assert row["subject"] == "\u00b2" and subject_label(row["subject"]) == "sub-\u00b2"


def test_discover_bare_sub_prefix_is_its_own_subject(tmp_path: Path) -> None:
    """Files "sub-_psg.edf" ... gave subject "" (a manifest row read_manifest refuses); the label is kept now."""
    for role in ("_psg.edf", "_video.mp4", "_hypnogram.csv"):
        (tmp_path / f"sub-{role}").write_bytes(b"x")
    (row,) = discover_nights(tmp_path)
    assert row["subject"] == "sub-" and subject_label(row["subject"]) == "sub-"


@pytest.mark.parametrize("stem", ["a;b", " sub-001", "\rsub-001"])
def test_discover_names_a_manifest_cannot_hold_are_refused(tmp_path: Path, stem: str) -> None:
    """"a;b_video.mp4" became the two segments "a" and "b_video.mp4"; a leading space or control character was
    stripped by the manifest reader, which then read another file (or none)."""
    for role in ("_psg.edf", "_video.mp4", "_hypnogram.csv"):
        (tmp_path / f"{stem}{role}").write_bytes(b"x")
    with pytest.raises(ValueError, match="cannot go into a manifest .*rename them") as caught:
        discover_nights(tmp_path)
    assert str(tmp_path) in str(caught.value)

