"""Transient PSG events: spindles, K-complexes, vertex waves, sawtooth waves, eye movements, twitches.

Each builder returns waveforms in microvolts, one row per event, on a common time axis of fixed
length (events shorter than the axis are zero past their end). ``place`` adds them into a night-long
signal at given start samples. Event times come from ``poisson_onsets`` with a rate per second, so
rates can follow the hypnogram and within-epoch states (eyes closed, phasic REM) at 1 s resolution.
"""

from __future__ import annotations

import numpy as np


def poisson_onsets(rate_per_second: np.ndarray, sample_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Start samples of a Poisson process whose rate (events per second) is given for each second."""
    counts = rng.poisson(np.maximum(rate_per_second, 0.0))
    seconds = np.repeat(np.arange(len(counts)), counts)
    return ((seconds + rng.random(len(seconds))) * sample_rate).astype(np.int64)


def place(out: np.ndarray, starts: np.ndarray, waves: np.ndarray) -> None:
    """Add event waveforms ``waves`` (events, length) into ``out`` at ``starts`` (clipped at the end)."""
    if len(starts) == 0:
        return
    index = starts[:, None] + np.arange(waves.shape[1])
    keep = index < len(out)
    out += np.bincount(index[keep], weights=waves[keep], minlength=len(out))[: len(out)]


def _axis(seconds: float, sample_rate: float) -> np.ndarray:
    return np.arange(int(round(seconds * sample_rate))) / sample_rate


def _gauss(t: np.ndarray, centre: np.ndarray | float, width: np.ndarray | float) -> np.ndarray:
    return np.exp(-0.5 * ((t - centre) / width) ** 2)


def spindles(count: int, sample_rate: float, rng: np.random.Generator, centre_hz: float) -> np.ndarray:
    """Sleep spindles: 0.5-2 s waxing-waning bursts near ``centre_hz`` (11-16 Hz), 15-45 uV peak."""
    t = _axis(2.2, sample_rate)
    duration = rng.uniform(0.5, 2.0, size=(count, 1))
    freq = np.clip(centre_hz + rng.normal(0.0, 0.4, size=(count, 1)), 11.0, 16.0)
    chirp = -rng.uniform(0.0, 0.6, size=(count, 1))  # spindles slow down slightly towards their end, Hz
    phase = 2 * np.pi * (freq * t + 0.5 * chirp * t**2 / duration) + rng.uniform(0, 2 * np.pi, size=(count, 1))
    # Waxing-waning: a raised-cosine envelope skewed so the peak falls in the first half.
    u = np.clip(t / duration, 0.0, 1.0)
    envelope = np.where(t < duration, np.sin(np.pi * u ** rng.uniform(0.7, 1.0, size=(count, 1))) ** 2, 0.0)
    return rng.uniform(15.0, 45.0, size=(count, 1)) * envelope * np.sin(phase)


def k_complexes(count: int, sample_rate: float, rng: np.random.Generator) -> np.ndarray:
    """K-complexes: a sharp negative wave then a slower positive one; ~0.6-1.2 s, 100-200 uV peak to peak."""
    t = _axis(1.6, sample_rate)
    neg_at = rng.uniform(0.22, 0.3, size=(count, 1))
    neg = rng.uniform(55.0, 110.0, size=(count, 1)) * _gauss(t, neg_at, rng.uniform(0.07, 0.1, size=(count, 1)))
    pos_at = neg_at + rng.uniform(0.4, 0.55, size=(count, 1))
    pos = rng.uniform(40.0, 80.0, size=(count, 1)) * _gauss(t, pos_at, rng.uniform(0.15, 0.22, size=(count, 1)))
    pre = 12.0 * _gauss(t, neg_at - 0.14, 0.05)  # the small positive deflection that often leads in
    return pre + pos - neg


def vertex_waves(count: int, sample_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Vertex sharp waves: < 0.5 s, a sharp negative peak of 30-75 uV with a small positive rebound."""
    t = _axis(0.5, sample_rate)
    neg = rng.uniform(30.0, 75.0, size=(count, 1)) * _gauss(t, 0.15, rng.uniform(0.035, 0.05, size=(count, 1)))
    return 0.3 * np.abs(neg).max(axis=1, keepdims=True) * _gauss(t, 0.3, 0.06) - neg


def sawtooth_bursts(count: int, sample_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Sawtooth waves of REM: 1-4 s trains of 2-6 Hz triangular waves (slow rise, sharp fall), 15-40 uV."""
    t = _axis(4.0, sample_rate)
    duration = rng.uniform(1.0, 4.0, size=(count, 1))
    cycles = (rng.uniform(2.0, 5.0, size=(count, 1)) * t + rng.random((count, 1))) % 1.0
    wave = np.where(cycles < 0.7, cycles / 0.7, (1.0 - cycles) / 0.3) * 2.0 - 1.0
    envelope = np.where(t < duration, np.sin(np.pi * np.clip(t / duration, 0, 1)) ** 0.5, 0.0)
    return rng.uniform(15.0, 40.0, size=(count, 1)) * envelope * wave


def saccades(count: int, sample_rate: float, rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """Rapid eye movements seen through an AC-coupled EOG: a fast step (< 0.1 s) that decays over ~1 s."""
    t = _axis(3.0, sample_rate)
    rise = rng.uniform(0.02, 0.05, size=(count, 1))
    decay = rng.uniform(0.5, 1.2, size=(count, 1))
    sign = rng.choice([-1.0, 1.0], size=(count, 1))
    return sign * rng.uniform(low, high, size=(count, 1)) * (1 - np.exp(-t / rise)) * np.exp(-t / decay)


def blinks(count: int, sample_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Eye blinks: a monophasic 0.2-0.4 s deflection of 60-200 uV at the EOG."""
    t = _axis(0.6, sample_rate)
    width = rng.uniform(0.05, 0.09, size=(count, 1))
    return rng.uniform(60.0, 200.0, size=(count, 1)) * _gauss(t, 0.25, width)


def rolling_eye_movements(count: int, sample_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Slow rolling eye movements of drowsiness: 0.2-0.6 Hz swings of 40-120 uV lasting 3-8 s."""
    t = _axis(8.0, sample_rate)
    duration = rng.uniform(3.0, 8.0, size=(count, 1))
    freq = rng.uniform(0.2, 0.6, size=(count, 1))
    envelope = np.where(t < duration, np.sin(np.pi * np.clip(t / duration, 0, 1)), 0.0)
    return rng.uniform(40.0, 120.0, size=(count, 1)) * envelope * np.sin(2 * np.pi * freq * t)


def muscle_bursts(count: int, sample_rate: float, rng: np.random.Generator, seconds: tuple[float, float],
                  amplitude_uv: tuple[float, float]) -> np.ndarray:
    """Bursts of broadband muscle activity (twitches, movement): white noise under a smooth envelope."""
    t = _axis(seconds[1], sample_rate)
    duration = rng.uniform(*seconds, size=(count, 1))
    envelope = np.where(t < duration, np.sin(np.pi * np.clip(t / duration, 0, 1)) ** 0.5, 0.0)
    noise = rng.standard_normal((count, len(t)))
    if count:  # subtracting a 3-point moving average removes the slow part (below ~fs/6)
        noise -= np.convolve(noise.ravel(), np.ones(3) / 3, mode="same").reshape(noise.shape)
    return rng.uniform(*amplitude_uv, size=(count, 1)) * envelope * noise
