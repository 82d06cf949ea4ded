"""The embedded default dataset: physiological synthetic nights, paired epoch by epoch.

Each subject's night comes from :mod:`datamodules.generator` (hypnogram, PSG in volts, infrared
video), fully determined by (seed, subject id, night index). The datamodule keeps only what a model
consumes: the requested EEG channels per 30 s epoch and ``frames`` video frames spread over each
epoch, standardised per night, in memory or memory-mapped from a disk cache.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from torch.utils.data import Dataset

from datamodules.base import PairedDataModule, epoch_spec
from datamodules.epoch_dataset import EpochDataset
from datamodules.epochs import EpochArrays, EpochStore, epoch_arrays
from datamodules.generator.assemble import epoch_frame_indices, generate_night
from datamodules.generator.hypnogram import PROPORTIONS_PRESETS
from datamodules.splits import subject_split
from datamodules.stages import STAGES, UNSCORED
from sacd.hashing import config_hash


#: what a cached night holds; a change here is a new cache entry, never a stale one read back
CACHED_ARRAYS = "labels, labels_true, eeg, video"


def night_epochs(
    *,
    seed: int,
    subject: int,
    night: int,
    num_epochs: int,
    channels: tuple[str, ...],
    sample_rate: float,
    epoch_seconds: float,
    frames: int,
    frame_size: int,
    video_fps: float,
    proportions: str | tuple[float, ...],
    scorer: int | None = None,
) -> EpochArrays:
    """Generate one night and cut it into standardised training epochs (only sampled frames rendered)."""
    generated = generate_night(
        seed=seed,
        subject=subject,
        night=night,
        num_epochs=num_epochs,
        sample_rate=sample_rate,
        channels=channels,
        video_fps=video_fps,
        video_size=frame_size,
        proportions=proportions,
        epoch_seconds=epoch_seconds,
        scorer=scorer,
    )
    samples = int(round(epoch_seconds * sample_rate))
    eeg = generated.signals.reshape(len(channels), num_epochs, samples).transpose(1, 0, 2)
    indices = epoch_frame_indices(num_epochs, frames, video_fps, epoch_seconds)
    video = generated.render_frames(indices.reshape(-1)).reshape(num_epochs, frames, frame_size, frame_size)
    return epoch_arrays(generated.labels, eeg, video, np.arange(num_epochs) * epoch_seconds, generated.stages_true)


def unscored_subjects(train: tuple[int, ...], scored_fraction: float, seed: int) -> frozenset[int]:
    """The training subjects nobody scored: all but a seeded ``round(scored_fraction * n)`` (at least 1).

    The draw depends on the seed and the training subjects only, and a larger fraction scores a
    superset of a smaller one's subjects, so fractions compared on one seed differ only in labels.
    """
    scored = max(1, int(round(scored_fraction * len(train))))
    order = np.random.default_rng([seed, 0x5C0_12ED]).permutation(sorted(train))
    return frozenset(int(s) for s in order[scored:])


class SyntheticNights(PairedDataModule):
    """Seeded synthetic nights of ``num_subjects`` subjects, split subject-wise.

    Subjects are ids ``0..num_subjects-1``; a training subject has ``train_nights`` nights, every
    other subject one (night 0), so more training nights never change what is validated or tested.
    A night is generated on first use;
    with ``cache_dir`` its epochs are written there once (keyed by a hash of everything that shapes
    them) and memory-mapped afterwards, so large sets cost disk rather than RAM.

    Args:
        num_subjects: subjects.
        epochs_per_night: 30 s epochs per night (960 = 8 h; >= 100 gives all five stages).
        train_nights: nights of each training subject (nights 0, 1, ...: the same person, other
            nights), for a larger training set of the same subjects; validation and test subjects
            keep night 0.
        val_subjects: validation subjects.
        test_subjects: test subjects (ignored when ``num_folds >= 2``).
        num_folds: 0 for one hold-out split, k >= 2 for k-fold cross-validation over subjects.
        fold: the test fold when ``num_folds >= 2``.
        eeg_channels: PSG channels given to the teacher (e.g. C4-M1, F4-M1, O2-M1, EOG, EMG).
        sample_rate: EEG sampling rate in Hz.
        epoch_seconds: epoch length in seconds.
        frames: video frames per epoch (spread uniformly over it).
        frame_size: frame height and width in pixels.
        video_fps: frame rate of the underlying night video, in Hz.
        proportions: stage-mix preset ("paper", "healthy") or five target proportions.
        scored_fraction: share of the training subjects whose nights were scored (a seeded choice of
            whole subjects, at least one); the others' items carry the label ``UNSCORED`` (their
            latent stages stay in ``label_true``), as the many nights a lab records but never scores.
            Validation and test subjects are always scored.
        scorer: whose hypnogram labels the epochs: simulated human scorer ``i >= 0`` (default 0), who
            agrees with another scorer at the AASM inter-scorer rates (W 84 %, N1 63 %, N2 85 %, N3 67 %,
            REM 91 %), mostly at stage changes and on epochs whose signals are ambiguous, so that
            stagers trained and tested on it meet the ceiling real ones meet against human
            hypnograms; None for the generator's latent stages (always in ``label_true``).
        seed: seeds the nights, the split and the training shuffle.
        cache_dir: folder for the memory-mapped epoch cache (None keeps nights in memory).
        batch_size: items per batch.
        num_workers: dataloader workers.
        balanced_sampling: sample training epochs so that every scored stage is drawn equally often.
        unscored_ratio: share of training draws from unscored items (None: as they occur; see
            :class:`datamodules.PairedDataModule`).
    """

    training_only_args = PairedDataModule.training_only_args | {"train_nights"}

    def __init__(
        self,
        num_subjects: int = 10,
        epochs_per_night: int = 120,
        train_nights: int = 1,
        scored_fraction: float = 1.0,
        val_subjects: int = 2,
        test_subjects: int = 2,
        num_folds: int = 0,
        fold: int = 0,
        eeg_channels: tuple[str, ...] = ("C4-M1",),
        sample_rate: int = 128,
        epoch_seconds: float = 30.0,
        frames: int = 16,
        frame_size: int = 112,
        video_fps: float = 5.0,
        proportions: str | tuple[float, ...] = "paper",
        scorer: int | None = 0,
        seed: int = 0,
        cache_dir: str | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        balanced_sampling: bool = False,
        unscored_ratio: float | None = None,
    ) -> None:
        for name, value, low in (
            ("num_subjects", num_subjects, 1), ("epochs_per_night", epochs_per_night, 20),
            ("train_nights", train_nights, 1), ("frames", frames, 1), ("frame_size", frame_size, 8), ("sample_rate", sample_rate, 1), ("seed", seed, 0),
            ("scorer", 0 if scorer is None else scorer, 0),
        ):  # fmt: skip
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if not 0.0 < scored_fraction <= 1.0:
            raise ValueError(f"scored_fraction must be in (0, 1], got {scored_fraction}: at least one training subject is scored")
        if epoch_seconds <= 0 or video_fps <= 0:
            raise ValueError(f"epoch_seconds and video_fps must be > 0, got {epoch_seconds} and {video_fps}")
        if frames > epoch_seconds * video_fps:
            raise ValueError(f"frames={frames} exceeds the {epoch_seconds * video_fps:g} frames of an epoch at {video_fps} fps")
        if len(eeg_channels) == 0:
            raise ValueError("eeg_channels must name at least one channel, e.g. ('C4-M1',)")
        if isinstance(proportions, str) and proportions not in PROPORTIONS_PRESETS:
            raise ValueError(f"unknown proportions preset {proportions!r}; use one of {sorted(PROPORTIONS_PRESETS)}")
        split = subject_split(
            range(num_subjects), val=val_subjects, test=test_subjects, seed=seed, num_folds=num_folds, fold=fold
        )
        super().__init__(
            split=split,
            **epoch_spec(len(eeg_channels), sample_rate, epoch_seconds, frames, frame_size),
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
            class_names=STAGES,
            balanced_sampling=balanced_sampling,
            unscored_ratio=unscored_ratio,
        )
        self.save_hyperparameters()
        self.epochs_per_night = epochs_per_night
        self.train_nights = train_nights
        self.unscored_subjects = unscored_subjects(self.split.train, scored_fraction, seed)
        self._night_args = dict(
            seed=seed,
            night=0,
            num_epochs=epochs_per_night,
            channels=tuple(eeg_channels),
            sample_rate=float(sample_rate),
            epoch_seconds=float(epoch_seconds),
            frames=frames,
            frame_size=frame_size,
            video_fps=float(video_fps),
            proportions=proportions if isinstance(proportions, str) else tuple(proportions),
            scorer=scorer,
        )
        self._store = EpochStore(cache_dir)

    @property
    def num_train_samples(self) -> int:
        return len(self.split.train) * self.train_nights * self.epochs_per_night

    def night_indices(self, subject: int) -> range:
        """The night indices of one subject: ``train_nights`` for a training subject, else night 0."""
        if subject not in self.split.subjects:
            raise KeyError(f"no subject {subject}: this datamodule has subjects {list(self.split.subjects)}")
        return range(self.train_nights if subject in self.split.train else 1)

    def night(self, subject: int, night: int = 0) -> EpochArrays:
        """The epochs of one of a subject's nights (generated on first use, then kept or cached)."""
        if night not in self.night_indices(subject):
            raise KeyError(f"subject {subject} has nights {list(self.night_indices(subject))} here, not night {night}")
        from sacd import __version__

        args = {**self._night_args, "night": night}
        key = f"sub-{subject:03d}-{config_hash({'night': args, 'version': __version__, 'arrays': CACHED_ARRAYS})}"
        arrays = self._store.get(key, lambda: night_epochs(subject=subject, **args))
        if subject not in self.unscored_subjects:
            return arrays
        true = arrays.labels if arrays.labels_true is None else arrays.labels_true
        return dataclasses.replace(arrays, labels=np.full_like(arrays.labels, UNSCORED), labels_true=true)

    def make_dataset(self, subjects: tuple[int, ...]) -> Dataset:
        return EpochDataset([(s, self.night(s, n)) for s in subjects for n in self.night_indices(s)])

