"""Write a synthetic night in the formats a real user brings: EDF+ PSG, MP4 video, hypnogram files.

A generated night is only useful as a stand-in for real recordings if the readers for real data can
open it, so each night goes to disk exactly as a clinic would hand it over:

- ``sub-001/sub-001_night-0_psg.edf``: EDF+ with every PSG channel (labels ``"EEG C4-M1"``,
  ``"EOG E1-M2"``, ``"EMG chin"``, the EDF+ "type derivation" convention, so
  ``mne.io.read_raw_edf(path, infer_types=True)`` gives back the names and types), stored in uV,
  with the hypnogram embedded as Sleep-EDF style annotations ("Sleep stage W/1/2/3/R").
- ``sub-001/sub-001_night-0_video.mp4``: grayscale infrared video, H.264 (yuv420p) or MJPEG, at the
  night's frame rate with frame ``i`` shown at exactly ``i / fps`` seconds.
- ``sub-001/sub-001_night-0_hypnogram.csv``: one row per 30 s epoch (epoch, onset_seconds,
  duration_seconds, stage with W/N1/N2/N3/REM).
- ``sub-001/sub-001_night-0_hypnogram.edf``: an annotations-only EDF+ file, like Sleep-EDF's
  ``*-Hypnogram.edf``, readable with ``mne.read_annotations``.

Every file is written to a temporary name in its final folder and renamed only once all of the
night's files are complete, so an interrupted export never leaves a half file under a final name.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from datamodules.generator.night import SyntheticNight
from datamodules.stages import STAGES
from sacd.atomic import staged

#: Sleep-EDF annotation text of each label 0..4 (W, N1, N2, N3, REM)
STAGE_ANNOTATIONS: tuple[str, ...] = (
    "Sleep stage W",
    "Sleep stage 1",
    "Sleep stage 2",
    "Sleep stage 3",
    "Sleep stage R",
)
#: Sleep-EDF annotation text of an epoch left unscored
UNSCORED_ANNOTATION = "Sleep stage ?"
#: how a hypnogram CSV writes an unscored epoch (label -1); the recorded readers exclude it
UNSCORED_STAGE = "?"
#: columns of ``manifest.csv``, in order
MANIFEST_COLUMNS: tuple[str, ...] = (
    "subject",
    "night",
    "psg",
    "video",
    "hypnogram",
    "hypnogram_edf",
    "video_offset_seconds",
    "channels",
    "sample_rate",
    "video_fps",
    "num_epochs",
)
_MANIFEST_TYPES: dict[str, Callable[[str], Any]] = {
    "subject": int,
    "night": int,
    "video_offset_seconds": float,
    "sample_rate": float,
    "video_fps": float,
    "num_epochs": int,
}
#: columns of the hypnogram CSV, in order
HYPNOGRAM_COLUMNS: tuple[str, ...] = ("epoch", "onset_seconds", "duration_seconds", "stage")
#: video codecs: PyAV encoder name and pixel format
VIDEO_CODECS: dict[str, tuple[str, str]] = {"h264": ("libx264", "yuv420p"), "mjpeg": ("mjpeg", "yuvj420p")}
#: frames rendered and encoded at a time: bounds memory for a whole night's video
FRAMES_PER_CHUNK = 300
#: recording start of night 0 when none is given (EDF stores local clock time without a zone)
DEFAULT_RECORDING_START = dt.datetime(2020, 1, 1, 22, 30, tzinfo=dt.timezone.utc)


def night_stem(subject: int, night: int) -> str:
    """File stem shared by all files of one night, e.g. ``sub-001_night-0``."""
    return f"sub-{subject:03d}_night-{night}"


def night_paths(out_dir: Path, subject: int, night: int) -> dict[str, Path]:
    """Where ``export_night`` puts each file of a night (keys: psg, video, hypnogram, hypnogram_edf)."""
    folder = Path(out_dir) / f"sub-{subject:03d}"
    stem = night_stem(subject, night)
    return {
        "psg": folder / f"{stem}_psg.edf",
        "video": folder / f"{stem}_video.mp4",
        "hypnogram": folder / f"{stem}_hypnogram.csv",
        "hypnogram_edf": folder / f"{stem}_hypnogram.edf",
    }


def hypnogram_bouts(labels: np.ndarray, epoch_seconds: float) -> list[tuple[float, float, int]]:
    """Runs of equal stages as (onset_seconds, duration_seconds, label): how Sleep-EDF scores a night."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    ends = np.r_[starts[1:], labels.size]
    return [(float(s * epoch_seconds), float((e - s) * epoch_seconds), int(labels[s])) for s, e in zip(starts, ends)]


