"""Read a real PSG recording (EDF, EDF+, BDF, or anything MNE opens) into volts at a fixed rate.

Clinics name the same derivation many ways ("C4-M1", "EEG C4-A1", "C4:M1") or store only single
electrodes against a common reference ("C4", "M1"). The teacher needs one fixed derivation at one
fixed rate, so this module finds the channel by alias, re-references when needed, band-passes and
resamples with MNE, and turns every way a file can be wrong into one :class:`RecordingError` that
names the file and the fix. NaN and flat stretches are data, not errors: :func:`bad_epochs` flags
them so the caller can drop those epochs instead of losing the whole night.
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datamodules.recorded.errors import InputFileError

__all__ = [
    "CHANNEL_ALIASES",
    "MAX_RECORDING_SECONDS",
    "PSGRecording",
    "RecordingError",
    "bad_epochs",
    "check_readable",
    "read_psg",
]


class RecordingError(InputFileError):
    """A recording or hypnogram cannot be used as given; the message names the file and the fix."""


#: longest recording (and hypnogram) accepted, in seconds (7 days, several nights of a long-term study): a
#: header or onset beyond it is a damaged or misread file, refused before it is expanded into gigabytes
MAX_RECORDING_SECONDS = 7 * 24 * 3600.0

#: canonical derivation -> names it goes by in real files. Matching ignores case, spaces and a
#: leading type word (EEG/EOG/EMG), so "EEG C4-A1" and "c4 - a1" both match "C4-A1".
CHANNEL_ALIASES: dict[str, tuple[str, ...]] = {
    "C4-M1": ("C4-M1", "C4-A1", "EEG C4-M1", "EEG C4-A1", "C4:M1", "C4:A1", "C4/M1", "C4/A1", "C4M1", "C4A1"),
    "C3-M2": ("C3-M2", "C3-A2", "EEG C3-M2", "EEG C3-A2", "C3:M2", "C3:A2", "C3/M2", "C3/A2", "C3M2", "C3A2"),
    "F4-M1": ("F4-M1", "F4-A1", "EEG F4-M1", "EEG F4-A1", "F4:M1", "F4:A1", "F4/M1", "F4/A1", "F4M1", "F4A1"),
    "F3-M2": ("F3-M2", "F3-A2", "EEG F3-M2", "EEG F3-A2", "F3:M2", "F3:A2", "F3/M2", "F3/A2", "F3M2", "F3A2"),
    "O2-M1": ("O2-M1", "O2-A1", "EEG O2-M1", "EEG O2-A1", "O2:M1", "O2:A1", "O2/M1", "O2/A1", "O2M1", "O2A1"),
    "O1-M2": ("O1-M2", "O1-A2", "EEG O1-M2", "EEG O1-A2", "O1:M2", "O1:A2", "O1/M2", "O1/A2", "O1M2", "O1A2"),
    "Fpz-Cz": ("Fpz-Cz", "EEG Fpz-Cz", "Fpz:Cz", "Fpz/Cz", "FpzCz"),
    "Pz-Oz": ("Pz-Oz", "EEG Pz-Oz", "Pz:Oz", "Pz/Oz", "PzOz"),
    "EOG": (
        "EOG",
        "EOG horizontal",
        "HEOG",
        "LOC",
        "E1-M2",
        "E1-A2",
        "E1",
        "LOC-A2",
        "LOC-M2",
        "EOG L",
        "EOG left",
        "EOG E1-M2",
        "EOG LOC-A2",
    ),
    "EMG": (
        "EMG",
        "EMG chin",
        "EMG submental",
        "Chin",
        "Chin1-Chin2",
        "Chin 1-Chin 2",
        "Chin1-Chin3",
        "Chin2-Chin1",
        "Chin-EMG",
        "EMG Chin1-Chin2",
        "EMG1-EMG2",
        "Submental",
    ),
}

#: names a single electrode goes by; the mastoid references M1/M2 were called A1/A2 before AASM
_ELECTRODE_ALIASES: dict[str, tuple[str, ...]] = {
    "M1": ("M1", "A1"),
    "M2": ("M2", "A2"),
    "A1": ("A1", "M1"),
    "A2": ("A2", "M2"),
}
#: leading type words a file may prefix to a channel label (EDF+ "type sensor" convention)
_TYPE_WORDS: tuple[str, ...] = ("eeg", "eog", "emg")


@dataclass
class PSGRecording:
    """Selected PSG channels of one recording, in volts at ``sample_rate``.

    Attributes:
        path: the file read.
        signals: (channels, samples) float32 in volts.
        channel_names: the requested names, in the requested order.
        source_channels: what was used in the file for each row, e.g. "EEG C4-A1", or
            "C4 - M1" when the derivation was re-referenced from single electrodes.
        sample_rate: rate of ``signals`` in Hz.
        start: recording start (the file's measurement date, UTC), or None when anonymised.
        duration_seconds: length of the recording in seconds.
    """

    path: Path
    signals: np.ndarray
    channel_names: tuple[str, ...]
    source_channels: tuple[str, ...]
    sample_rate: float
    start: dt.datetime | None
    duration_seconds: float


def read_psg(
    path: str | Path,
    channels: Sequence[str] = ("C4-M1",),
    *,
    sample_rate: float | None = 128.0,
    l_freq_hz: float | None = 0.3,
    h_freq_hz: float | None = 35.0,
) -> PSGRecording:
    """Read the requested derivations of a PSG file, band-passed and resampled, in volts.

    Each requested channel is looked up by its aliases (:data:`CHANNEL_ALIASES`); a bipolar
    derivation the file lacks is built from its two single electrodes (e.g. "C4" minus "M1" or
    "A1"). Filtering (MNE FIR) runs at the file's rate before resampling (MNE FFT resampling), so
    nothing above the new Nyquist aliases back. NaN samples are kept as NaN (see :func:`bad_epochs`).

    Args:
        path: EDF, EDF+, BDF or any file ``mne.io.read_raw`` opens.
        channels: canonical derivations (keys of :data:`CHANNEL_ALIASES`) or exact file labels.
        sample_rate: output rate in Hz; None keeps the file's rate.
        l_freq_hz: high-pass edge in Hz, or None for no high-pass.
        h_freq_hz: low-pass edge in Hz, or None for no low-pass.

    Raises:
        RecordingError: missing, unreadable or truncated file, a channel not found, or a filter
            edge the file's rate cannot carry.
    """
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"{path}: no such file; check the path (PSG files are EDF, EDF+ or BDF)")
    if not path.is_file():
        raise RecordingError(f"{path} is not a file; pass the PSG file itself (EDF, EDF+ or BDF)")
    if not channels:
        raise RecordingError(f"{path}: no channels requested; pass e.g. channels=('C4-M1',)")
    check_readable(path, "PSG recording")
    _check_edf_size(path)
    raw = _open_raw(path)

    file_rate = _check_rate(path, raw)
    names = list(raw.ch_names)
    rows: list[np.ndarray] = []
    sources: list[str] = []
    data_cache: dict[str, np.ndarray] = {}

    def channel_data(name: str) -> np.ndarray:
        if name not in data_cache:
            try:
                data_cache[name] = raw.get_data(picks=[name])[0]
            except Exception as error:  # MNE reads lazily: a damaged data block shows up here
                raise RecordingError(
                    f"{path}: cannot read the samples of channel {name!r} ({error}); the file is damaged, "
                    "re-export it from the recording software"
                ) from error
        return data_cache[name]

    for requested in channels:
        found = _find_channel(requested, names)
        if found is not None:
            rows.append(channel_data(found))
            sources.append(found)
            continue
        pair = _find_electrode_pair(requested, names)
        if pair is not None:
            active, reference = pair
            rows.append(channel_data(active) - channel_data(reference))
            sources.append(f"{active} - {reference}")
            continue
        aliases = _aliases(requested)
        if any(unicodedata.category(char) == "Cc" for name in names for char in name):  # control bytes
            raise RecordingError(
                f"{path}: the channel names in its header are not text ({names[:4]}...): the header is damaged; "
                "copy the file again or re-export it from the recording software"
            )
        raise RecordingError(
            f"{path}: channel {requested!r} not found. Tried the names {list(aliases)}"
            f"{_pair_hint(requested)}; the file has {names}. Pass one of the file's names in channels=, "
            "or add the file's name to CHANNEL_ALIASES."
        )

    signals = np.vstack(rows).astype(np.float64)
    duration_seconds = signals.shape[1] / file_rate
    signals = _filter_and_resample(path, signals, file_rate, sample_rate, l_freq_hz, h_freq_hz)
    out_rate = file_rate if sample_rate is None else float(sample_rate)
    meas_date = raw.info.get("meas_date")
    return PSGRecording(
        path=path,
        signals=signals.astype(np.float32),
        channel_names=tuple(channels),
        source_channels=tuple(sources),
        sample_rate=out_rate,
        start=meas_date,
        duration_seconds=float(duration_seconds),
    )


def bad_epochs(
    signals: np.ndarray,
    sample_rate: float,
    epoch_seconds: float = 30.0,
    *,
    flat_volts: float = 0.1e-6,
) -> np.ndarray:
    """Which epochs hold NaN/inf or a flat channel, so they can be dropped rather than trained on.

    A disconnected electrode reads as a constant (peak-to-peak below ``flat_volts``) and a gap
    as NaN; either makes the epoch useless for every channel. A trailing partial epoch is not
    counted.

    Args:
        signals: (channels, samples) or (samples,) in volts.
        sample_rate: rate of ``signals`` in Hz.
        epoch_seconds: epoch length in seconds.
        flat_volts: peak-to-peak in volts below which a channel counts as flat.

    Returns:
        bool (epochs,): True for a bad epoch.
    """
    signals = np.asarray(signals, dtype=np.float64)
    if signals.ndim == 1:
        signals = signals[None]
    if signals.ndim != 2:
        raise ValueError(f"signals must be (channels, samples) or (samples,), got shape {signals.shape}")
    samples_per_epoch = int(round(epoch_seconds * sample_rate))
    if samples_per_epoch <= 0:
        raise ValueError(
            f"epoch_seconds * sample_rate must be at least one sample, got {epoch_seconds} s at {sample_rate} Hz"
        )
    num_epochs = signals.shape[1] // samples_per_epoch
    epochs = signals[:, : num_epochs * samples_per_epoch].reshape(signals.shape[0], num_epochs, samples_per_epoch)
    not_finite = ~np.isfinite(epochs).all(axis=2)
    with np.errstate(invalid="ignore"):
        peak_to_peak = np.ptp(np.where(np.isfinite(epochs), epochs, 0.0), axis=2)
    flat = peak_to_peak < flat_volts
    return (not_finite | flat).any(axis=0)


# -- helpers -------------------------------------------------------------------------------------


def _normalise(name: str) -> str:
    """Lower case, no leading type word, no spaces: the form names are compared in."""
    text = " ".join(str(name).strip().lower().split())
    for word in _TYPE_WORDS:
        if text.startswith(word + " ") and len(text) > len(word) + 1:
            text = text[len(word) + 1 :]
            break
    return text.replace(" ", "")


def _aliases(requested: str) -> tuple[str, ...]:
    """Aliases of a requested name: its canonical entry's list, or the name itself."""
    key = _normalise(requested)
    for canonical, aliases in CHANNEL_ALIASES.items():
        if key == _normalise(canonical) or key in {_normalise(a) for a in aliases}:
            return (canonical, *[a for a in aliases if a != canonical])
    return (requested,)


def _find_channel(requested: str, names: Sequence[str]) -> str | None:
    """The file's channel that is ``requested`` under one of its aliases (exact name first)."""
    if requested in names:
        return requested
    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(_normalise(name), name)
    for alias in _aliases(requested):
        if _normalise(alias) in by_key:
            return by_key[_normalise(alias)]
    return None


def _electrodes(requested: str) -> tuple[str, str] | None:
    """The two electrodes of a bipolar derivation ("C4-M1" -> ("C4", "M1")), or None."""
    canonical = _aliases(requested)[0]
    parts = canonical.split("-")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0].strip(), parts[1].strip()


