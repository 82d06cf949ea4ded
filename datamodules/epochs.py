"""Per-epoch training arrays of a night, kept in memory or memory-mapped from a disk cache.

A night is turned into what a model consumes once: labels, standardised EEG epochs and T video
frames per epoch. With a cache folder the arrays are written as ``.npy`` files (atomically) and read
back memory-mapped, so a 20-subject set of 8-hour nights costs disk, not RAM, and later runs never
generate or decode again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_ARRAYS = ("labels", "eeg", "video", "background", "onsets")
#: arrays a night has only where they are known (a recording has no latent stages)
_OPTIONAL_ARRAYS = ("labels_true",)


@dataclass
class EpochArrays:
    """One night as training arrays.

    Attributes:
        labels: (epochs,) int64 stages.
        eeg: (epochs, channels, samples) float32, standardised per night and channel.
        video: (epochs, frames, height, width) uint8 sampled frames.
        background: (height, width) float32 mean frame of the night (video standardisation).
        residual: SD of the frames around ``background`` (video standardisation).
        onsets: (epochs,) float64 start of each epoch in seconds from the PSG start.
        labels_true: (epochs,) int64 latent stages where they are known (a synthetic night: what its
            signals follow, of which ``labels`` may be a scorer's reading); None for a recording.
    """

    labels: np.ndarray
    eeg: np.ndarray
    video: np.ndarray
    background: np.ndarray
    residual: float
    onsets: np.ndarray
    labels_true: np.ndarray | None = None

    def standardise_video(self, clip: np.ndarray) -> np.ndarray:
        """(1, T, H, W) float32 from uint8 frames (T, H, W), by the night's background and residual SD."""
        return ((clip[None] - self.background) / self.residual).astype(np.float32)

    def video_clip(self, epoch: int) -> np.ndarray:
        """(1, T, H, W) float32 clip standardised by the night's background and residual SD.

        Per-night standardisation, like the EEG's, removes each camera's placement, gain and
        exposure, so a model sees breathing and movement rather than who was filmed.
        """
        return self.standardise_video(self.video[epoch])


def standardise_eeg(epochs: np.ndarray) -> np.ndarray:
    """Zero mean and unit SD per channel over the whole night; (epochs, channels, samples) float32."""
    mean = epochs.mean(axis=(0, 2), keepdims=True, dtype=np.float64)
    std = epochs.std(axis=(0, 2), keepdims=True, dtype=np.float64)
    return ((epochs - mean) / np.maximum(std, 1e-12)).astype(np.float32)


def video_background(video: np.ndarray) -> tuple[np.ndarray, float]:
    """The night's mean frame and the SD of the frames around it."""
    frames = video.reshape(-1, *video.shape[-2:])
    background = frames.mean(axis=0, dtype=np.float64)
    residual = float(np.sqrt(max(float(((frames - background) ** 2).mean()), 1.0)))
    return background.astype(np.float32), residual


def epoch_arrays(
    labels: np.ndarray,
    eeg_epochs: np.ndarray,
    video: np.ndarray,
    onsets: np.ndarray,
    labels_true: np.ndarray | None = None,
) -> EpochArrays:
    """Standardise and bundle a night's raw epochs (EEG in any unit, video uint8, onsets in seconds)."""
    background, residual = video_background(video)
    return EpochArrays(
        labels=np.asarray(labels, dtype=np.int64),
        eeg=standardise_eeg(eeg_epochs),
        video=np.ascontiguousarray(video, dtype=np.uint8),
        background=background,
        residual=residual,
        onsets=np.asarray(onsets, dtype=np.float64),
        labels_true=None if labels_true is None else np.asarray(labels_true, dtype=np.int64),
    )


class EpochStore:
    """Builds each night's arrays once; keeps them in memory, or on disk when given a folder."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder).expanduser() if folder is not None else None
        self._memory: dict[str, EpochArrays] = {}

    def get(self, key: str, build: Callable[[], EpochArrays]) -> EpochArrays:
        """The arrays stored under ``key`` (a config hash + night id), building them on a miss."""
        if key in self._memory:
            return self._memory[key]
        if self.folder is None:
            arrays = build()
        else:
            arrays = self._load(key)
            if arrays is None:
                self._save(key, build())
                arrays = self._load(key)
                assert arrays is not None
        self._memory[key] = arrays
        return arrays

    def _load(self, key: str) -> EpochArrays | None:
        night_dir = self.folder / key
        meta_path = night_dir / "meta.json"
        if not meta_path.is_file():
            return None
        meta = json.loads(meta_path.read_text())
        loaded = {name: np.load(night_dir / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
        loaded |= {name: np.load(night_dir / f"{name}.npy", mmap_mode="r") for name in _OPTIONAL_ARRAYS
                   if (night_dir / f"{name}.npy").is_file()}  # fmt: skip
        return EpochArrays(**loaded, residual=float(meta["residual"]))

    def _save(self, key: str, arrays: EpochArrays) -> None:
        """Write into a temporary folder, then rename: a killed run never leaves a half night."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".{key}."))
        try:
            for name in _ARRAYS + _OPTIONAL_ARRAYS:
                if getattr(arrays, name) is not None:
                    np.save(tmp / f"{name}.npy", getattr(arrays, name))
            (tmp / "meta.json").write_text(json.dumps({"residual": arrays.residual}))
            try:
                os.rename(tmp, self.folder / key)
            except OSError:  # another process finished the same night first
                shutil.rmtree(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