def export_night(
    night: SyntheticNight,
    out_dir: Path,
    *,
    video_codec: str = "h264",
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    recording_start: dt.datetime | None = None,
    h264_crf: int = 18,
    h264_preset: str = "veryfast",
    mjpeg_qscale: int = 2,
) -> dict[str, Any]:
    """Write one night's PSG, video and hypnograms under ``out_dir`` and return its manifest row.

    Args:
        night: the night to write.
        out_dir: dataset folder; files go to ``out_dir/sub-XXX/`` (see :func:`night_paths`).
        video_codec: ``"h264"`` (libx264, yuv420p; needs even frame sizes) or ``"mjpeg"``.
        overwrite: replace files of this night that already exist instead of refusing.
        progress: called with the number of frames just written, after each chunk of frames.
        recording_start: start of the recording (timezone-aware); default 22:30 UTC on
            2020-01-01 plus ``night.night`` days.
        h264_crf: H.264 constant rate factor (0 lossless .. 51 worst; 18 is visually lossless).
        h264_preset: libx264 speed preset; "veryfast" encodes a noisy IR night about 3x faster than
            "medium" at a similar size.
        mjpeg_qscale: MJPEG quantiser (2 best .. 31 worst).

    Returns:
        The manifest row: paths relative to ``out_dir`` and the night's recording parameters.
    """
    if video_codec not in VIDEO_CODECS:
        raise ValueError(f"video_codec must be one of {sorted(VIDEO_CODECS)}, got {video_codec!r}")
    _check_night(night)
    out_dir = Path(out_dir)
    paths = night_paths(out_dir, night.subject, night.night)
    if not overwrite:
        for path in paths.values():
            if path.exists():
                raise FileExistsError(
                    f"{path} already exists; pass overwrite=True (sacd synth --overwrite) to replace it"
                )
    if recording_start is None:
        recording_start = DEFAULT_RECORDING_START + dt.timedelta(days=night.night)
    if recording_start.tzinfo is None:
        raise ValueError(f"recording_start must be timezone-aware (e.g. UTC), got {recording_start!r}")

    with staged(paths.values()) as temps:
        tmp = dict(zip(paths, temps))
        # a scorer's night keeps the latent stages beside its reading; an unscored one has no second column
        stages_true = night.events.get("stage_true")
        write_hypnogram_csv(night.labels, night.epoch_seconds, tmp["hypnogram"], stages_true=stages_true)
        write_hypnogram_edf(night, tmp["hypnogram_edf"], recording_start)
        write_psg_edf(night, tmp["psg"], recording_start)
        write_video(
            night,
            tmp["video"],
            codec=video_codec,
            progress=progress,
            h264_crf=h264_crf,
            h264_preset=h264_preset,
            mjpeg_qscale=mjpeg_qscale,
        )

    return {
        "subject": int(night.subject),
        "night": int(night.night),
        "psg": paths["psg"].relative_to(out_dir).as_posix(),
        "video": paths["video"].relative_to(out_dir).as_posix(),
        "hypnogram": paths["hypnogram"].relative_to(out_dir).as_posix(),
        "hypnogram_edf": paths["hypnogram_edf"].relative_to(out_dir).as_posix(),
        "video_offset_seconds": 0.0,
        "channels": ";".join(night.channel_names),
        "sample_rate": float(night.sample_rate),
        "video_fps": float(night.video_fps),
        "num_epochs": int(night.num_epochs),
    }


#: the derivation a generated channel is written as (the EDF label adds the type: "EOG E1-M2", "EMG chin");
#: the readers' aliases map them back to the generator's names
DERIVATION_LABELS = {"EOG": "E1-M2", "EMG": "chin"}