def _find_electrode(electrode: str, names: Sequence[str]) -> str | None:
    """The file's channel holding a single electrode against the common reference."""
    keys = {_normalise(name): name for name in reversed(list(names))}
    for alias in _ELECTRODE_ALIASES.get(electrode, (electrode,)):
        for candidate in (alias, f"{alias}-Ref"):
            if _normalise(candidate) in keys:
                return keys[_normalise(candidate)]
    return None


def _find_electrode_pair(requested: str, names: Sequence[str]) -> tuple[str, str] | None:
    """(active, reference) channel names to re-reference ``requested`` from, or None."""
    electrodes = _electrodes(requested)
    if electrodes is None:
        return None
    active = _find_electrode(electrodes[0], names)
    reference = _find_electrode(electrodes[1], names)
    if active is None or reference is None:
        return None
    return active, reference


def _pair_hint(requested: str) -> str:
    electrodes = _electrodes(requested)
    if electrodes is None:
        return ""
    active, reference = electrodes
    references = "/".join(_ELECTRODE_ALIASES.get(reference, (reference,)))
    return f", and the single electrodes {active!r} with {references!r} to re-reference"


def check_readable(path: Path, what: str, error_type: type[ValueError] = RecordingError) -> None:
    """An ``error_type`` naming ``path`` if it cannot be opened (permissions) or is empty (a failed copy).

    Readers (MNE, decord, PyAV) report both as a corrupt file, which sends the user the wrong way.
    """
    try:
        with open(path, "rb") as handle:
            empty = not handle.read(1)
    except OSError as error:
        raise error_type(
            f"{path}: cannot open the {what} ({error.strerror or error}); make the file readable by this user "
            "(e.g. chmod a+r) or copy it somewhere readable"
        ) from error
    if empty:
        raise error_type(f"{path}: the {what} file is empty (0 bytes); copy it again or re-export it")


