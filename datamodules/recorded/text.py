"""Decode a text file from outside (a manifest, a hypnogram table) the way sleep labs' software writes them.

Spreadsheets save UTF-8 with a byte-order mark ("CSV UTF-8") or UTF-16 with one ("Unicode text"); both
are read. Anything else that is not UTF-8 (Latin-1, Windows-1252) is refused rather than guessed at, since
a wrong guess silently changes a label or a path; the error names the file and says how to save it.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from datamodules.recorded.errors import InputFileError

__all__ = ["read_text"]

#: byte-order marks and the codec each one announces (UTF-8's is dropped by "utf-8-sig")
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_text(path: Path, what: str, error_type: type[InputFileError], fix: str | None = None) -> str:
    """The text of ``path``: UTF-8 (a BOM allowed) or UTF-16 with a BOM; ``error_type`` naming the file if not.

    ``fix`` ends the message (default: save the file as UTF-8).

    A NUL byte never occurs in a text manifest or hypnogram, but does in UTF-16 written without a BOM,
    which would otherwise decode as UTF-8 into text full of NULs and fail later with a confusing message.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise error_type(
            f"{path}: cannot open the {what} ({error.strerror or error}); make the file readable by this user "
            "(e.g. chmod a+r) or copy it somewhere readable"
        ) from error
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    save_as = fix or f"save the {what} as UTF-8 text (in a spreadsheet: 'CSV UTF-8')"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise error_type(
            f"{path}: the {what} is not {encoding.removesuffix('-sig').upper()} text (byte {data[error.start]:#04x} at "
            f"position {error.start} is not valid there: a Latin-1 or Windows-1252 file, or not text at all); {save_as}"
        ) from error
    if "\x00" in text:
        raise error_type(
            f"{path}: the {what} holds NUL bytes, so it is not plain text (UTF-16 without a byte-order mark, or a "
            f"binary file); {save_as}"
        )
    return text
