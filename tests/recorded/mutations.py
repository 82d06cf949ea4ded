"""Mutations of valid input files for the reader fuzz tests, as Hypothesis strategies.

Every strategy here starts from the bytes of a file the project itself writes and damages them the
way files get damaged in transit or by other software: flipped bytes, truncation at every length
class of the format, inserted garbage, another text encoding, and field-level edits (empty fields,
huge, negative and non-finite numbers, extra or missing columns, a repeated header). A drawn
:class:`Mutated` carries the damaged bytes and a one-line account of what was done, which is what a
failing example prints.

The video index runs in a child process (:func:`index_video`) so a decoder that crashes or spins on
a damaged file fails one example instead of the whole test session.
"""

from __future__ import annotations

import multiprocessing
import re
import shutil
import struct
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

#: field values that broke or could break a number parser: empty, huge, negative, non-finite, odd digits
NASTY_VALUES: tuple[str, ...] = (
    "",
    " ",
    "0",
    "-0",
    "-1",
    "-30",
    "0.5",
    "30.",
    "+30",
    "1e308",
    "-1e308",
    "1e309",
    "9e18",
    "-9e18",
    "9223372036854775807",
    "18446744073709551616",
    "1e-320",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1_000",
    "0x10",
    "--1",
    "1e",
    "\uff13\uff10",  # fullwidth "30", which float() accepts
    "\u0663\u0660",  # Arabic-Indic "30", which float() accepts
    "\x00",
    '"',
    "'",
    "Schlafstadium Wach \u00e9\u00df",
    "x" * 300,
)
#: dates and times an EDF header may hold in its "dd.mm.yy" / "hh.mm.ss" fields that are no date or time
BAD_DATES: tuple[str, ...] = ("99.99.99", "31.02.21", "00.00.00", "24.61.61")
#: text a YAML manifest may hold that a plain value never does: tags, aliases, nesting, dates
YAML_VALUES: tuple[str, ...] = (
    "!!python/object/apply:os.system ['true']",
    "!!binary aGVsbG8=",
    "*undefined",
    "&a [*a]",
    "[1, [2, [3]]]",
    "{a: 1}",
    "2021-03-04",
    "2021-03-04 23:00:00",
    ".nan",
    "-.inf",
    "null",
    "~",
    "yes",
    "[",
    "{",
    "'unterminated",
    "? complex",
    "\t- tab",
    "[" * 2000,
)
#: whole lines a file should never hold, inserted between its lines
GARBAGE_LINES: tuple[str, ...] = (
    "",
    ",,,,",
    ";;;",
    "\t\t",
    '"unterminated, quoted',
    "# a comment",
    "\x00\x00\x00",
    "\ufeffsubject,psg",
    "----",
    "nights:",
    "- - -",
)
#: binary garbage inserted into binary files
GARBAGE_BYTES: tuple[bytes, ...] = (b"\x00", b"\xff" * 8, b"\x00" * 64, b"\r\n", b"nan", b"-1", b"\x14\x00", b"\x80")
#: 32-bit words that upset container parsers: zero, all ones, sign bit, huge, one
NASTY_WORDS: tuple[int, ...] = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x00010000)
#: address space the video-index child may use: a runaway allocation fails there, not the machine
CHILD_MEMORY_BYTES = 6 * 1024**3
#: encodings text files arrive in besides UTF-8
ENCODINGS: tuple[str, ...] = ("utf-16", "utf-16-le", "utf-16-be", "latin-1", "cp1252", "utf-8-sig")


class Mutated:
    """Damaged file content and what was done to it; the repr is the recipe, so a failing example reads well."""

    __slots__ = ("data", "steps")

    def __init__(self, data: bytes, steps: tuple[str, ...]) -> None:
        self.data = data
        self.steps = steps

    def __repr__(self) -> str:
        return f"Mutated({len(self.data)} bytes: {'; '.join(self.steps) or 'unchanged'}; starts {self.data[:48]!r})"