def _check_edf_size(path: Path) -> None:
    """Refuse an EDF/BDF shorter than its header promises: MNE would read it silently short."""
    try:
        with open(path, "rb") as handle:
            fixed = handle.read(256)
            if len(fixed) < 256 or not (fixed[:8] == b"0       " or fixed[:8] == b"\xffBIOSEMI"):
                return  # not EDF/BDF: MNE decides
            bytes_per_sample = 3 if fixed[:1] == b"\xff" else 2
            header_bytes = int(fixed[184:192].decode("ascii").strip())
            num_records = int(fixed[236:244].decode("ascii").strip())
            num_signals = int(fixed[252:256].decode("ascii").strip())
            handle.seek(256 + num_signals * 216)
            counts = handle.read(num_signals * 8).decode("ascii")
            samples_per_record = sum(int(counts[i * 8 : (i + 1) * 8].strip()) for i in range(num_signals))
    except (OSError, ValueError, UnicodeDecodeError):
        return  # a header this broken is MNE's to report
    if num_records < 0:
        return  # "-1": record count unknown (file written while recording)
    expected = header_bytes + num_records * samples_per_record * bytes_per_sample
    actual = path.stat().st_size
    if actual < expected:
        raise RecordingError(
            f"{path} is truncated: its header promises {num_records} data records ({expected} bytes) but the "
            f"file has {actual} bytes; copy the file again or re-export it from the recording software"
        )


