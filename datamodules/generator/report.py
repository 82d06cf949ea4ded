"""A one-page PNG per synthetic night: does the hypnogram, EEG and video tell one story?

The page shows the hypnogram (in the palette of every figure), a spectrogram of one EEG channel (0-30 Hz, log power,
one column per 30 s epoch, so spindles, slow waves and alpha line up with the stages above) and one
video frame from the middle of the longest bout of each stage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.generator.night import SyntheticNight
from datamodules.stages import STAGES
from sacd.figures import draw_hypnogram, in_hypnogram_order, new_figure, save_png, stage_color, true_runs

_MAX_FREQUENCY_HZ = 30.0
_WINDOW_SECONDS = 4.0


def night_report(night: SyntheticNight, path: Path, *, channel: str = "C4-M1") -> Path:
    """Draw the night's hypnogram, ``channel`` spectrogram and one video frame per stage to a PNG.

    Returns the path written. Falls back to the first EEG channel when ``channel`` is absent.
    """
    labels = np.asarray(night.labels, dtype=np.int64)
    hours = np.arange(len(labels) + 1) * night.epoch_seconds / 3600.0
    channel = _pick_channel(night, channel)

    figure = new_figure(12, 8.5)
    grid = figure.add_gridspec(3, len(STAGES), height_ratios=(1.0, 1.3, 1.2))

    # hypnogram in the palette and row order every figure uses
    hypno = figure.add_subplot(grid[0, :])
    draw_hypnogram(hypno, np.arange(len(labels)), labels, STAGES, night.epoch_seconds)
    hypno.set_xlabel("time (hours)")

    # spectrogram of the chosen channel, one column per epoch
    spec = figure.add_subplot(grid[1, :], sharex=hypno)
    freqs_hz, power = epoch_spectrogram(
        night.signals[night.channel_names.index(channel)], night.sample_rate, night.epoch_seconds
    )
    keep = freqs_hz <= _MAX_FREQUENCY_HZ
    log_power = 10 * np.log10(power[:, keep].T * 1e12 + 1e-12)  # dB re 1 µV²/Hz
    centers = (hours[:-1] + hours[1:]) / 2
    mesh = spec.pcolormesh(centers, freqs_hz[keep], log_power, shading="nearest", cmap="magma")
    figure.colorbar(mesh, ax=spec, label="power (dB re 1 µV²/Hz)", pad=0.01)
    spec.set_ylabel(f"{channel} frequency (Hz)")
    spec.set_xlabel("time (hours)")
    spec.set_ylim(0, _MAX_FREQUENCY_HZ)

    # one frame per stage, from the middle of the longest bout of that stage
    for column, stage in enumerate(STAGES.index(name) for name in in_hypnogram_order(STAGES)):
        axis = figure.add_subplot(grid[2, column])
        axis.set_xticks([])
        axis.set_yticks([])
        frame_index = _middle_frame(night, stage)
        if frame_index is None:
            axis.set_title(f"{STAGES[stage]}: absent", fontsize=10)
            axis.set_facecolor("0.9")
            continue
        frame = np.asarray(night.render_frames(np.array([frame_index])))[0]
        axis.imshow(frame, cmap="gray", vmin=0, vmax=255)
        seconds = frame_index / night.video_fps
        axis.set_title(f"{STAGES[stage]} at {seconds / 3600:.2f} h (frame {frame_index})", fontsize=9,
                       color=stage_color(STAGES[stage]), fontweight="bold")

    shares = np.bincount(labels, minlength=len(STAGES)) / max(len(labels), 1) * 100
    mix = "  ".join(f"{name} {shares[STAGES.index(name)]:.1f}%" for name in in_hypnogram_order(STAGES))
    figure.suptitle(
        f"sub-{night.subject:03d} night {night.night}: {night.duration_seconds / 3600:.2f} h, "
        f"{night.num_epochs} epochs\n{mix}"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_png(figure, path)


def epoch_spectrogram(
    signal_volts: np.ndarray, sample_rate: float, epoch_seconds: float
) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density (V^2/Hz) of each epoch: (frequencies in Hz, (epochs, freqs)).

    Averages Hann-windowed 4 s segments with half overlap inside each epoch.
    """
    samples_per_epoch = int(round(epoch_seconds * sample_rate))
    window = min(int(round(_WINDOW_SECONDS * sample_rate)), samples_per_epoch)
    hop = max(window // 2, 1)
    epochs = np.asarray(signal_volts, dtype=np.float64)
    epochs = epochs[: len(epochs) // samples_per_epoch * samples_per_epoch].reshape(-1, samples_per_epoch)
    starts = np.arange(0, samples_per_epoch - window + 1, hop)
    segments = np.stack([epochs[:, s : s + window] for s in starts], axis=1)  # (epochs, segments, window)
    segments = segments - segments.mean(axis=-1, keepdims=True)
    taper = np.hanning(window)
    spectra = np.abs(np.fft.rfft(segments * taper, axis=-1)) ** 2
    power = spectra.mean(axis=1) / (sample_rate * np.sum(taper**2))
    power[:, 1:-1] *= 2  # one-sided
    return np.fft.rfftfreq(window, 1.0 / sample_rate), power


def _pick_channel(night: SyntheticNight, channel: str) -> str:
    if channel in night.channel_names:
        return channel
    for name, kind in zip(night.channel_names, night.channel_types):
        if kind == "eeg":
            return name
    return night.channel_names[0]


def _middle_frame(night: SyntheticNight, stage: int) -> int | None:
    """Frame index at the middle of the longest bout of ``stage`` (None when the stage is absent)."""
    runs = true_runs(np.asarray(night.labels) == stage)
    if not runs or night.num_frames == 0:
        return None
    start, stop = max(runs, key=lambda run: run[1] - run[0])
    middle_seconds = (start + stop) / 2 * night.epoch_seconds
    return int(min(round(middle_seconds * night.video_fps), night.num_frames - 1))