# -- where a binary file's parts lie ---------------------------------------------------------------


def edf_regions(data: bytes) -> dict[str, tuple[int, int]]:
    """Byte ranges of an EDF/BDF file's fixed header, per-signal header and data records."""
    try:
        header_bytes = int(data[184:192].decode("ascii").strip())
    except ValueError:
        header_bytes = 256
    header_bytes = min(max(header_bytes, 257), len(data) - 1)
    return {"fixed header": (0, 256), "signal header": (256, header_bytes), "data records": (header_bytes, len(data))}


def edf_number_fields(data: bytes) -> list[tuple[str, int, int]]:
    """(name, start, width) of every numeric or date field of an EDF/BDF header, per signal too."""
    fields = [
        ("start date", 168, 8),
        ("start time", 176, 8),
        ("header bytes", 184, 8),
        ("reserved", 192, 44),
        ("records", 236, 8),
        ("record seconds", 244, 8),
        ("signals", 252, 4),
    ]
    try:
        signals = int(data[252:256].decode("ascii").strip())
    except ValueError:
        return fields
    per_signal = (("physical min", 104, 8), ("physical max", 112, 8), ("digital min", 120, 8),
                  ("digital max", 128, 8), ("samples per record", 216, 8))  # fmt: skip
    for name, offset, width in per_signal:
        for signal in range(signals):
            fields.append((f"{name} of signal {signal}", 256 + offset * signals + width * signal, width))
    return fields


def mp4_regions(data: bytes) -> dict[str, tuple[int, int]]:
    """Byte ranges of an MP4's top-level boxes (ftyp, mdat, moov, ...), found by walking their sizes."""
    regions: dict[str, tuple[int, int]] = {}
    position = 0
    while position + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[position : position + 8])
        if size < 8 or position + size > len(data):
            break
        regions[kind.decode("latin-1")] = (position, position + size)
        position += size
    return regions or {"file": (0, len(data))}


def whole_file(data: bytes) -> dict[str, tuple[int, int]]:
    """One region, the whole file (text files have no binary structure to aim at)."""
    return {"file": (0, len(data))}


# -- byte-level mutations ------------------------------------------------------------------------------


def _clamped(regions: dict[str, tuple[int, int]], size: int) -> dict[str, tuple[int, int]]:
    """The regions that still hold bytes of a file of ``size`` bytes (an earlier mutation may have cut it)."""
    inside = {name: (start, min(end, size)) for name, (start, end) in regions.items() if start < min(end, size)}
    return inside or {"file": (0, max(size, 1))}


@st.composite
def _position(draw: Any, regions: dict[str, tuple[int, int]]) -> tuple[str, int]:
    """A region's name and a byte offset inside it."""
    name = draw(st.sampled_from(sorted(regions)))
    start, end = regions[name]
    return name, draw(st.integers(start, max(start, end - 1)))


@st.composite
def truncations(draw: Any, data: bytes, regions: dict[str, tuple[int, int]]) -> tuple[bytes, str]:
    """The file cut at one length class: empty, one byte, inside each region, or short of its last byte."""
    kind = draw(st.sampled_from(("empty", "one byte", "inside a region", "last byte")))
    if kind == "empty":
        return b"", "truncated to 0 bytes"
    if kind == "one byte":
        return data[:1], "truncated to 1 byte"
    if kind == "last byte":
        return data[:-1], f"truncated to {len(data) - 1} bytes (last byte dropped)"
    name, cut = draw(_position(_clamped(regions, len(data))))
    return data[:cut], f"truncated to {cut} bytes (inside the {name})"


@st.composite
def byte_flips(draw: Any, data: bytes, regions: dict[str, tuple[int, int]]) -> tuple[bytes, str]:
    """One to eight bytes XOR-ed with a random mask, at offsets inside one region."""
    if not data:
        return data, "nothing to flip"
    out = bytearray(data)
    regions = _clamped(regions, len(data))
    name = draw(st.sampled_from(sorted(regions)))
    start, end = regions[name]
    offsets = draw(st.lists(st.integers(start, end - 1), min_size=1, max_size=8))
    for offset in offsets:
        out[offset] ^= draw(st.integers(1, 255))
    return bytes(out), f"flipped bytes {sorted(set(offsets))} (in the {name})"


