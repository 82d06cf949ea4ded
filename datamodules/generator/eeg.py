"""PSG of a synthetic night: referential EEG, EOG and chin EMG in volts, continuous over the night.

The brain signal is a sum of band-limited noise components (a 1/f background, a steeper 1/f^2 part
whose share sets the stage's spectral slope, slow waves, theta, alpha, beta, muscle), each generated
once for the whole night and multiplied by a smooth amplitude envelope. The envelopes follow
stage-dependent gains per 1 s step, crossfaded over a few seconds, so stage changes never cause a
jump at an epoch boundary. Transients (spindles, K-complexes, vertex waves, sawtooth waves, eye
movements, twitches) are added on top at Poisson times whose rates follow the stage; then electrode
noise, drift, mains pick-up and movement artefacts. Amplitudes (tables in microvolts) are calibrated
against real central-channel N2 (SD ~29 uV) and N3 (SD ~20-30 uV) recordings and the AASM criteria.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import scipy.fft

from datamodules.generator import transients as tr
from datamodules.generator.subjects import SubjectProfile

UV = 1e-6  # one microvolt in volts
W, N1, N2, N3, REM = range(5)

DEFAULT_CHANNELS: tuple[str, ...] = ("C4-M1", "C3-M2", "F4-M1", "O2-M1", "EOG", "EMG")
DEFAULT_CHANNEL_TYPES: tuple[str, ...] = ("eeg", "eeg", "eeg", "eeg", "eog", "emg")

# Background components: SD in microvolts at a central site, per stage (rows W, N1, N2, N3, REM).
_COMPONENTS = ("pink", "steep", "slow", "theta", "alpha", "sigma", "beta", "muscle")
_STAGE_UV = np.array(
    [  # pink steep slow theta alpha sigma beta muscle
        [6.0, 4.0, 2.0, 3.0, 9.0, 0.8, 4.5, 4.0],  # W: alpha (eyes closed) and beta, some scalp muscle
        [5.0, 7.0, 3.0, 5.0, 2.5, 1.0, 2.0, 1.0],  # N1: theta, alpha dropping out
        [4.0, 13.0, 6.0, 3.5, 1.2, 3.0, 1.0, 0.3],  # N2: 1-4 Hz background, sigma (+ spindles, K-complexes)
        [4.0, 12.0, 20.0, 4.0, 1.0, 1.5, 0.7, 0.2],  # N3: high-amplitude 0.5-2 Hz slow waves
        [5.0, 7.0, 2.0, 4.5, 2.2, 0.8, 2.2, 0.3],  # REM: low-amplitude mixed frequency (+ sawtooth)
    ]
)
_ALPHA_EYES_OPEN = 0.4  # alpha gain with the eyes open, relative to eyes closed
# Eye state: mean seconds of an eyes-closed run and of an eyes-open run, in W and in N1 (alpha < 50 %).
_EYES_CLOSED_S = {W: (14.0, 8.0), N1: (3.0, 11.0)}
_PHASIC_REM_S = (6.0, 10.0)  # mean seconds of phasic (eye-movement bursts) and tonic REM runs
# Transient rates, events per second per stage (W, N1, N2, N3, REM).
_RATES = {
    "spindle": np.array([0.0, 0.003, 0.07, 0.03, 0.0]),  # ~4/min in N2 (+ those after K-complexes)
    "kcomplex": np.array([0.0, 0.003, 0.03, 0.012, 0.0]),  # ~1.8/min in N2
    "vertex": np.array([0.0, 0.04, 0.004, 0.0, 0.0]),
    "sawtooth": np.array([0.0, 0.0, 0.0, 0.0, 0.04]),
    "rolling": np.array([0.0, 0.08, 0.005, 0.0, 0.0]),
    "twitch": np.array([0.0, 0.01, 0.005, 0.0, 0.12]),
}
_SPINDLE_AFTER_KC = 0.5  # share of K-complexes followed by a spindle
_EMG_TONE_UV = np.array([15.0, 8.0, 5.0, 4.2, 1.8])  # chin EMG SD per stage (atonia in REM)
_ARTEFACT_STAGE = np.array([1.0, 0.6, 0.15, 0.05, 0.1])  # artefact rate relative to wake
_EOG_FRONTAL_LEAK = 0.6  # share of frontal EEG seen at the EOG electrode

# Weight of each component and event by scalp region (unlisted: 1).
_REGION_WEIGHTS: dict[str, dict[str, float]] = {
    "central": {},
    "frontal": {"steep": 1.15, "slow": 1.35, "alpha": 0.5, "sigma": 0.8, "muscle": 1.5, "spindle": 0.7, "kcomplex": 1.2,
                "vertex": 0.8},
    "parietal": {"slow": 0.85, "alpha": 1.4, "sigma": 0.9, "spindle": 0.9, "kcomplex": 0.8, "vertex": 0.9},
    "occipital": {"steep": 0.8, "slow": 0.6, "theta": 0.8, "alpha": 2.0, "sigma": 0.5, "beta": 0.9, "spindle": 0.45,
                  "kcomplex": 0.5, "vertex": 0.5, "sawtooth": 0.6},
    "temporal": {"slow": 0.8, "alpha": 1.1, "sigma": 0.6, "muscle": 2.0, "spindle": 0.6, "kcomplex": 0.7, "vertex": 0.6},
}
_EEG_EVENTS = ("spindle", "kcomplex", "vertex", "sawtooth")
_SITE = re.compile(r"^(FP|AF|PO|F|C|P|O|T)(\d+|Z)$")
_REGION_OF_PREFIX = {"FP": "frontal", "AF": "frontal", "F": "frontal", "C": "central", "P": "parietal",
                     "PO": "occipital", "O": "occipital", "T": "temporal"}  # fmt: skip


def channel_type(name: str) -> str:
    """MNE channel type of a PSG channel name: "eog" (EOG, LOC, ROC, E1, E2), "emg" (EMG, chin) or "eeg"."""
    upper = name.strip().upper()
    if "EOG" in upper or upper.split("-")[0] in {"LOC", "ROC", "E1", "E2"}:
        return "eog"
    if "EMG" in upper or "CHIN" in upper:
        return "emg"
    return "eeg"


def channel_region(name: str) -> str:
    """Scalp region of an EEG channel ("C4-M1" -> "central"); names that are not 10-20 sites are central."""
    site = name.strip().upper().removeprefix("EEG").strip().split("-")[0].strip()
    match = _SITE.match(site)
    return _REGION_OF_PREFIX[match.group(1)] if match else "central"


def _shape(name: str, freqs: np.ndarray, profile: SubjectProfile, sample_rate: float) -> np.ndarray:
    """Power spectral shape of one background component (arbitrary scale)."""
    f = np.maximum(freqs, freqs[1])
    highpass = 1.0 / (1.0 + (0.4 / f) ** 4)
    lowpass = 1.0 / (1.0 + (f / 30.0) ** 8)
    if name == "pink":
        return highpass * lowpass / f
    if name == "steep":  # 1/f^2 above ~1 Hz: the 1-4 Hz "fast delta" of NREM sleep
        return lowpass / (1.0 + (1.0 / f) ** 2) / f**2
    if name == "slow":
        return np.exp(-0.5 * (np.log(f / 1.0) / 0.45) ** 2)
    if name == "theta":
        return np.exp(-0.5 * ((f - 5.5) / 1.2) ** 2)
    if name == "alpha":
        return np.exp(-0.5 * ((f - profile.alpha_hz) / 0.6) ** 2)
    if name == "sigma":  # ongoing spindle-frequency activity between distinct spindles
        return np.exp(-0.5 * ((f - profile.spindle_hz) / 1.0) ** 2)
    if name == "beta":
        return np.exp(-0.5 * ((f - 20.0) / 5.0) ** 2)
    if name == "muscle":  # broadband from ~20 Hz up to just below Nyquist
        return 1.0 / (1.0 + (20.0 / f) ** 4) / (1.0 + (f / (0.45 * sample_rate)) ** 8)
    raise KeyError(name)


def _coloured_noise(shape: np.ndarray, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-SD Gaussian noise of the given power spectral shape (one-sided, on the rfft grid), float32."""
    n_fft = 2 * (len(shape) - 1)
    amplitude = np.sqrt(shape).astype(np.float32)
    spectrum = rng.standard_normal(len(shape), dtype=np.float32) + 1j * rng.standard_normal(len(shape), dtype=np.float32)
    x = scipy.fft.irfft(spectrum * amplitude, n=n_fft)[:num_samples]
    return (x / np.float32(max(float(x.std()), 1e-12))).astype(np.float32)


