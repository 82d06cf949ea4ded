"""Build a manifest from a folder by one naming rule.

A night's files share a stem and end in a role word:

    <stem>_psg.<edf|bdf|fif>          the PSG
    <stem>_video[<anything>].<mp4|avi|mkv|mov>   the video; several files are segments, sorted by name
    <stem>_hypnogram.<csv|tsv|txt|edf>           the scored hypnogram (CSV/TSV/TXT preferred over EDF)

``<stem>`` is the subject's label, optionally followed by ``_night-<N>``; ``sacd synth`` writes exactly
this layout (``sub-001_night-0_psg.edf`` ...), and ``sub-001`` is subject 1 in both manifests. Files
may sit in subfolders.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

PSG_SUFFIXES = (".edf", ".bdf", ".fif")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")
HYPNOGRAM_SUFFIXES = (".csv", ".tsv", ".txt", ".edf")  # in order of preference
_ROLE = re.compile(r"^(?P<stem>.+?)_(?P<role>psg|video|hypnogram)(?P<rest>[^.]*)$", re.IGNORECASE)
_NIGHT = re.compile(r"^(?P<subject>.+?)_night-(?P<night>\d+)$")


def discover_nights(folder: str | Path) -> list[dict[str, str | int]]:
    """Manifest rows (paths relative to ``folder``) for every stem that has a PSG and a video.

    A stem without a hypnogram is a night nobody scored: its row's hypnogram is empty (training only).
    Raises ValueError listing the stems that miss the PSG or the video, so nothing is silently dropped,
    and the file names a manifest cannot hold as they are (see :func:`_fits_a_manifest`).
    """
    folder = Path(folder)
    found: dict[str, dict[str, list[Path]]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        match = _ROLE.match(path.stem)
        if not match:
            continue
        role, suffix = match["role"].lower(), path.suffix.lower()
        allowed = {"psg": PSG_SUFFIXES, "video": VIDEO_SUFFIXES, "hypnogram": HYPNOGRAM_SUFFIXES}[role]
        if suffix in allowed and (role == "video" or not match["rest"]):
            found.setdefault(match["stem"], {}).setdefault(role, []).append(path)
    matched = [path for roles in found.values() for paths in roles.values() for path in paths]
    relative = (path.relative_to(folder).as_posix() for path in matched)
    unusable = sorted(name for name in relative if not _fits_a_manifest(name))
    if unusable:
        raise ValueError(
            f"{folder}: the file names {unusable[:5]} cannot go into a manifest (a control character, a space at "
            "the start or end, or ';', which separates video segments); rename them"
        )
    rows, incomplete = [], []
    for stem, roles in sorted(found.items()):
        lacking = [role for role in ("psg", "video") if role not in roles]
        if lacking:
            incomplete.append(f"{stem} (no {', '.join(lacking)})")
            continue
        scorings = sorted(roles.get("hypnogram", []), key=lambda p: HYPNOGRAM_SUFFIXES.index(p.suffix.lower()))
        night = _NIGHT.match(stem)
        rows.append({
            "subject": subject_id(night["subject"] if night else stem),
            "night": int(night["night"]) if night else 0,
            "psg": roles["psg"][0].relative_to(folder).as_posix(),
            "video": ";".join(p.relative_to(folder).as_posix() for p in sorted(roles["video"])),
            "hypnogram": scorings[0].relative_to(folder).as_posix() if scorings else "",
            "video_offset_seconds": 0.0,
        })  # fmt: skip
    if incomplete:
        raise ValueError(
            f"{folder}: incomplete nights {incomplete}. Name files <stem>_psg.edf, <stem>_video.mp4 and, for a "
            "scored night, <stem>_hypnogram.csv (see docs/data-format.md)"
        )
    if not rows:
        raise ValueError(f"{folder}: no <stem>_psg / _video / _hypnogram files found (see docs/data-format.md)")
    return rows


def subject_id(label: str) -> str | int:
    """The manifest's subject id for a file-name label: the BIDS label after ``sub-``, as a number when
    it is one, so ``sub-001`` is subject 1 here exactly as in the manifest ``sacd synth`` writes."""
    bare = label[4:] if label.lower().startswith("sub-") else label
    if not bare:  # "sub-" alone: the label itself, since an empty subject id cannot be a manifest row
        return label
    return int(bare) if _is_number(bare) else bare


def subject_label(subject: str | int) -> str:
    """The file-name label of a subject id: ``sub-001`` for 1 (the inverse of :func:`subject_id`)."""
    text = str(subject).strip()
    if text.lower().startswith("sub-"):
        return text
    return f"sub-{int(text):03d}" if _is_number(text) else f"sub-{text}"


def _fits_a_manifest(name: str) -> bool:
    """Whether a manifest cell can hold ``name`` as it is: the reader strips cells and splits videos at ";"."""
    return name == name.strip() and ";" not in name and not any(unicodedata.category(c) == "Cc" for c in name)


def _is_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts "²" and other digits ``int`` refuses."""
    return text.isascii() and text.isdigit()