@st.composite
def inserted_garbage(draw: Any, data: bytes, regions: dict[str, tuple[int, int]]) -> tuple[bytes, str]:
    """Garbage bytes (known-nasty or random) inserted at an offset inside one region."""
    name, offset = draw(_position(_clamped(regions, len(data) + 1)))
    garbage = draw(st.one_of(st.sampled_from(GARBAGE_BYTES), st.binary(min_size=1, max_size=64)))
    step = f"inserted {garbage[:16]!r} ({len(garbage)} bytes) at {offset} ({name})"
    return data[:offset] + garbage + data[offset:], step


@st.composite
def edf_field_edits(draw: Any, data: bytes) -> tuple[bytes, str]:
    """One numeric EDF/BDF header field overwritten (padded to its width) with a nasty number."""
    name, start, width = draw(st.sampled_from(edf_number_fields(data)))
    value = draw(st.sampled_from(NASTY_VALUES + BAD_DATES))
    text = value.encode("latin-1", errors="replace")[:width].ljust(width, b" ")
    return data[:start] + text + data[start + width :], f"header field {name!r} set to {text!r}"


@st.composite
def numeric_token_edits(draw: Any, data: bytes) -> tuple[bytes, str]:
    """One number written in the file (e.g. an EDF+ annotation's onset or duration) replaced by a nasty one."""
    tokens = [m for m in re.finditer(rb"[+-]?\d+(?:\.\d+)?", data)]
    if not tokens:
        return data, "no number to edit"
    token = draw(st.sampled_from(tokens))
    sign = token.group()[:1] if token.group()[:1] in b"+-" else b""
    value = sign + draw(st.sampled_from(("0", "1e308", "99999999999", "1", "0.0000001", "123456789.5", ""))).encode()
    if draw(st.booleans()):
        value = draw(st.sampled_from(NASTY_VALUES)).encode("utf-8")
    step = f"number {token.group()!r} at {token.start()} -> {value!r}"
    return data[: token.start()] + value + data[token.end() :], step


@st.composite
def mp4_word_edits(draw: Any, data: bytes, regions: dict[str, tuple[int, int]]) -> tuple[bytes, str]:
    """A 32-bit word inside a container box (sizes, counts, time scales, offsets) set to a nasty value."""
    boxes = _clamped({k: v for k, v in regions.items() if k != "mdat"} or regions, len(data))
    name, offset = draw(_position(boxes))
    offset = min(offset, max(0, len(data) - 4))
    word = draw(st.one_of(st.sampled_from(NASTY_WORDS), st.integers(0, 0xFFFFFFFF)))
    return data[:offset] + struct.pack(">I", word) + data[offset + 4 :], f"word at {offset} ({name}) set to {word:#x}"


def byte_mutation(data: bytes, regions: dict[str, tuple[int, int]]) -> st.SearchStrategy[tuple[bytes, str]]:
    """Any one byte-level mutation aimed at ``regions``."""
    return st.one_of(truncations(data, regions), byte_flips(data, regions), inserted_garbage(data, regions))


@st.composite
def mutated_binary(draw: Any, data: bytes, kind: str) -> Mutated:
    """One to three mutations of a binary file: ``kind`` "edf" (EDF, EDF+, BDF) or "mp4"."""
    steps: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        regions = edf_regions(data) if kind == "edf" else mp4_regions(data)
        options = [byte_mutation(data, regions)]
        if kind == "edf":
            options += [edf_field_edits(data), numeric_token_edits(data)]
        else:
            options.append(mp4_word_edits(data, regions))
        data, step = draw(st.one_of(options))
        steps.append(step)
    return Mutated(data, tuple(steps))