def _smooth(per_second: np.ndarray, seconds: float) -> np.ndarray:
    """Moving average over ``seconds`` (edges held): the crossfade between stage-dependent gains."""
    width = max(1, int(round(seconds)))
    padded = np.pad(per_second, ((0, 0), (width, width)) if per_second.ndim == 2 else (width, width), mode="edge")
    kernel = np.ones(width) / width
    if per_second.ndim == 1:
        return np.convolve(padded, kernel, mode="same")[width:-width]
    return np.stack([np.convolve(row, kernel, mode="same")[width:-width] for row in padded])


def _two_state(stage_per_s: np.ndarray, means: dict[int, tuple[float, float]], rng: np.random.Generator) -> np.ndarray:
    """A 1 s on/off process (e.g. eyes closed, phasic REM) with gamma run lengths that depend on the stage."""
    out = np.zeros(len(stage_per_s), dtype=bool)
    t, on = 0, bool(rng.random() < 0.5)
    while t < len(stage_per_s):
        pair = means.get(int(stage_per_s[t]))
        if pair is None:
            t += 1
            continue
        run = max(1, int(round(rng.gamma(2.0, pair[0 if on else 1] / 2.0))))
        out[t : t + run] = on
        t += run
        on = not on
    return out


def _night_seconds(num_epochs: int, sample_rate: float, epoch_seconds: float) -> int:
    return int(np.ceil(num_epochs * int(round(epoch_seconds * sample_rate)) / float(sample_rate)))


