"""Real recordings: a PSG file, video file(s) and a scored hypnogram per subject-night, paired by epoch.

A night nobody scored (no hypnogram in the manifest, or ``scored: false``) is cut into epochs on a
grid from the start of the PSG, labelled ``UNSCORED``, and used for training only.

Every night is checked and cut into epochs before training starts (or read back from the epoch
cache), so a bad file ends in one clear error naming it, never in a crash inside a worker.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from datamodules.base import PairedDataModule, epoch_spec
from datamodules.epoch_dataset import EpochDataset
from datamodules.epochs import EpochArrays, EpochStore, epoch_arrays
from datamodules.recorded.hypnogram import align, read_hypnogram
from datamodules.recorded.jitter import JitteredEpochDataset
from datamodules.recorded.manifest import ManifestError, NightEntry, read_manifest, subject_index
from datamodules.recorded.psg import RecordingError, bad_epochs, read_psg
from datamodules.recorded.video import NightVideo
from datamodules.splits import subject_split
from datamodules.stages import STAGES, UNSCORED
from sacd.hashing import config_hash


@dataclass(frozen=True)
class EpochingConfig:
    """How a night becomes training epochs (everything that shapes the cached arrays)."""

    channels: tuple[str, ...]
    sample_rate: float
    epoch_seconds: float
    frames: int
    frame_size: int
    l_freq_hz: float | None
    h_freq_hz: float | None
    flat_volts: float


@dataclass
class NightSummary:
    """What preparing one night found: the per-subject row of ``sacd check-data``."""

    entry: NightEntry  # ``entry.scored`` False: a night nobody scored, its epochs all UNSCORED
    scored_epochs: int
    usable_epochs: int
    excluded_unscored: int
    excluded_bad_signal: int
    stage_counts: list[int]


def prepare_night(entry: NightEntry, config: EpochingConfig) -> tuple[EpochArrays, NightSummary]:
    """Read, align, check and cut one night; raises one clear error for any bad input."""
    channels = entry.eeg_channels or config.channels
    if len(channels) != len(config.channels):
        raise ManifestError(
            f"{entry.name}: eeg_channels {list(channels)} has {len(channels)} channels but the datamodule uses "
            f"{len(config.channels)} ({list(config.channels)}); give the same number"
        )
    psg = read_psg(entry.psg, channels, sample_rate=config.sample_rate, l_freq_hz=config.l_freq_hz,
                   h_freq_hz=config.h_freq_hz)  # fmt: skip
    if entry.scored:
        hypnogram = read_hypnogram(entry.hypnogram, epoch_seconds=config.epoch_seconds, recording_start=psg.start)
        starts, labels = align(hypnogram, psg.duration_seconds)
        scored = labels >= 0
    else:  # every whole epoch of the recording, unlabelled: the teacher labels them
        starts = np.arange(int(psg.duration_seconds // config.epoch_seconds)) * config.epoch_seconds
        labels = np.full(len(starts), UNSCORED, dtype=np.int64)
        scored = np.ones(len(starts), dtype=bool)  # kept: nothing to exclude for want of a label
    samples = int(round(config.epoch_seconds * config.sample_rate))
    first = np.round(starts * config.sample_rate).astype(np.int64)
    inside = first + samples <= psg.signals.shape[1]
    keep_candidates = scored & inside
    index = first[keep_candidates][:, None] + np.arange(samples)[None, :]
    eeg = psg.signals[:, index].transpose(1, 0, 2) if index.size else np.zeros((0, len(channels), samples))
    # the cut epochs laid end to end, so the reader's per-epoch check applies to them as they are
    bad = bad_epochs(eeg.transpose(1, 0, 2).reshape(len(channels), -1), config.sample_rate, config.epoch_seconds,
                     flat_volts=config.flat_volts)  # fmt: skip
    if bad.any():
        warnings.warn(
            f"{entry.psg}: {int(bad.sum())} of {len(bad)} {'scored ' if entry.scored else ''}epochs have NaN or flat "
            "EEG and are excluded",
            stacklevel=2,
        )
    usable = np.flatnonzero(keep_candidates)[~bad]
    if len(usable) == 0:
        counted = f"{int(scored.sum())} scored" if entry.scored else f"{len(starts)} in the recording"
        raise RecordingError(
            f"{entry.name} ({entry.psg}) has no usable epochs: {counted}, {int(bad.sum())} with "
            "NaN/flat EEG. Check the hypnogram covers the recording and the channel is not empty."
        )
    video = NightVideo(entry.videos, offset_seconds=entry.video_offset_seconds)
    clips = video.clips(starts[usable], config.epoch_seconds, config.frames, size=(config.frame_size,) * 2)
    arrays = epoch_arrays(labels[usable], eeg[~bad], clips, starts[usable])
    summary = NightSummary(
        entry=entry,
        scored_epochs=int(scored.sum()) if entry.scored else 0,
        usable_epochs=len(usable),
        excluded_unscored=int((~scored).sum()),
        excluded_bad_signal=int(bad.sum()),
        stage_counts=np.bincount(labels[usable][labels[usable] >= 0], minlength=len(STAGES)).tolist(),
    )
    return arrays, summary


def _file_stamp(path: Path) -> list:
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


class RecordedNights(PairedDataModule):
    """Paired EEG/video epochs of real recordings listed in a manifest, split by subject.

    A subject with a night nobody scored trains only: validation and test subjects are drawn from
    the fully scored ones, and the others join the training split.

    Args:
        manifest: CSV or YAML manifest (see ``datamodules.recorded.manifest``).
        channels: EEG derivations given to the teacher (aliases are resolved per file).
        sample_rate: EEG rate after resampling, Hz.
        l_freq_hz: band-pass low edge, Hz (None: no high-pass).
        h_freq_hz: band-pass high edge, Hz (None: no low-pass).
        epoch_seconds: epoch length, seconds.
        frames: video frames per epoch.
        frame_size: frame height and width after resizing, pixels.
        val_subjects: validation subjects (count or fraction).
        test_subjects: test subjects (count or fraction; ignored with folds).
        num_folds: 0 for one hold-out split, k >= 2 for k-fold over subjects.
        fold: the test fold.
        flat_volts: an epoch whose EEG spans less than this (peak to peak) is excluded as flat.
        cache_dir: folder for the memory-mapped epoch cache (None: keep in memory).
        seed: seed of the split and the shuffle.
        batch_size: items per batch.
        num_workers: dataloader workers.
        balanced_sampling: sample training epochs so that every scored stage is drawn equally often.
        unscored_ratio: share of training draws given to epochs of unscored nights (None: as they
            occur); see :class:`datamodules.base.PairedDataModule`.
        jitter_frames: training clips draw a random time inside each frame slice at every access,
            decoded on the fly (evaluation always uses the cached, uniformly spaced frames).
    """

    def __init__(
        self,
        manifest: str,
        channels: tuple[str, ...] = ("C4-M1",),
        sample_rate: float = 128.0,
        l_freq_hz: float | None = 0.3,
        h_freq_hz: float | None = 35.0,
        epoch_seconds: float = 30.0,
        frames: int = 16,
        frame_size: int = 112,
        val_subjects: int | float = 1,
        test_subjects: int | float = 1,
        num_folds: int = 0,
        fold: int = 0,
        flat_volts: float = 0.1e-6,
        cache_dir: str | None = None,
        seed: int = 0,
        batch_size: int = 32,
        num_workers: int = 0,
        balanced_sampling: bool = False,
        unscored_ratio: float | None = None,
        jitter_frames: bool = False,
    ) -> None:
        self.jitter_frames = jitter_frames
        self.entries = read_manifest(manifest)
        self.subject_ids = subject_index(self.entries)
        self.unscored_subjects = frozenset(self.subject_ids[e.subject] for e in self.entries if not e.scored)
        try:
            split = subject_split(self.subject_ids.values(), val=val_subjects, test=test_subjects, seed=seed,
                                  num_folds=num_folds, fold=fold, training_only=self.unscored_subjects)  # fmt: skip
        except ValueError as error:
            if not self.unscored_subjects:
                raise
            raise ManifestError(
                f"manifest {manifest}: {len(self.unscored_subjects)} of {len(self.subject_ids)} subjects have a night "
                f"nobody scored and can only train; the others cannot fill the split ({error}). Score more "
                "subjects' nights, or ask for fewer validation and test subjects"
            ) from error
        super().__init__(
            split=split,
            **epoch_spec(len(channels), sample_rate, epoch_seconds, frames, frame_size),
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
            class_names=STAGES,
            balanced_sampling=balanced_sampling,
            unscored_ratio=unscored_ratio,
        )
        self.save_hyperparameters()
        self.config = EpochingConfig(tuple(channels), float(sample_rate), float(epoch_seconds), frames, frame_size,
                                     l_freq_hz, h_freq_hz, flat_volts)  # fmt: skip
        self._store = EpochStore(cache_dir)
        self.summaries: dict[tuple[str, int], NightSummary] = {}

    def nights_of(self, subjects: Sequence[int]) -> list[NightEntry]:
        wanted = set(subjects)
        return [e for e in self.entries if self.subject_ids[e.subject] in wanted]

    def night(self, entry: NightEntry) -> EpochArrays:
        """The epochs of one night, prepared once (then kept, or memory-mapped from the cache)."""
        files = [entry.psg, *([entry.hypnogram] if entry.scored else []), *entry.videos]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise RecordingError(f"{entry.name}: missing file(s) {missing}; fix the paths in the manifest")
        key_source = {"entry": [entry.subject, entry.night, entry.video_offset_seconds, entry.eeg_channels,
                                *([] if entry.scored else ["unscored"])],
                      "files": [_file_stamp(p) for p in files], "config": self.config.__dict__}  # fmt: skip
        key = f"{entry.subject}-night{entry.night}-{config_hash(key_source)}"

        def build() -> EpochArrays:
            arrays, summary = prepare_night(entry, self.config)
            self.summaries[(entry.subject, entry.night)] = summary
            return arrays

        return self._store.get(key, build)

    @property
    def num_train_samples(self) -> int:
        return sum(len(self.night(e).labels) for e in self.nights_of(self.split.train))

    def make_dataset(self, subjects: tuple[int, ...]) -> Dataset:
        entries = self.nights_of(subjects)
        nights = [(self.subject_ids[e.subject], self.night(e)) for e in entries]
        if self.jitter_frames and tuple(subjects) == self.split.train:
            videos = [NightVideo(e.videos, offset_seconds=e.video_offset_seconds) for e in entries]
            return JitteredEpochDataset(nights, videos, epoch_seconds=self.config.epoch_seconds,
                                        frame_size=self.config.frame_size, seed=self.seed)  # fmt: skip
        return EpochDataset(nights)