# -- text-level mutations ----------------------------------------------------------------------------


def _split(line: str, delimiter: str | None) -> list[str]:
    return line.split(delimiter) if delimiter else [line]


def _join(fields: list[str], delimiter: str | None) -> str:
    return (delimiter or "").join(fields)


@st.composite
def field_edits(draw: Any, lines: list[str], delimiter: str | None, values: tuple[str, ...]) -> tuple[list[str], str]:
    """One field of one line replaced by a nasty value (or random text)."""
    if not lines:
        return lines, "no line to edit"
    number = draw(st.integers(0, len(lines) - 1))
    fields = _split(lines[number], delimiter)
    column = draw(st.integers(0, len(fields) - 1))
    value = draw(st.one_of(st.sampled_from(values), st.text(max_size=12)))
    if delimiter is None and ": " in fields[column]:  # YAML "key: value": keep the key
        fields[column] = fields[column].split(": ", 1)[0] + ": " + value
    else:
        fields[column] = value
    lines = lines[:number] + [_join(fields, delimiter)] + lines[number + 1 :]
    return lines, f"line {number + 1} field {column + 1} -> {value[:40]!r}"


@st.composite
def column_edits(draw: Any, lines: list[str], delimiter: str | None) -> tuple[list[str], str]:
    """A column added or removed, in one line or in every line."""
    if not lines or delimiter is None:
        return lines, "no columns to edit"
    every = draw(st.booleans())
    numbers = range(len(lines)) if every else [draw(st.integers(0, len(lines) - 1))]
    add = draw(st.booleans())
    out = list(lines)
    for number in numbers:
        fields = _split(out[number], delimiter)
        if add:
            fields.insert(draw(st.integers(0, len(fields))), draw(st.sampled_from(("extra", "", "1e308", "stage"))))
        elif len(fields) > 1:
            del fields[draw(st.integers(0, len(fields) - 1))]
        out[number] = _join(fields, delimiter)
    return out, f"{'added' if add else 'removed'} a column in {'every line' if every else f'line {numbers[0] + 1}'}"


@st.composite
def line_edits(draw: Any, lines: list[str]) -> tuple[list[str], str]:
    """A line duplicated (the header too), removed, swapped, or a garbage line inserted."""
    if not lines:
        return [draw(st.sampled_from(GARBAGE_LINES))], "a garbage line in an empty file"
    kind = draw(st.sampled_from(("duplicate", "remove", "swap", "garbage", "duplicate header", "crlf")))
    number = draw(st.integers(0, len(lines) - 1))
    out = list(lines)
    if kind == "duplicate":
        out.insert(number, lines[number])
    elif kind == "duplicate header":
        out.insert(draw(st.integers(1, len(lines))), lines[0])
    elif kind == "remove":
        del out[number]
    elif kind == "swap":
        other = draw(st.integers(0, len(lines) - 1))
        out[number], out[other] = out[other], out[number]
    elif kind == "garbage":
        out.insert(number, draw(st.one_of(st.sampled_from(GARBAGE_LINES), st.text(max_size=30))))
    else:
        out = [line + "\r" for line in out]
    return out, f"{kind} at line {number + 1}"


@st.composite
def mutated_text(draw: Any, text: str, delimiter: str | None, yaml: bool = False) -> Mutated:
    """One to three text edits, then an encoding (UTF-8 mostly, or another), then maybe a byte-level mutation."""
    lines = text.splitlines()
    values = NASTY_VALUES + (YAML_VALUES if yaml else ())
    steps: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        choice = draw(st.sampled_from(("field", "field", "column", "line")))
        if choice == "field":
            lines, step = draw(field_edits(lines, delimiter, values))
        elif choice == "column":
            lines, step = draw(column_edits(lines, delimiter))
        else:
            lines, step = draw(line_edits(lines))
        steps.append(step)
    body = "\n".join(lines) + draw(st.sampled_from(("\n", "", "\n\n")))
    encoding = draw(st.sampled_from(("utf-8",) * 4 + ENCODINGS))
    if encoding in ("latin-1", "cp1252") and body.isascii():
        body = body.replace(lines[0], lines[0] + " \u00e9", 1) if lines and lines[0] else "\u00e9" + body
        steps.append("added non-ASCII text")
    data = body.encode(encoding, errors="replace")
    if encoding != "utf-8":
        steps.append(f"encoded as {encoding}")
    if draw(st.integers(0, 3)) == 0:
        data, step = draw(byte_mutation(data, whole_file(data)))
        steps.append(step)
    return Mutated(data, tuple(steps))