def _epoch_states(stage: np.ndarray, num_epochs: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The night's first draws, made before any signal: per-epoch gain jitter (epochs, components),
    per-second N3 depth and eyes-closed state. They shape what a scorer sees (:func:`scoring_cues`)."""
    jitter = np.exp(rng.normal(0.0, 0.15, size=(num_epochs, len(_COMPONENTS))))
    depth = _smooth(np.exp(rng.normal(0.0, 0.2, size=len(stage))), 20.0)  # N3 deepens and lightens
    eyes_closed = _two_state(stage, _EYES_CLOSED_S, rng)
    return jitter, depth, eyes_closed


def _alpha_gain(stage: np.ndarray, eyes_closed: np.ndarray) -> np.ndarray:
    return np.where(eyes_closed | (stage >= N2), 1.0, _ALPHA_EYES_OPEN)


def scoring_cues(
    labels: np.ndarray, rng: np.random.Generator, *, sample_rate: float = 128.0, epoch_seconds: float = 30.0
) -> np.ndarray:
    """(epochs, 2) strength of the two cues AASM staging hinges on, as the PSG of ``rng`` carries them.

    Column 0 is the epoch's slow-wave amplitude (relative to its stage's; N3 against N2 at the 20 %
    rule), column 1 its alpha amplitude (W against N1 at the 50 % rule), both as the signal gains
    :func:`simulate_psg` draws first from the same ``rng`` (pass a generator in the same state), so
    they never depend on the channels or sampling rate a datamodule asks for.
    """
    labels = np.asarray(labels, dtype=np.int64)
    seconds = _night_seconds(len(labels), sample_rate, epoch_seconds)
    epoch_of_second = np.minimum((np.arange(seconds) / epoch_seconds).astype(np.int64), len(labels) - 1)
    stage = labels[epoch_of_second]
    jitter, depth, eyes_closed = _epoch_states(stage, len(labels), rng)
    counts = np.maximum(np.bincount(epoch_of_second, minlength=len(labels)), 1)

    def per_epoch(per_second: np.ndarray) -> np.ndarray:
        return np.bincount(epoch_of_second, weights=per_second, minlength=len(labels)) / counts

    slow = jitter[:, _COMPONENTS.index("slow")] * np.where(labels == N3, per_epoch(depth), 1.0)
    alpha = jitter[:, _COMPONENTS.index("alpha")] * per_epoch(_alpha_gain(stage, eyes_closed))
    return np.stack([slow, alpha], axis=1)


def simulate_psg(
    labels: np.ndarray,
    profile: SubjectProfile,
    rng: np.random.Generator,
    *,
    sample_rate: float = 128.0,
    channels: Sequence[str] = DEFAULT_CHANNELS,
    epoch_seconds: float = 30.0,
) -> np.ndarray:
    """PSG signals of one night in volts, float32 (channels, epochs * epoch_seconds * sample_rate).

    Channel content follows the name: EEG by scalp region (frontal slow waves, occipital alpha,
    central spindles), "EOG" eye movements plus frontal EEG leakage, "EMG" chin muscle tone.
    """
    labels = np.asarray(labels, dtype=np.int64)
    per_epoch = epoch_seconds * sample_rate
    if abs(per_epoch - round(per_epoch)) > 1e-6:
        raise ValueError(f"epoch_seconds * sample_rate must be a whole number of samples, got {per_epoch}")
    if labels.ndim != 1 or len(labels) == 0 or labels.min() < 0 or labels.max() > 4:
        raise ValueError("labels must be a non-empty 1-D array of stages 0..4 (W, N1, N2, N3, REM)")
    fs = float(sample_rate)
    n = len(labels) * int(round(per_epoch))
    seconds = _night_seconds(len(labels), sample_rate, epoch_seconds)
    stage = labels[np.minimum((np.arange(seconds) / epoch_seconds).astype(np.int64), len(labels) - 1)]
    t_s = np.arange(seconds) + 0.5
    t = np.arange(n, dtype=np.float64) / fs

    # Per-second gains: stage table x epoch-to-epoch jitter x subject traits x within-stage states.
    jitter, depth, eyes_closed = _epoch_states(stage, len(labels), rng)
    gains = (_STAGE_UV[labels] * jitter)[np.minimum((t_s / epoch_seconds).astype(np.int64), len(labels) - 1)].T
    gains *= profile.eeg_scale
    slow_row = _COMPONENTS.index("slow")
    gains[slow_row] *= np.sqrt(profile.n3_propensity)  # slow-wave amplitude falls with age
    gains[slow_row] *= np.where(stage == N3, depth, 1.0)
    gains[_COMPONENTS.index("alpha")] *= _alpha_gain(stage, eyes_closed)
    envelopes = _smooth(gains, 3.0)

    # Night-long components, two independent sources each, mixed per channel (correlated channels).
    n_fft = scipy.fft.next_fast_len(n, real=True)
    n_fft += n_fft % 2
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / fs)
    sources = {}
    for k, name in enumerate(_COMPONENTS):
        env = np.interp(t, t_s, envelopes[k]).astype(np.float32)
        shape = _shape(name, freqs, profile, fs)
        sources[name] = (env * _coloured_noise(shape, n, rng), env * _coloured_noise(shape, n, rng))

    # Transient events, each kind as one night-long row in microvolts (before topography).
    phasic = _two_state(stage, {REM: _PHASIC_REM_S}, rng)
    events = {name: np.zeros(n) for name in (*_EEG_EVENTS, "eye", "twitch")}
    rate = {name: r[stage] for name, r in _RATES.items()}
    kc = tr.poisson_onsets(rate["kcomplex"], fs, rng)
    tr.place(events["kcomplex"], kc, tr.k_complexes(len(kc), fs, rng) * profile.eeg_scale)
    follow = kc[rng.random(len(kc)) < _SPINDLE_AFTER_KC] + int(0.7 * fs)
    sp = np.r_[tr.poisson_onsets(rate["spindle"], fs, rng), follow]
    tr.place(events["spindle"], sp, tr.spindles(len(sp), fs, rng, profile.spindle_hz) * profile.eeg_scale)
    vx = tr.poisson_onsets(rate["vertex"], fs, rng)
    tr.place(events["vertex"], vx, tr.vertex_waves(len(vx), fs, rng) * profile.eeg_scale)
    st = tr.poisson_onsets(rate["sawtooth"] * (0.5 + phasic), fs, rng)
    tr.place(events["sawtooth"], st, tr.sawtooth_bursts(len(st), fs, rng) * profile.eeg_scale)
    awake_open = (stage == W) & ~eyes_closed
    sac = tr.poisson_onsets(np.where(awake_open, 0.25, 0.0) + np.where(phasic, 0.6, 0.0) + 0.01 * (stage == N1), fs, rng)
    tr.place(events["eye"], sac, tr.saccades(len(sac), fs, rng, 50.0, 300.0))
    bl = tr.poisson_onsets(np.where(awake_open, 0.3, 0.02 * (stage == W)), fs, rng)
    tr.place(events["eye"], bl, tr.blinks(len(bl), fs, rng))
    rl = tr.poisson_onsets(rate["rolling"] * ~eyes_closed, fs, rng)
    tr.place(events["eye"], rl, tr.rolling_eye_movements(len(rl), fs, rng))
    tw = tr.poisson_onsets(rate["twitch"], fs, rng)
    tr.place(events["twitch"], tw, tr.muscle_bursts(len(tw), fs, rng, (0.05, 0.25), (10.0, 40.0)))

    # Movement artefacts (all channels), mostly in wake.
    artefact = np.zeros(n)
    mv = tr.poisson_onsets(profile.artefact_rate_per_hour / 3600.0 * _ARTEFACT_STAGE[stage], fs, rng)
    burst = tr.muscle_bursts(len(mv), fs, rng, (0.5, 3.0), (20.0, 80.0))
    burst += 0.5 * tr.rolling_eye_movements(len(mv), fs, rng)[:, : burst.shape[1]]  # electrode sway
    tr.place(artefact, mv, burst)

    line_on = profile.line_hz < 0.5 * fs  # amplifiers' anti-alias filters remove mains at or above Nyquist
    emg_tone = _smooth(_EMG_TONE_UV[stage] * np.exp(rng.normal(0.0, 0.2)) * np.exp(rng.normal(0.0, 0.15, seconds)), 3.0)
    out = np.empty((len(channels), n), dtype=np.float32)
    for c, name in enumerate(channels):
        kind = channel_type(name)
        region = "frontal" if kind == "eog" else channel_region(name)
        weights = _REGION_WEIGHTS[region]
        signal = np.zeros(n, dtype=np.float32)
        if kind != "emg":
            for comp, (a, b) in sources.items():
                angle = rng.uniform(0.0, 0.5)
                w = weights.get(comp, 1.0) * (_EOG_FRONTAL_LEAK if kind == "eog" else 1.0)
                signal += np.float32(w * np.cos(angle)) * a + np.float32(w * np.sin(angle)) * b
            for ev in _EEG_EVENTS:
                w = weights.get(ev, 1.0) * (_EOG_FRONTAL_LEAK if kind == "eog" else 1.0) * rng.uniform(0.85, 1.15)
                signal += (w * events[ev]).astype(np.float32)
        if kind == "eog":
            signal += events["eye"].astype(np.float32)
        if kind == "emg":
            tone = _coloured_noise(1.0 / (1.0 + (10.0 / np.maximum(freqs, 0.1)) ** 4) / (1.0 + (freqs / (0.45 * fs)) ** 8), n, rng)
            signal += np.interp(t, t_s, emg_tone).astype(np.float32) * tone + events["twitch"].astype(np.float32)
        signal += (rng.uniform(0.5, 1.5) * artefact).astype(np.float32)
        # Electrode noise (white), slow drift (< 0.1 Hz) and mains pick-up, in microvolts.
        signal += rng.standard_normal(n, dtype=np.float32) * np.float32(profile.electrode_noise_volts / UV)
        drift = _smooth(rng.standard_normal(seconds + 1).cumsum(), 10.0)
        drift = (drift - drift.mean()) / max(float(drift.std()), 1e-9) * profile.drift_volts / UV
        signal += np.interp(t, np.arange(seconds + 1), drift).astype(np.float32)
        if line_on:
            signal += np.float32(profile.line_volts / UV * rng.uniform(0.5, 1.5)) * np.sin(
                2 * np.pi * profile.line_hz * t + rng.uniform(0, 2 * np.pi)).astype(np.float32)
        out[c] = signal * np.float32(UV)
    return out