def _check_rate(path: Path, raw: Any) -> float:
    """The file's sampling rate, if it and the length it implies are plausible; a RecordingError if not.

    EDF derives the rate from the header's record duration, so a damaged duration ("1e-320") gives an
    infinite or absurd rate that would make filtering fail deep inside MNE, or resampling allocate
    gigabytes.
    """
    file_rate = float(raw.info["sfreq"])
    if raw.n_times == 0:
        raise RecordingError(f"{path}: the recording holds no samples; copy the file again or re-export it")
    duration_seconds = raw.n_times / file_rate if math.isfinite(file_rate) and file_rate > 0 else math.nan
    if not math.isfinite(duration_seconds) or duration_seconds > MAX_RECORDING_SECONDS:
        raise RecordingError(
            f"{path}: the header gives a sampling rate of {file_rate:g} Hz, so {raw.n_times} samples would last "
            f"{duration_seconds:g} s (at most {MAX_RECORDING_SECONDS:g} s, 7 days, is accepted); the header (record "
            "duration or samples per record) is damaged: re-export the file from the recording software"
        )
    return file_rate


def _open_raw(path: Path) -> Any:
    """Open with MNE, preloaded, turning MNE's many error types into one RecordingError."""
    import mne

    try:
        return mne.io.read_raw(path, preload=True, verbose="error")
    except Exception as error:
        raise RecordingError(
            f"{path} cannot be read as a recording ({type(error).__name__}: {error}); check that it is an intact "
            "EDF, EDF+ or BDF file (or another format mne.io.read_raw opens) and export it again if not"
        ) from error


def _filter_and_resample(
    path: Path,
    signals: np.ndarray,
    file_rate: float,
    sample_rate: float | None,
    l_freq_hz: float | None,
    h_freq_hz: float | None,
) -> np.ndarray:
    """Band-pass at the file's rate, then resample; NaN samples stay NaN at their new positions."""
    import mne

    if h_freq_hz is not None and h_freq_hz >= file_rate / 2:
        raise RecordingError(
            f"{path}: low-pass edge {h_freq_hz} Hz is not below the file's Nyquist frequency {file_rate / 2} Hz; "
            "pass a lower h_freq_hz or h_freq_hz=None"
        )
    missing = ~np.isfinite(signals)
    if missing.any():
        signals = np.where(missing, 0.0, signals)
    info = mne.create_info([f"ch{i}" for i in range(signals.shape[0])], file_rate, "misc")
    raw = mne.io.RawArray(signals, info, verbose="error")
    if l_freq_hz is not None or h_freq_hz is not None:
        raw.filter(l_freq_hz, h_freq_hz, picks="all", verbose="error")
    if sample_rate is not None and float(sample_rate) != file_rate:
        raw.resample(float(sample_rate), verbose="error")
    out = raw.get_data()
    if missing.any():
        out[_map_mask(missing, out.shape[1])] = np.nan
    return out


def _map_mask(mask: np.ndarray, num_out: int) -> np.ndarray:
    """Mark each output sample whose span of input samples holds any marked input sample."""
    num_in = mask.shape[1]
    ratio = num_in / num_out
    starts = np.floor(np.arange(num_out) * ratio).astype(int)
    ends = np.maximum(np.ceil((np.arange(num_out) + 1) * ratio).astype(int), starts + 1).clip(max=num_in)
    cumulative = np.concatenate([np.zeros((mask.shape[0], 1), dtype=int), np.cumsum(mask, axis=1)], axis=1)
    return (cumulative[:, ends] - cumulative[:, starts]) > 0
