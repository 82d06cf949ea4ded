"""Assemble one synthetic subject-night from its parts: hypnogram, PSG signals and infrared video.

A night is fully determined by (seed, subject id, night index): the subject's traits come from
(seed, subject), and each part of each night draws from its own random stream, so changing how one
part uses random numbers (or the video size) never changes another part's output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from datamodules.generator.eeg import DEFAULT_CHANNELS, channel_type, scoring_cues, simulate_psg
from datamodules.generator.hypnogram import simulate_hypnogram
from datamodules.generator.night import SyntheticNight
from datamodules.generator.scorer import score_night
from datamodules.generator.subjects import draw_subject
from datamodules.generator.video import draw_video_traits, render_night_video

# Random streams of one night's parts (any distinct constants).
_HYPNOGRAM, _PSG, _VIDEO_TRAITS, _MOTION, _RENDER, _SCORER = 1, 2, 3, 4, 5, 6


def night_rng(seed: int, subject: int, night: int, part: int, *keys: int) -> np.random.Generator:
    """The random stream of one part of one subject-night (``keys`` tell apart streams of one part, e.g. scorers)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(subject), int(night), part, *map(int, keys)]))


def generate_night(
    *,
    seed: int,
    subject: int,
    night: int = 0,
    hours: float = 8.0,
    num_epochs: int | None = None,
    sample_rate: float = 128.0,
    channels: Sequence[str] = DEFAULT_CHANNELS,
    video_fps: float = 5.0,
    video_size: int | tuple[int, int] = 112,
    proportions: str | Sequence[float] = "paper",
    epoch_seconds: float = 30.0,
    scorer: int | None = None,
) -> SyntheticNight:
    """One subject-night with agreeing hypnogram, PSG (volts) and a lazily rendered IR video.

    Args:
        seed: generator seed of the whole synthetic dataset.
        subject: subject id (traits are per subject, the same on every night).
        night: night index of that subject.
        hours: time in bed, used when ``num_epochs`` is not given.
        num_epochs: number of 30 s epochs (overrides ``hours``).
        sample_rate: PSG sampling rate in Hz.
        channels: PSG channel names (EEG derivations, "EOG", "EMG").
        video_fps: frame rate of the night's video in Hz.
        video_size: frame size in pixels (int for square, or (height, width)).
        proportions: stage-mix preset ("paper", "healthy") or five target proportions.
        epoch_seconds: scoring epoch length in seconds.
        scorer: None labels the night with its latent stages; ``i >= 0`` with simulated scorer ``i``'s
            reading of them (:mod:`datamodules.generator.scorer`), keeping the latent stages in
            ``events["stage_true"]``. The signals and video always follow the latent stages.
    """
    if scorer is not None and scorer < 0:
        raise ValueError(f"scorer must be None or a scorer number >= 0, got {scorer}")
    if num_epochs is None:
        num_epochs = int(round(hours * 3600.0 / epoch_seconds))
    profile = draw_subject(seed, subject)
    labels = simulate_hypnogram(
        num_epochs, profile, night_rng(seed, subject, night, _HYPNOGRAM), proportions, epoch_seconds
    )
    signals = simulate_psg(
        labels,
        profile,
        night_rng(seed, subject, night, _PSG),
        sample_rate=sample_rate,
        channels=channels,
        epoch_seconds=epoch_seconds,
    )
    traits = draw_video_traits(night_rng(seed, subject, 0, _VIDEO_TRAITS), profile.age_years)
    traits = dataclasses.replace(traits, breath_rate_at_rest_bpm=profile.breathing_rate_bpm)
    render_seed = int(np.random.SeedSequence([int(seed), int(subject), int(night), _RENDER]).generate_state(1)[0])
    renderer, motion = render_night_video(
        labels,
        traits,
        night_rng(seed, subject, night, _MOTION),
        fps=video_fps,
        size=video_size,
        seed=render_seed,
        epoch_seconds=epoch_seconds,
    )
    events = motion.ground_truth()
    if scorer is not None:
        events["stage_true"] = labels
        # the scorer reads the PSG's cues: the first draws of the PSG stream, replayed from its seed
        cues = scoring_cues(labels, night_rng(seed, subject, night, _PSG), sample_rate=sample_rate, epoch_seconds=epoch_seconds)
        labels = score_night(labels, night_rng(seed, subject, night, _SCORER, scorer), cues=cues)
    return SyntheticNight(
        subject=int(subject),
        night=int(night),
        labels=labels,
        epoch_seconds=float(epoch_seconds),
        signals=signals,
        channel_names=tuple(channels),
        channel_types=tuple(channel_type(name) for name in channels),
        sample_rate=float(sample_rate),
        video_fps=float(video_fps),
        video_size=tuple(renderer(np.zeros(1, dtype=np.int64)).shape[1:]),
        render_frames=renderer,
        num_frames=renderer.num_frames,
        events=events,
    )


def epoch_frame_indices(num_epochs: int, frames: int, video_fps: float, epoch_seconds: float = 30.0) -> np.ndarray:
    """(epochs, frames) indices of the frames nearest the centres of ``frames`` equal slices of each epoch.

    Nearest by time, as a reader of a recorded video picks them by timestamp.
    """
    centres = (np.arange(num_epochs)[:, None] + (np.arange(frames)[None, :] + 0.5) / frames) * epoch_seconds
    return np.floor(centres * video_fps + 0.5).astype(np.int64)
