"""Whole nights of infrared video cut into 30 s epochs for a student to stage (``sacd predict``).

No EEG and no labels: a night is a video file (or segments played back to back), and epochs are
laid from ``start_seconds`` on the video clock every ``epoch_seconds`` until the video ends. Each
epoch's clip samples ``frames`` frames exactly as training did (slice centres, nearest frame by
timestamp, antialiased resize) and is standardised by the night's mean frame and residual SD, as
:class:`datamodules.epochs.EpochArrays` standardises training nights.

Memory stays bounded whatever the night's length: clips are decoded ``chunk_epochs`` epochs at a
time into a memory-mapped scratch file (one pass, which also accumulates the standardisation
statistics), then read back a chunk at a time. An epoch whose frames are missing (a gap in the
recording: the nearest frame is more than ``max_gap_seconds`` from a sampled time) or cannot be
decoded (a corrupt section) is yielded with ``valid`` False, and the writer marks it unscored.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from datamodules.recorded.discover import subject_label
from datamodules.recorded.manifest import ManifestError, _rows, _split_list
from datamodules.recorded.video import NightVideo, VideoError
from datamodules.stages import STAGES


@dataclass(frozen=True)
class Night:
    """One night to stage: its video segments, where epoch 0 starts, and an optional reference hypnogram."""

    name: str
    videos: tuple[Path, ...]
    start_seconds: float = 0.0
    reference: Path | None = None


def read_prediction_manifest(path: str | Path) -> list[Night]:
    """Nights from a CSV/YAML manifest with a ``video`` column (";"-joined segments) and optional
    ``name``, ``start_seconds`` and ``hypnogram`` (a reference for agreement); paths relative to it.

    A training manifest (``sacd manifest``) works too: its ``hypnogram`` becomes the reference.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist")
    rows = _rows(path)
    if not rows or "video" not in rows[0]:
        raise ManifestError(f"manifest {path} needs a 'video' column (one row per night)")
    nights = []
    for number, row in enumerate(rows, start=1):
        videos = tuple(path.parent / item for item in _split_list(row.get("video")))
        if not videos:
            raise ManifestError(f"{path}, row {number}: no video given")
        name = str(row.get("name") or "").strip() or _default_name(row, videos[0])
        reference = str(row.get("hypnogram") or "").strip()
        start = float(row.get("start_seconds") or 0.0)
        nights.append(Night(name, videos, start, path.parent / reference if reference else None))
    names = [night.name for night in nights]
    if len(set(names)) != len(names):
        raise ManifestError(f"{path}: night names repeat ({names}); give a distinct 'name' per row")
    return nights


def _default_name(row: dict[str, Any], video: Path) -> str:
    if str(row.get("subject") or "").strip():
        return f"{subject_label(row['subject'])}_night-{row.get('night') or 0}"
    return video.stem