def write_psg_edf(night: SyntheticNight, path: Path, recording_start: dt.datetime) -> None:
    """Write all PSG channels and the hypnogram annotations to an EDF+ file via MNE (edfio)."""
    import mne

    names = [DERIVATION_LABELS.get(name, name) for name in night.channel_names]
    info = mne.create_info(names, float(night.sample_rate), list(night.channel_types))
    raw = mne.io.RawArray(np.asarray(night.signals, dtype=np.float64), info, verbose="error")
    raw.set_meas_date(recording_start)
    raw.info["subject_info"] = {"his_id": f"sub-{night.subject:03d}"}
    raw.set_annotations(_stage_annotations(night, recording_start))
    # channelwise physical range: each channel uses the full 16 bits, so quantisation stays below
    # (max - min) / 65534 of that channel
    mne.export.export_raw(
        str(path), raw, fmt="edf", physical_range="channelwise", add_ch_type=True, overwrite=True, verbose="error"
    )


def write_hypnogram_edf(night: SyntheticNight, path: Path, recording_start: dt.datetime) -> None:
    """Write the night's hypnogram as an annotations-only EDF+ (Sleep-EDF ``*-Hypnogram.edf`` style)."""
    write_annotations_edf(night.labels, night.epoch_seconds, path, recording_start=recording_start,
                          patient_code=f"sub-{night.subject:03d}")  # fmt: skip


def write_annotations_edf(
    labels: np.ndarray,
    epoch_seconds: float,
    path: Path,
    *,
    recording_start: dt.datetime | None = None,
    patient_code: str = "X",
    class_names: Sequence[str] = STAGES,
) -> None:
    """Write stages (one per epoch, -1 unscored) as Sleep-EDF annotations in an EDF+ without signals.

    MNE cannot export a Raw without channels, so edfio writes the file directly. Labels follow
    ``class_names`` order; W, N1, N2, N3 and REM get the standard Sleep-EDF texts.
    """
    import edfio

    texts = [STAGE_ANNOTATIONS[STAGES.index(name)] if name in STAGES else f"Sleep stage {name}" for name in class_names]
    annotations = [
        edfio.EdfAnnotation(onset, duration, texts[label] if label >= 0 else UNSCORED_ANNOTATION)
        for onset, duration, label in hypnogram_bouts(labels, epoch_seconds)
    ]
    start_utc = (recording_start or dt.datetime(1985, 1, 1, tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)
    code = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in patient_code) or "X"
    edf = edfio.Edf(
        [],
        patient=edfio.Patient(code=code),
        recording=edfio.Recording(startdate=start_utc.date()),
        starttime=start_utc.time().replace(tzinfo=None),
        annotations=annotations,
    )
    edf.write(path)


def write_hypnogram_csv(
    labels: np.ndarray, epoch_seconds: float, path: Path, *, stages_true: np.ndarray | None = None
) -> None:
    """Write one row per epoch: epoch, onset_seconds, duration_seconds, stage (W/N1/N2/N3/REM, ``?`` for
    -1, unscored), and with ``stages_true`` a ``stage_true`` column: the latent stage a scorer read."""
    columns, stage_columns = list(HYPNOGRAM_COLUMNS), [np.asarray(labels)]
    if stages_true is not None:
        if len(stages_true) != len(labels):
            raise ValueError(f"stages_true has {len(stages_true)} epochs, labels {len(labels)}")
        columns.append("stage_true")
        stage_columns.append(np.asarray(stages_true))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for epoch, stages in enumerate(zip(*(column.tolist() for column in stage_columns))):
        names = [STAGES[stage] if stage >= 0 else UNSCORED_STAGE for stage in stages]
        writer.writerow([epoch, _number(epoch * epoch_seconds), _number(epoch_seconds), *names])
    Path(path).write_text(buffer.getvalue())