# -- the video index in a child process ------------------------------------------------------------------


def index_video(path: str) -> dict[str, Any]:
    """Index one video as ``NightVideo`` does, then decode two frames of it (runs in the fuzz tests' child process).

    Returns plain values only (a reader's exception may not pickle): on success the timestamps, frame size,
    duration and the decoded clip's shape and type; on an error its type, its message and whether it is the
    project's :class:`InputFileError`.
    """
    from datamodules.recorded.errors import InputFileError
    from datamodules.recorded.video import NightVideo

    try:
        video = NightVideo([path])
        clip = None
        if video.duration_seconds > 0:  # a clip needs a window of positive length
            start = float(video.timestamps_seconds[0])
            clip = video.clip(start, start + video.duration_seconds, 2)
    except Exception as error:  # reported back and judged by the test
        project_error = isinstance(error, InputFileError)
        return {"error": type(error).__name__, "message": str(error), "project_error": project_error}
    return {
        "timestamps": video.timestamps_seconds.tolist(),
        "frame_size": video.frame_size,
        "duration_seconds": video.duration_seconds,
        "backends": video.backend_used,
        "clip": None if clip is None else (clip.shape, str(clip.dtype)),
    }


class VideoIndexer:
    """A persistent child process that indexes videos, restarted after it dies or hangs.

    A decoder in C can segfault or spin on a damaged file; in a child that fails one example, with its input,
    instead of the whole test session. The child caps its address space so a runaway allocation fails there.
    """

    def __init__(self, hang_seconds: float) -> None:
        self.hang_seconds = hang_seconds
        self.kept = 0
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._connection: Any = None

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(target=_serve_video_index, args=(child,), daemon=True)
        self._process.start()
        child.close()
        self._connection = parent

    def index(self, path: Path) -> dict[str, Any]:
        """What ``NightVideo([path])`` gave in the child; an AssertionError if the child died or hung.

        The input that killed or stalled the child is kept beside it (named in the message), since the
        fuzzed file is overwritten by the next example.
        """
        if self._process is None or not self._process.is_alive():
            self._start()
        self._connection.send(str(path))
        if not self._connection.poll(self.hang_seconds):
            self.stop()
            kept = self._keep(path)
            raise AssertionError(f"indexing {path.name} hung: no answer after {self.hang_seconds:g} s ({kept})")
        try:
            return self._connection.recv()
        except (EOFError, ConnectionError):
            self._process.join(5)
            code = self._process.exitcode
            self.stop()
            raise AssertionError(
                f"the process indexing {path.name} died (exit code {code}): the decoder crashed ({self._keep(path)})"
            ) from None

    def _keep(self, path: Path) -> str:
        """Copy the input that broke the child to a name of its own; say where."""
        self.kept += 1
        kept = path.with_name(f"broke-the-decoder-{self.kept}-{path.name}")
        shutil.copyfile(path, kept)
        return f"input kept at {kept}"

    def stop(self) -> None:
        """End the child (it is ours: started by this object) and forget it."""
        if self._connection is not None:
            self._connection.close()
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(5)
        self._process = self._connection = None


def _serve_video_index(connection: Any) -> None:
    """The child's loop: index each path sent until the pipe closes."""
    import resource

    limit = CHILD_MEMORY_BYTES
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            path = connection.recv()
        except EOFError:
            return
        connection.send(index_video(path))