class NightClips(IterableDataset):
    """Streams every epoch of every night as a standardised clip, in time order."""

    def __init__(self, nights: Sequence[Night], videos: Sequence[NightVideo], *, epoch_seconds: float, frames: int,
                 frame_size: int, chunk_epochs: int, max_gap_seconds: float, scratch_dir: str | None,
                 total_epochs: int | None = None) -> None:  # fmt: skip
        self.nights = list(nights)
        self.videos = list(videos)  # indexed once by the datamodule; picklable for worker processes
        self.total_epochs = total_epochs
        self.epoch_seconds = epoch_seconds
        self.frames = frames
        self.frame_size = frame_size
        self.chunk_epochs = chunk_epochs
        self.max_gap_seconds = max_gap_seconds
        self.scratch_dir = scratch_dir

    def __len__(self) -> int:
        """Epochs over all nights (known once the videos are indexed): sizes the progress bar."""
        if self.total_epochs is None:
            raise TypeError("the number of epochs is known after NightVideos.setup()")
        return self.total_epochs

    def __iter__(self) -> Iterator[dict[str, Any]]:
        worker = get_worker_info()
        mine = range(len(self.nights)) if worker is None else range(worker.id, len(self.nights), worker.num_workers)
        for index in mine:
            yield from self._night(index)

    def _night(self, index: int) -> Iterator[dict[str, Any]]:
        night = self.nights[index]
        video = self.videos[index]
        starts = epoch_starts(video, night, self.epoch_seconds)
        size = (self.frame_size, self.frame_size)
        valid = ~gap_epochs(video, starts, self.epoch_seconds, self.frames, self.max_gap_seconds)
        with tempfile.TemporaryDirectory(dir=self.scratch_dir, prefix="sacd-night-") as scratch:
            clips = np.lib.format.open_memmap(Path(scratch) / "clips.npy", mode="w+", dtype=np.uint8,
                                              shape=(len(starts), self.frames, *size))  # fmt: skip
            total = np.zeros(size, dtype=np.float64)
            squares = np.zeros(size, dtype=np.float64)
            for first in range(0, len(starts), self.chunk_epochs):
                window = slice(first, first + self.chunk_epochs)
                decoded, ok = self._decode(video, night, starts[window], valid[window])
                clips[window] = decoded
                valid[window] &= ok
                kept = decoded[valid[window]].astype(np.float64)
                total += kept.sum(axis=(0, 1))
                squares += (kept**2).sum(axis=(0, 1))
            count = int(valid.sum()) * self.frames
            if count == 0:
                raise VideoError(f"{night.videos[0]}: no epoch of this night could be decoded; the file is unusable")
            background = total / count
            residual = float(np.sqrt(max(float((squares / count - background**2).mean()), 1.0)))
            background32 = background.astype(np.float32)
            for epoch in range(len(starts)):
                clip = ((clips[epoch][None] - background32) / residual).astype(np.float32)
                yield {"video": torch.from_numpy(clip), "night": torch.tensor(index), "epoch": torch.tensor(epoch),
                       "onset": torch.tensor(starts[epoch], dtype=torch.float64), "valid": torch.tensor(bool(valid[epoch]))}  # fmt: skip
            del clips

    def _decode(self, video: NightVideo, night: Night, starts: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 clips of a window of epochs, and which decoded; a failing window is retried epoch by epoch."""
        size = (self.frame_size, self.frame_size)
        out = np.zeros((len(starts), self.frames, *size), dtype=np.uint8)
        ok = wanted.copy()
        if not ok.any():
            return out, ok
        try:
            out[ok] = video.clips(starts[ok], self.epoch_seconds, self.frames, size=size)
            return out, ok
        except Exception:  # noqa: BLE001 - a corrupt stretch: find which epochs are affected
            pass
        for i in np.flatnonzero(ok):
            try:
                out[i] = video.clips(starts[i : i + 1], self.epoch_seconds, self.frames, size=size)[0]
            except Exception:  # noqa: BLE001 - this epoch cannot be decoded: it stays unscored
                ok[i] = False
        bad = int(wanted.sum() - ok.sum())
        if bad:
            warnings.warn(f"{night.videos[0]}: {bad} epoch(s) from {starts[0]:.0f} s could not be decoded and are "
                          "marked unscored", stacklevel=2)  # fmt: skip
        return out, ok


def open_night_video(night: Night, backend: str = "auto") -> NightVideo:
    """The night's video; a missing, empty or unreadable file is a VideoError that names it."""
    try:
        return NightVideo(night.videos, backend=backend)
    except VideoError:
        raise
    except Exception as error:  # noqa: BLE001 - whatever the decoders say, the user needs the file name
        raise VideoError(f"video {night.videos[0]} cannot be read ({type(error).__name__}: {error}); "
                         "check it plays, or re-encode it (e.g. ffmpeg -i in.mp4 -c:v libx264 out.mp4)") from error  # fmt: skip


def epoch_starts(video: NightVideo, night: Night, epoch_seconds: float) -> np.ndarray:
    """Onsets (video clock, seconds) of the whole epochs the video covers from ``start_seconds`` on."""
    usable = video.duration_seconds - night.start_seconds
    count = int(np.floor(usable / epoch_seconds + 1e-9))
    if count < 1:
        raise VideoError(
            f"video {night.videos[0]} is {video.duration_seconds:.1f} s long; from start_seconds="
            f"{night.start_seconds:g} that is shorter than one {epoch_seconds:g} s epoch, so there is nothing to stage"
        )
    return night.start_seconds + epoch_seconds * np.arange(count, dtype=np.float64)


def gap_epochs(video: NightVideo, starts: np.ndarray, epoch_seconds: float, frames: int, max_gap_seconds: float) -> np.ndarray:
    """True for epochs where a sampled time has no frame within ``max_gap_seconds`` (a hole in the video)."""
    targets = starts[:, None] + (np.arange(frames) + 0.5)[None, :] * (epoch_seconds / frames)
    nearest = video.timestamps_seconds[video.frame_indices(targets.reshape(-1))].reshape(targets.shape)
    return (np.abs(nearest - targets) > max_gap_seconds).any(axis=1)


def check_single_process(world_size: int) -> None:
    """Whole nights are streamed in order by one process: under DDP every process would stage and
    write every night, so several processes are refused with the way to use more devices."""
    if world_size > 1:
        raise ValueError(
            f"sacd predict stages each night in one process, but this run has {world_size}; set "
            "--trainer.devices 1 and, to use more devices, run one `sacd predict` per device, each with "
            "its own part of the manifest"
        )


class NightVideos(L.LightningDataModule):
    """Nights of IR video for ``sacd predict``: one ``video`` (or segments), or a ``manifest`` of nights.

    Args:
        video: the night's video file, or its segments in playback order.
        manifest: a CSV/YAML of nights instead (see :func:`read_prediction_manifest`).
        reference_hypnogram: a scored hypnogram of ``video``'s night, for agreement metrics.
        start_seconds: where epoch 0 starts on the video clock (align epochs with a PSG or lights-off).
        epoch_seconds: epoch length.
        frames: frames per epoch; by default the student's (from its checkpoint).
        frame_size: frame height and width in pixels; by default the student's.
        batch_size: epochs per forward pass.
        num_workers: dataloader processes (each takes whole nights).
        chunk_epochs: epochs decoded at a time (bounds memory).
        max_gap_seconds: a sampled time with no frame this close marks its epoch unscored.
        backend: video decoder: ``auto`` (decord, else PyAV), ``decord`` or ``pyav``.
        scratch_dir: where the decoded clips of the night being staged are memory-mapped (default:
            the system's temporary folder).
        class_names: stage names in the student's label order.
    """

    def __init__(
        self,
        video: str | list[str] | None = None,
        manifest: str | None = None,
        reference_hypnogram: str | None = None,
        start_seconds: float = 0.0,
        epoch_seconds: float = 30.0,
        frames: int | None = None,
        frame_size: int | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        chunk_epochs: int = 64,
        max_gap_seconds: float = 2.0,
        backend: str = "auto",
        scratch_dir: str | None = None,
        class_names: Sequence[str] = STAGES,
    ) -> None:
        super().__init__()
        if (video is None) == (manifest is None):
            raise ValueError("give the night's video (data.init_args.video) or a manifest of nights, not both or neither")
        if manifest is not None:
            self.nights = read_prediction_manifest(manifest)
        else:
            videos = (video,) if isinstance(video, str) else tuple(video)
            reference = Path(reference_hypnogram) if reference_hypnogram else None
            self.nights = [Night(Path(videos[0]).stem, tuple(Path(v) for v in videos), float(start_seconds), reference)]
        if manifest is not None and reference_hypnogram is not None:
            raise ValueError("with a manifest, give each night's reference in its 'hypnogram' column")
        if epoch_seconds <= 0 or chunk_epochs < 1 or batch_size < 1:
            raise ValueError("epoch_seconds, chunk_epochs and batch_size must be positive")
        self.epoch_seconds = float(epoch_seconds)
        self.frames = frames
        self.frame_size = frame_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.chunk_epochs = chunk_epochs
        self.max_gap_seconds = float(max_gap_seconds)
        self.backend = backend
        self.scratch_dir = scratch_dir
        self._class_names = list(class_names)
        self.videos: list[NightVideo] | None = None
        self.epochs_per_night: list[int] | None = None

    # -- the data spec, linked into the model like a training datamodule's ------------------------
    @property
    def num_classes(self) -> int:
        return len(self._class_names)

    @property
    def class_names(self) -> list[str]:
        return list(self._class_names)

    @property
    def video_shape(self) -> tuple[int, int, int, int]:
        if self.frames is None or self.frame_size is None:
            raise ValueError("NightVideos needs frames and frame_size (sacd predict fills them from the checkpoint)")
        return (1, int(self.frames), int(self.frame_size), int(self.frame_size))

    @property
    def eeg_shape(self) -> tuple[int, int]:
        return (1, 1)  # prediction reads no EEG

    @property
    def eeg_sample_rate(self) -> float:
        return 1.0

    @property
    def num_train_samples(self) -> int | None:
        return None

    def setup(self, stage: str | None = None) -> None:
        """Open every night's video now, so a missing, empty, unreadable or too-short one fails before
        any staging, and count the epochs."""
        if stage not in (None, "predict"):
            raise ValueError(f"NightVideos only predicts (video without EEG or labels); got stage {stage!r}")
        if self.trainer is not None:
            check_single_process(self.trainer.world_size)
        self.videos = [open_night_video(night, self.backend) for night in self.nights]
        self.epochs_per_night = [
            len(epoch_starts(video, night, self.epoch_seconds)) for video, night in zip(self.videos, self.nights)
        ]

    def predict_dataloader(self) -> DataLoader:
        _, frames, size, _ = self.video_shape
        if self.epochs_per_night is None:
            self.setup("predict")
        dataset = NightClips(self.nights, self.videos, epoch_seconds=self.epoch_seconds, frames=frames, frame_size=size,
                             chunk_epochs=self.chunk_epochs, max_gap_seconds=self.max_gap_seconds,
                             scratch_dir=self.scratch_dir,
                             total_epochs=sum(self.epochs_per_night))  # fmt: skip
        workers = min(self.num_workers, len(self.nights))
        return DataLoader(dataset, batch_size=self.batch_size, num_workers=workers)
