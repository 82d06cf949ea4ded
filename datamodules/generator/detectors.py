"""Simple, documented detectors of the PSG features the generator must carry (used for validation).

They follow the textbook/AASM definitions closely enough to check the synthetic signals, not to score
real recordings: relative band powers (Welch), spindles (sigma-band RMS above a relative threshold for
0.5-2 s), K-complexes (a negative then positive slow deflection of >= 100 uV peak to peak lasting
>= 0.5 s) and the slow-wave fraction of an epoch (0.5-2 Hz waves of >= 75 uV peak to peak).
All inputs are in volts; sample rates in Hz; returned onsets and durations in seconds.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt, welch

UV = 1e-6  # one microvolt in volts
BANDS: dict[str, tuple[float, float]] = {
    "delta": (0.5, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 12.0),
    "sigma": (12.0, 16.0),
    "beta": (16.0, 30.0),
}


def _bandpass(x: np.ndarray, sample_rate: float, low_hz: float, high_hz: float, order: int = 2) -> np.ndarray:
    sos = butter(order, [low_hz, min(high_hz, 0.45 * sample_rate)], btype="band", fs=sample_rate, output="sos")
    return sosfiltfilt(sos, x, axis=-1)


def relative_band_powers(x_volts: np.ndarray, sample_rate: float, window_seconds: float = 4.0) -> dict[str, np.ndarray]:
    """Power of each band in ``BANDS`` as a fraction of 0.5-30 Hz power (Welch, ``window_seconds`` windows).

    ``x_volts`` is (..., samples), e.g. (epochs, samples); the result holds one array of shape (...) per band.
    """
    nperseg = min(int(window_seconds * sample_rate), x_volts.shape[-1])
    freqs, psd = welch(x_volts, fs=sample_rate, nperseg=nperseg, axis=-1)
    power = {name: psd[..., (freqs >= lo) & (freqs < hi)].sum(axis=-1) for name, (lo, hi) in BANDS.items()}
    total = sum(power.values())
    return {name: p / np.maximum(total, 1e-300) for name, p in power.items()}


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def detect_spindles(
    x: np.ndarray,
    sample_rate: float,
    relative_threshold: float = 3.0,
    min_seconds: float = 0.5,
    max_seconds: float = 2.0,
    min_rms_volts: float = 4.0 * UV,
) -> tuple[np.ndarray, np.ndarray]:
    """Spindle onsets and durations (seconds) in a 1-D signal in volts.

    The 11-16 Hz band is filtered out and its RMS taken over 0.3 s; a spindle is a run of 0.5-2 s
    during which that RMS exceeds ``relative_threshold`` times its median over ``x`` (and at least
    ``min_rms_volts``). Give ``x`` a long stretch (a whole night) so the median is the background.
    """
    sigma = _bandpass(np.asarray(x, dtype=np.float64), sample_rate, 11.0, 16.0, order=4)
    window = max(1, int(round(0.3 * sample_rate)))
    rms = np.sqrt(np.convolve(sigma**2, np.ones(window) / window, mode="same"))
    threshold = max(relative_threshold * float(np.median(rms)), min_rms_volts)
    starts, ends = _runs(rms > threshold)
    # Bridge gaps under 0.1 s (one spindle dipping briefly under the threshold).
    if len(starts) > 1:
        separate = (starts[1:] - ends[:-1]) > 0.1 * sample_rate
        starts, ends = starts[np.r_[True, separate]], ends[np.r_[separate, True]]
    durations = (ends - starts) / sample_rate
    ok = (durations >= min_seconds) & (durations <= max_seconds)
    return starts[ok] / sample_rate, durations[ok]


def detect_k_complexes(
    x: np.ndarray,
    sample_rate: float,
    min_peak_to_peak_volts: float = 100.0 * UV,
    min_negative_volts: float = 40.0 * UV,
) -> np.ndarray:
    """Onsets (seconds) of K-complexes in a 1-D signal in volts.

    On the 0.3-4 Hz filtered signal: a negative peak below ``-min_negative_volts`` followed within
    0.2-0.8 s by a positive peak, with a peak-to-peak of at least ``min_peak_to_peak_volts`` and a whole
    wave (from the zero crossing before the negative peak to the one after the positive) of 0.5-2 s.
    Rhythmic slow waves of N3 qualify as well, so count K-complexes in N2.
    """
    y = _bandpass(np.asarray(x, dtype=np.float64), sample_rate, 0.3, 4.0)
    interior = (y[1:-1] < y[:-2]) & (y[1:-1] <= y[2:]) & (y[1:-1] < -min_negative_volts)
    troughs = np.flatnonzero(interior) + 1
    lag = np.arange(int(0.2 * sample_rate), int(0.8 * sample_rate))
    idx = np.minimum(troughs[:, None] + lag, len(y) - 1)
    peak = idx[np.arange(len(troughs)), np.argmax(y[idx], axis=1)] if len(troughs) else troughs
    p2p = y[peak] - y[troughs]
    down = np.flatnonzero((y[:-1] >= 0) & (y[1:] < 0))
    start = down[np.maximum(np.searchsorted(down, troughs) - 1, 0)] if len(down) else troughs
    after = np.searchsorted(down, peak)
    end = down[np.minimum(after, len(down) - 1)] if len(down) else peak
    duration = (end - start) / sample_rate
    ok = (p2p >= min_peak_to_peak_volts) & (duration >= 0.5) & (duration <= 2.0) & (y[peak] > 0)
    onsets = start[ok]
    if len(onsets) > 1:  # one K-complex per second at most
        onsets = onsets[np.r_[True, np.diff(onsets) > sample_rate]]
    return onsets / sample_rate


def slow_wave_fraction(epoch: np.ndarray, sample_rate: float, min_peak_to_peak_volts: float = 75.0 * UV) -> float:
    """Fraction of ``epoch`` (1-D, volts) covered by 0.5-2 Hz waves of >= 75 uV peak to peak (AASM N3).

    Waves are cut at the downward zero crossings of the 0.5-2 Hz filtered signal; a wave counts when it
    lasts 0.5-2 s and its peak to peak, measured on the 0.3-4 Hz signal, reaches the threshold.
    """
    x = np.asarray(epoch, dtype=np.float64)
    slow = _bandpass(x, sample_rate, 0.5, 2.0)
    broad = _bandpass(x, sample_rate, 0.3, 4.0)
    cuts = np.flatnonzero((slow[:-1] >= 0) & (slow[1:] < 0))
    covered = 0
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if 0.5 * sample_rate <= b - a <= 2.0 * sample_rate and np.ptp(broad[a:b]) >= min_peak_to_peak_volts:
            covered += b - a
    return covered / len(x)
