"""One synthetic subject-night: the container every generator part, exporter and reader shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class SyntheticNight:
    """A whole night of one subject, with signals in physical units.

    Attributes:
        subject: subject id.
        night: night index of that subject (0 for the first night).
        labels: (epochs,) int64 stage per 30 s epoch, 0..4 = W, N1, N2, N3, REM: the latent stages, or a
            simulated scorer's reading of them when the night was scored (then ``events["stage_true"]``).
        epoch_seconds: epoch length in seconds (30).
        signals: (channels, samples) float32 PSG signals in volts, continuous over the night.
        channel_names: names of the signal rows, e.g. ("C4-M1", "C3-M2", "F4-M1", "O2-M1", "EOG", "EMG").
        channel_types: MNE channel types of the rows ("eeg", "eog", "emg").
        sample_rate: PSG sampling rate in Hz.
        video_fps: frame rate of the night's infrared video in Hz.
        video_size: (height, width) of the video frames in pixels.
        render_frames: renders frames by index of the night's video: ``render_frames(indices)`` returns
            uint8 (len(indices), height, width); indices are on the ``video_fps`` grid starting at the
            recording start. Rendering is deterministic: the same index always gives the same frame.
        num_frames: frames in the whole night's video.
        events: ground truth for validation (e.g. breathing rate per epoch, movement onsets, the latent
            stages of a scored night), by name.
    """

    subject: int
    night: int
    labels: np.ndarray
    epoch_seconds: float
    signals: np.ndarray
    channel_names: tuple[str, ...]
    channel_types: tuple[str, ...]
    sample_rate: float
    video_fps: float
    video_size: tuple[int, int]
    render_frames: Callable[[np.ndarray], np.ndarray]
    num_frames: int
    events: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def stages_true(self) -> np.ndarray:
        """(epochs,) the latent stages the signals follow: ``labels`` itself unless a scorer read the night."""
        return self.events.get("stage_true", self.labels)

    @property
    def num_epochs(self) -> int:
        return len(self.labels)

    @property
    def duration_seconds(self) -> float:
        return self.num_epochs * self.epoch_seconds