def read_hypnogram_csv(path: Path, column: str = "stage") -> np.ndarray:
    """Labels (int64, 0..4, -1 unscored) of one stage column of a CSV written by :func:`write_hypnogram_csv`."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and column not in rows[0]:
        raise KeyError(f"{path} has no {column!r} column (it has {list(rows[0])})")
    stages = [-1 if row[column] == UNSCORED_STAGE else STAGES.index(row[column]) for row in rows]
    return np.array(stages, dtype=np.int64)


def write_video(
    night: SyntheticNight,
    path: Path,
    *,
    codec: str = "h264",
    progress: Callable[[int], None] | None = None,
    h264_crf: int = 18,
    h264_preset: str = "veryfast",
    mjpeg_qscale: int = 2,
    frames_per_chunk: int = FRAMES_PER_CHUNK,
) -> None:
    """Encode the night's video to MP4 chunk by chunk, frame ``i`` at ``i / fps`` seconds.

    Frames are rendered ``frames_per_chunk`` at a time, so memory does not grow with the night.
    """
    import av

    encoder, pixel_format = VIDEO_CODECS[codec]
    height, width = (int(v) for v in night.video_size)
    if codec == "h264" and (height % 2 or width % 2):
        raise ValueError(f"H.264 (yuv420p) needs even frame sizes, got {height}x{width}; use mjpeg or an even size")
    rate = Fraction(night.video_fps).limit_denominator(10_000)
    time_base = 1 / rate
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream(encoder, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pixel_format
        if codec == "h264":
            # no B-frames: packets come out in presentation order, which every reader handles
            stream.options = {"crf": str(h264_crf), "bf": "0", "preset": h264_preset}
        else:
            stream.options = {"qmin": str(mjpeg_qscale), "qmax": str(mjpeg_qscale)}
        for start in range(0, night.num_frames, frames_per_chunk):
            indices = np.arange(start, min(start + frames_per_chunk, night.num_frames))
            frames = np.asarray(night.render_frames(indices))
            if frames.shape != (len(indices), height, width) or frames.dtype != np.uint8:
                raise ValueError(
                    f"render_frames must return uint8 {(len(indices), height, width)}, "
                    f"got {frames.dtype} {frames.shape}"
                )
            for index, pixels in zip(indices.tolist(), frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="gray")
                frame.pts, frame.time_base = index, time_base
                container.mux(stream.encode(frame))
            if progress is not None:
                progress(len(indices))
        container.mux(stream.encode(None))


def write_manifest(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Write manifest rows as CSV (columns :data:`MANIFEST_COLUMNS`), atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        missing = [column for column in MANIFEST_COLUMNS if column not in row]
        if missing:
            raise ValueError(f"manifest row for {row.get('psg', row)} lacks columns {missing}")
        writer.writerow({key: _number(value) if isinstance(value, float) else value for key, value in row.items()})
    with staged([Path(path)]) as (tmp,):
        tmp.write_text(buffer.getvalue())


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """Rows of a manifest written by :func:`write_manifest`, with numbers parsed back."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in MANIFEST_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} is not a synthetic-night manifest: columns {missing} are missing")
        return [{key: _MANIFEST_TYPES.get(key, str)(value) for key, value in row.items()} for row in reader]


# -- helpers -------------------------------------------------------------------------------------


def _check_night(night: SyntheticNight) -> None:
    signals = np.asarray(night.signals)
    if signals.ndim != 2 or signals.shape[0] != len(night.channel_names):
        raise ValueError(
            f"signals must be (channels, samples) with {len(night.channel_names)} channels, got {signals.shape}"
        )
    if len(night.channel_types) != len(night.channel_names):
        raise ValueError(
            f"{len(night.channel_types)} channel types for {len(night.channel_names)} channels"
        )
    expected = round(night.duration_seconds * night.sample_rate)
    if signals.shape[1] != expected:
        raise ValueError(
            f"signals hold {signals.shape[1]} samples, but {night.num_epochs} epochs of {night.epoch_seconds} s "
            f"at {night.sample_rate} Hz need {expected}"
        )
    labels = np.asarray(night.labels)
    if labels.size and (labels.min() < 0 or labels.max() >= len(STAGES)):
        raise ValueError(f"labels must be 0..{len(STAGES) - 1}, found {labels.min()}..{labels.max()}")


def _stage_annotations(night: SyntheticNight, recording_start: dt.datetime) -> Any:
    import mne

    bouts = hypnogram_bouts(night.labels, night.epoch_seconds)
    return mne.Annotations(
        onset=[b[0] for b in bouts],
        duration=[b[1] for b in bouts],
        description=[STAGE_ANNOTATIONS[b[2]] for b in bouts],
        orig_time=recording_start,
    )


def _number(value: float) -> str:
    """Shortest text for a number that reads back as the same float (``30`` rather than ``30.0``)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
