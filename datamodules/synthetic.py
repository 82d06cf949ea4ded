"""Synthetic nights: seeded, fast, paired EEG and IR video that both carry the sleep stage.

Each subject's night is fully determined by ``(seed, subject id)``: a hypnogram from a semi-Markov
chain, EEG built per epoch from band-limited noise on a 1/f background plus stage transients
(spindles, K-complexes, vertex waves, sawtooth waves), and a grayscale top view of a blurred body
whose chest brightens and darkens with breathing, with stage-dependent body movements and twitches.

This is a learnable stand-in, not a physiological model: it gives each stage the cues the staging
literature describes (see ``docs/physiology.md``) at plausible magnitudes, and nothing more.

Units: EEG amplitudes are in volts internally (tables below in microvolts, times ``UV``), then each
night is standardised per channel; times in seconds, frequencies in Hz, video in 8-bit gray levels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch.utils.data import Dataset

from datamodules.base import PairedDataModule
from datamodules.epoch_dataset import EpochDataset
from datamodules.epochs import EpochArrays, epoch_arrays
from datamodules.splits import subject_split
from datamodules.stages import STAGES

UV = 1e-6  # one microvolt, in volts
W, N1, N2, N3, REM = range(5)

# The paper's class mix (W, N1, N2, N3, REM).
PAPER_PROPORTIONS: tuple[float, ...] = (0.431, 0.043, 0.293, 0.146, 0.088)

# -- hypnogram ----------------------------------------------------------------------------------
# Where a stage goes when it ends (rows: from, columns: to; no self-transitions). Follows the sleep
# cycle: W -> N1 -> N2 -> N3 -> N2 -> REM -> W/N1/N2.
_JUMPS = np.array(
    [
        [0.00, 0.80, 0.20, 0.00, 0.00],  # W
        [0.20, 0.00, 0.75, 0.00, 0.05],  # N1
        [0.20, 0.05, 0.00, 0.45, 0.30],  # N2
        [0.10, 0.00, 0.90, 0.00, 0.00],  # N3
        [0.40, 0.25, 0.35, 0.00, 0.00],  # REM
    ]
)
_N1_MEAN_BOUT_EPOCHS = 2.0  # sets the time scale; the other mean bouts follow from the proportions
_BOUT_SHAPE = 2.0  # gamma shape of bout lengths: persistence without fixed-length bouts


def simulate_hypnogram(
    num_epochs: int,
    rng: np.random.Generator,
    proportions: tuple[float, ...] = PAPER_PROPORTIONS,
    max_tries: int = 50,
) -> np.ndarray:
    """Stage labels (int64, 0..4) of one night from a semi-Markov chain starting in W.

    Bouts have gamma-distributed lengths whose means are chosen so that the long-run stage mix
    matches ``proportions``. Nights of at least 100 epochs contain all five stages: a night that
    misses one is redrawn (and, failing that, gets a short bout of the missing stage).
    """
    p = np.asarray(proportions, dtype=float)
    if p.shape != (len(STAGES),) or np.any(p <= 0):
        raise ValueError(f"proportions must be {len(STAGES)} positive numbers (W, N1, N2, N3, REM), got {proportions}")
    p = p / p.sum()
    eigvals, eigvecs = np.linalg.eig(_JUMPS.T)
    visits = np.abs(np.real(eigvecs[:, np.argmin(np.abs(eigvals - 1.0))]))
    visits /= visits.sum()
    mean_bout = p / visits
    mean_bout *= _N1_MEAN_BOUT_EPOCHS / mean_bout[N1]

    labels = np.empty(num_epochs, dtype=np.int64)
    for _ in range(max_tries):
        stage, filled = W, 0
        while filled < num_epochs:
            length = max(1, int(round(rng.gamma(_BOUT_SHAPE, mean_bout[stage] / _BOUT_SHAPE))))
            labels[filled : filled + length] = stage
            filled += length
            stage = int(rng.choice(len(STAGES), p=_JUMPS[stage]))
        if num_epochs < 100 or len(np.unique(labels)) == len(STAGES):
            return labels
    for stage in sorted(set(range(len(STAGES))) - set(labels.tolist())):
        start = int(rng.integers(1, num_epochs - 2))
        labels[start : start + 2] = stage
    return labels


# -- subject traits -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubjectTraits:
    """What makes one synthetic subject differ from another."""

    eeg_scale: float  # amplitude factor of all EEG components
    alpha_hz: float  # individual alpha frequency
    spindle_hz: float  # centre frequency of this subject's spindles
    eeg_noise_uv: float  # electrode (white) noise SD
    line_hz: float  # mains frequency
    breath_rate_scale: float  # multiplies the stage breathing rates
    breath_depth_scale: float  # multiplies the stage breathing depths
    camera_offset: tuple[float, float]  # body centre offset (y, x), fraction of the frame
    body_angle_rad: float
    body_scale: float
    brightness: float  # gray level of the body
    pixel_noise: float  # half-width of the uniform sensor noise, gray levels

    @classmethod
    def draw(cls, rng: np.random.Generator) -> SubjectTraits:
        return cls(
            eeg_scale=float(rng.lognormal(0.0, 0.2)),
            alpha_hz=float(rng.uniform(8.0, 12.0)),
            spindle_hz=float(rng.uniform(12.0, 14.5)),
            eeg_noise_uv=float(rng.uniform(1.5, 3.5)),
            line_hz=float(rng.choice([50.0, 60.0])),
            breath_rate_scale=float(rng.uniform(0.85, 1.15)),
            breath_depth_scale=float(rng.uniform(0.9, 1.1)),
            camera_offset=(float(rng.uniform(-0.08, 0.08)), float(rng.uniform(-0.08, 0.08))),
            body_angle_rad=float(rng.uniform(-0.25, 0.25)),
            body_scale=float(rng.uniform(0.9, 1.1)),
            brightness=float(rng.uniform(150.0, 185.0)),
            pixel_noise=float(rng.uniform(2.0, 4.0)),
        )


# -- EEG --------------------------------------------------------------------------------------------
# Stationary components, SD in microvolts per stage (rows W, N1, N2, N3, REM).
#            1/f   1/f^2  delta  theta  alpha  beta
_BAND_UV = np.array(
    [
        [6.0, 4.0, 3.0, 3.0, 14.0, 5.0],  # W: alpha + beta
        [6.0, 6.0, 5.0, 9.0, 4.0, 2.5],  # N1: theta, alpha dropping out
        [6.0, 8.0, 9.0, 8.0, 2.0, 2.0],  # N2: theta background (+ spindles, K-complexes)
        [6.0, 10.0, 35.0, 8.0, 1.5, 1.5],  # N3: high-amplitude slow waves
        [6.0, 5.0, 4.0, 8.0, 3.5, 3.5],  # REM: low-amplitude mixed (+ sawtooth waves)
    ]
)
_BAND_NAMES = ("pink", "brown", "delta", "theta", "alpha", "beta")
# Transients: expected count per 30 s epoch, per stage (W, N1, N2, N3, REM).
_EVENT_RATE = {
    "spindle": np.array([0.0, 0.1, 3.0, 1.0, 0.0]),  # ~6 per minute in N2
    "kcomplex": np.array([0.0, 0.05, 1.0, 0.4, 0.0]),
    "vertex": np.array([0.0, 1.5, 0.2, 0.0, 0.05]),
    "sawtooth": np.array([0.0, 0.0, 0.0, 0.0, 1.5]),
}
_EVENT_NAMES = tuple(_EVENT_RATE)
# Topography: weight of each component by scalp region (unlisted entries are 1).
_REGION_WEIGHTS: dict[str, dict[str, float]] = {
    "central": {},
    "frontal": {"delta": 1.3, "theta": 1.1, "alpha": 0.5, "spindle": 0.8, "kcomplex": 1.3, "vertex": 0.8,
                "sawtooth": 0.9},
    "parietal": {"delta": 0.9, "alpha": 1.2, "spindle": 0.9, "kcomplex": 0.8, "vertex": 0.9},
    "occipital": {"delta": 0.7, "theta": 0.9, "alpha": 1.7, "spindle": 0.5, "kcomplex": 0.6, "vertex": 0.6,
                  "sawtooth": 0.8},
    "temporal": {"delta": 0.9, "alpha": 0.9, "spindle": 0.7, "kcomplex": 0.8, "vertex": 0.7},
}
_CHANNEL_CORRELATION = 0.7  # share of background variance common to all channels
_REGION_OF_PREFIX = {"FP": "frontal", "AF": "frontal", "F": "frontal", "C": "central", "P": "parietal",
                     "PO": "occipital", "O": "occipital", "T": "temporal"}  # fmt: skip
_SITE = re.compile(r"^(FP|AF|PO|F|C|P|O|T)(\d+|Z)$")


def channel_region(name: str) -> str:
    """Scalp region of an EEG channel name such as ``"C4-M1"``, ``"EEG Fpz-Cz"`` or ``"O2-A1"``.

    The active electrode (before ``-``) decides; names that are not 10-20 EEG sites are central.
    """
    site = name.strip().upper().removeprefix("EEG").strip().split("-")[0].strip()
    match = _SITE.match(site)
    return _REGION_OF_PREFIX[match.group(1)] if match else "central"


def _unit_power(shape: np.ndarray, num_samples: int) -> np.ndarray:
    """Scale a one-sided spectral shape so that ``irfft(sqrt(shape) * Z)`` has unit variance."""
    total = 2.0 * shape[..., 1:].sum(axis=-1, keepdims=True) / num_samples**2
    return shape / np.maximum(total, 1e-30)


def _gauss(x: np.ndarray, centre: float | np.ndarray, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - centre) / width) ** 2)


def _band_shapes(labels: np.ndarray, traits: SubjectTraits, freqs: np.ndarray, num_samples: int) -> np.ndarray:
    """Unit-variance spectral shapes (band, epoch or 1, freq) of the stationary components."""
    f = np.maximum(freqs, freqs[1])
    highpass = 1.0 / (1.0 + (0.3 / f) ** 4)  # no power below ~0.3 Hz
    lowpass = 1.0 / (1.0 + (f / 40.0) ** 8)
    alpha_centre = np.where(labels == W, traits.alpha_hz, traits.alpha_hz - 1.0)[:, None]
    shapes = [
        highpass * lowpass / f,
        highpass * lowpass / f**2,
        highpass * _gauss(f, 1.0, 0.5),
        _gauss(f, 5.5, 1.0),
        _gauss(f, alpha_centre, 0.5),
        _gauss(f, 21.0, 5.0),
    ]
    out = np.zeros((len(shapes), len(labels), len(freqs)))
    for i, shape in enumerate(shapes):
        out[i] = _unit_power(np.broadcast_to(shape, (len(labels), len(freqs))), num_samples)
    out[:, :, 0] = 0.0
    return out


def _events(
    labels: np.ndarray, traits: SubjectTraits, rng: np.random.Generator, fs: float, num_samples: int
) -> np.ndarray:
    """Transient waveforms in microvolts, one row per kind in ``_EVENT_NAMES``, flattened over the night."""
    num_epochs = len(labels)
    out = np.zeros((len(_EVENT_NAMES), num_epochs * num_samples))

    def place(rate: np.ndarray, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        """Start samples (in the flattened night) of this kind's events, and the time axis of one event."""
        length = min(int(round(seconds * fs)), num_samples)
        counts = rng.poisson(rate[labels])
        epochs = np.repeat(np.arange(num_epochs), counts)
        starts = epochs * num_samples + rng.integers(0, num_samples - length + 1, size=len(epochs))
        return starts, np.arange(length) / fs

    def add(row: int, starts: np.ndarray, waves: np.ndarray) -> None:
        index = starts[:, None] + np.arange(waves.shape[1])
        out[row] += np.bincount(index.ravel(), weights=waves.ravel(), minlength=out.shape[1])

    # Spindles: waxing-waning 11-16 Hz bursts of 0.5-2 s (some follow a K-complex).
    kc_starts, t_kc = place(_EVENT_RATE["kcomplex"], 1.5)
    sp_starts, t_sp = place(_EVENT_RATE["spindle"], 2.0)
    follows = kc_starts[rng.random(len(kc_starts)) < 0.4] + int(0.9 * fs)
    follows = follows[(follows % num_samples) <= num_samples - len(t_sp)]
    sp_starts = np.concatenate([sp_starts, follows])
    n = len(sp_starts)
    duration = rng.uniform(0.5, 2.0, size=(n, 1))
    freq = np.clip(traits.spindle_hz + rng.normal(0.0, 0.5, size=(n, 1)), 11.0, 16.0)
    envelope = np.where(t_sp < duration, np.sin(np.pi * t_sp / duration) ** 2, 0.0)
    carrier = np.sin(2 * np.pi * freq * t_sp + rng.uniform(0, 2 * np.pi, size=(n, 1)))
    add(0, sp_starts, rng.uniform(20.0, 50.0, size=(n, 1)) * envelope * carrier)

    # K-complexes: a sharp negative wave then a slower positive one, 100-200 uV peak to peak.
    n = len(kc_starts)
    neg = rng.uniform(50.0, 100.0, size=(n, 1)) * _gauss(t_kc, 0.35, 0.09)
    pos = rng.uniform(35.0, 70.0, size=(n, 1)) * _gauss(t_kc, 0.85, 0.2)
    add(1, kc_starts, pos - neg)

    # Vertex sharp waves: < 0.5 s, 50-150 uV.
    starts, t = place(_EVENT_RATE["vertex"], 0.6)
    amp = rng.uniform(30.0, 70.0, size=(len(starts), 1))
    add(2, starts, amp * (0.3 * _gauss(t, 0.35, 0.07) - _gauss(t, 0.2, 0.05)))

    # Sawtooth waves: 2-6 Hz trains of slow-rise, fast-fall waves, 1-3 s.
    starts, t = place(_EVENT_RATE["sawtooth"], 3.0)
    n = len(starts)
    duration = rng.uniform(1.0, 3.0, size=(n, 1))
    phase = (rng.uniform(2.0, 6.0, size=(n, 1)) * t + rng.random((n, 1))) % 1.0
    wave = np.where(phase < 0.75, phase / 0.75, (1.0 - phase) / 0.25) * 2.0 - 1.0
    envelope = np.where(t < duration, np.sqrt(np.abs(np.sin(np.pi * t / duration))), 0.0)
    add(3, starts, rng.uniform(15.0, 35.0, size=(n, 1)) * envelope * wave)
    return out


def simulate_eeg(
    labels: np.ndarray,
    traits: SubjectTraits,
    rng: np.random.Generator,
    channels: tuple[str, ...],
    sample_rate: float,
    epoch_seconds: float,
) -> np.ndarray:
    """EEG of one night in volts, shape (epochs, channels, samples), float64."""
    num_epochs = len(labels)
    num_samples = int(round(sample_rate * epoch_seconds))
    freqs = np.fft.rfftfreq(num_samples, d=1.0 / sample_rate)
    shapes = _band_shapes(labels, traits, freqs, num_samples)  # (band, epoch, freq)
    # Epoch-to-epoch variation of every band (N3 depth, alpha drop-out, ...).
    band_uv = _BAND_UV[labels] * rng.lognormal(0.0, 0.3, size=(num_epochs, _BAND_UV.shape[1]))
    band_uv *= traits.eeg_scale
    events = _events(labels, traits, rng, sample_rate, num_samples) * traits.eeg_scale

    def complex_noise() -> np.ndarray:
        shape = (num_epochs, len(freqs))
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)

    # Electrode noise is white and independent per channel; the background is partly shared.
    noise_psd = traits.eeg_noise_uv**2 * _unit_power(np.ones(len(freqs)), num_samples)
    noise_psd[0] = 0.0
    shared = complex_noise()
    rho = _CHANNEL_CORRELATION if len(channels) > 1 else 1.0
    t = np.arange(num_epochs * num_samples).reshape(num_epochs, num_samples) / sample_rate
    line_uv = 0.5 if traits.line_hz < sample_rate / 2 else 0.0  # mains pick-up, when below Nyquist
    line = line_uv * np.sin(2 * np.pi * traits.line_hz * t)
    out = np.empty((num_epochs, len(channels), num_samples))
    for c, name in enumerate(channels):
        weights = _REGION_WEIGHTS[channel_region(name)]
        band_w = np.array([weights.get(b, 1.0) for b in _BAND_NAMES])
        psd = np.einsum("eb,bef->ef", (band_uv * band_w) ** 2, shapes)
        if rho < 1.0:
            spectrum = np.sqrt(rho * psd) * shared + np.sqrt((1 - rho) * psd + noise_psd) * complex_noise()
        else:
            spectrum = np.sqrt(psd + noise_psd) * shared
        background = np.fft.irfft(spectrum, n=num_samples, axis=-1)
        event_w = np.array([weights.get(e, 1.0) for e in _EVENT_NAMES])
        transients = (event_w @ events).reshape(num_epochs, num_samples)
        out[:, c] = (background + transients + line) * UV
    return out


# -- video ------------------------------------------------------------------------------------------
# Per stage (W, N1, N2, N3, REM): breathing rate (breaths/min), its irregularity (relative SD of a
# slow drift), depth (relative), depth irregularity (log SD, breath to breath), gross body
# movements per epoch, and small local twitches per epoch at the head and at the limbs.
_BREATH_BPM = np.array([16.0, 15.0, 14.0, 12.5, 17.5])
_BREATH_RATE_IRREGULARITY = np.array([0.25, 0.12, 0.05, 0.03, 0.25])
_BREATH_DEPTH = np.array([0.8, 0.6, 0.85, 1.3, 0.45])
_BREATH_DEPTH_IRREGULARITY = np.array([0.4, 0.2, 0.08, 0.05, 0.35])
_MOVEMENTS_PER_EPOCH = np.array([1.2, 0.5, 0.04, 0.005, 0.01])
_HEAD_TWITCHES_PER_EPOCH = np.array([1.0, 0.3, 0.05, 0.02, 2.5])
_LIMB_TWITCHES_PER_EPOCH = np.array([0.5, 0.2, 0.05, 0.02, 4.0])
_CHEST_GRAY = 28.0  # chest brightness swing of a full-depth breath, gray levels
_SIGH_PER_W_EPOCH = 0.15


@dataclass(frozen=True)
class _Scene:
    """Static images of one subject on a canvas larger than the frame (room to move)."""

    body: np.ndarray  # (Hc, Wc) float32 gray levels: background, bed and body
    chest: np.ndarray  # (Hc, Wc) float32 in [0, 1]: where breathing shows
    twitch_sites: np.ndarray  # (K, Hc, Wc) float32 in [0, 1]: head, hands, feet
    margin: int


def _soft_ellipse(y: np.ndarray, x: np.ndarray, cy: float, cx: float, ry: float, rx: float, blur: float) -> np.ndarray:
    r = np.sqrt(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2)
    return 1.0 / (1.0 + np.exp((r - 1.0) / blur))


def _scene(traits: SubjectTraits, rng: np.random.Generator, size: int) -> _Scene:
    margin = max(2, int(round(0.15 * size)))
    full = size + 2 * margin
    yy, xx = np.mgrid[0:full, 0:full].astype(np.float64)
    centre = full / 2.0
    cy, cx = centre + traits.camera_offset[0] * size, centre + traits.camera_offset[1] * size
    # Body coordinates: v along the body (head up), u across, rotated by the lying angle.
    ang, s = traits.body_angle_rad, traits.body_scale * size
    v = (yy - cy) * np.cos(ang) + (xx - cx) * np.sin(ang)
    u = -(yy - cy) * np.sin(ang) + (xx - cx) * np.cos(ang)
    bed = _soft_ellipse(v, u, 0.0, 0.0, 0.62 * s, 0.36 * s, 0.04)
    folds = np.zeros_like(yy)  # blanket folds: a few faint plane waves
    for _ in range(4):
        ky, kx = rng.uniform(-3, 3, size=2) / full
        folds += rng.uniform(2.0, 5.0) * np.sin(2 * np.pi * (ky * yy + kx * xx) + rng.uniform(0, 2 * np.pi))
    torso = _soft_ellipse(v, u, -0.05 * s, 0.0, 0.26 * s, 0.16 * s, 0.08)
    head = _soft_ellipse(v, u, -0.4 * s, 0.0, 0.1 * s, 0.085 * s, 0.1)
    legs = _soft_ellipse(v, u, 0.38 * s, 0.0, 0.22 * s, 0.12 * s, 0.1)
    figure = np.maximum.reduce([torso, head, 0.9 * legs])
    room, bed_gray = 60.0, 105.0
    body = room + (bed_gray - room) * bed + folds * bed + (traits.brightness - bed_gray) * figure
    chest = _gauss(v, -0.12 * s, 0.1 * s) * _gauss(u, 0.0, 0.11 * s) * torso
    sites = [(-0.42, 0.0), (0.05, -0.2), (0.05, 0.2), (0.55, -0.06), (0.55, 0.06)]  # face, hands, feet
    twitch = np.stack([_gauss(v, a * s, 0.03 * s) * _gauss(u, b * s, 0.03 * s) for a, b in sites])
    return _Scene(body.astype(np.float32), chest.astype(np.float32), twitch.astype(np.float32), margin)


def _smooth_noise(rng: np.random.Generator, n: int, fps: float, cutoff_hz: float) -> np.ndarray:
    """Unit-SD Gaussian noise low-passed at ``cutoff_hz`` (a slowly wandering signal)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, d=1.0 / fps)
    x = np.fft.irfft(spectrum / (1.0 + (f / cutoff_hz) ** 2), n=n)
    return x / max(float(x.std()), 1e-12)


def _event_starts(rng: np.random.Generator, per_epoch: np.ndarray, epoch_frames: float, n_grid: int) -> np.ndarray:
    """Start frames (on the night's frame grid) of Poisson events with per-epoch expected counts."""
    epochs = np.repeat(np.arange(len(per_epoch)), rng.poisson(per_epoch))
    starts = ((epochs + rng.random(len(epochs))) * epoch_frames).astype(np.int64)
    return np.minimum(starts, n_grid - 1)


def render_video(
    labels: np.ndarray,
    traits: SubjectTraits,
    rng: np.random.Generator,
    *,
    frames: int,
    frame_size: int,
    fps: float,
    epoch_seconds: float,
) -> np.ndarray:
    """Grayscale clips of one night, uint8 (epochs, frames, size, size).

    The night's motion (breathing, movements, twitches) is simulated on the full ``fps`` grid;
    only the ``frames`` frames spread uniformly over each epoch are drawn.
    """
    num_epochs = len(labels)
    epoch_frames = epoch_seconds * fps  # frames of the night video per epoch
    n_grid = int(np.ceil(num_epochs * epoch_frames))
    stage = labels[np.minimum((np.arange(n_grid) / epoch_frames).astype(np.int64), num_epochs - 1)]
    scene = _scene(traits, rng, frame_size)
    m = scene.margin

    # Breathing: a wandering rate integrated into a phase, times a wandering depth.
    smooth = np.ones(max(1, int(round(8.0 * fps)))) / max(1, int(round(8.0 * fps)))
    rate_hz = np.convolve(_BREATH_BPM[stage], smooth, mode="same") / 60.0 * traits.breath_rate_scale
    rate_hz *= 1.0 + _BREATH_RATE_IRREGULARITY[stage] * _smooth_noise(rng, n_grid, fps, 0.05)
    phase = np.cumsum(np.maximum(rate_hz, 0.05)) / fps + rng.random()
    depth = np.convolve(_BREATH_DEPTH[stage], smooth, mode="same") * traits.breath_depth_scale
    depth *= np.exp(_BREATH_DEPTH_IRREGULARITY[stage] * _smooth_noise(rng, n_grid, fps, 0.25))
    sighs = _event_starts(rng, _SIGH_PER_W_EPOCH * (labels == W), epoch_frames, n_grid)
    for start in sighs:  # a deep breath of ~4 s
        depth[start : start + int(4 * fps)] *= 2.0
    breath = _CHEST_GRAY * depth * (np.sin(2 * np.pi * phase) + 0.3 * np.sin(4 * np.pi * phase + 1.0))

    # Gross movements (a few seconds of displacement), some ending in a new posture; more of them
    # at stage changes, especially into and out of REM.
    offset = np.zeros((n_grid, 2))
    posture = np.zeros(2)
    starts = _event_starts(rng, _MOVEMENTS_PER_EPOCH[labels], epoch_frames, n_grid)
    change = np.flatnonzero(np.diff(labels)) + 1
    near_rem = (labels[change] == REM) | (labels[change - 1] == REM)
    keep = rng.random(len(change)) < np.where(near_rem, 0.5, 0.2)
    extra = ((change[keep] - rng.random(keep.sum()) * 0.5) * epoch_frames).astype(np.int64)
    for start in np.sort(np.concatenate([starts, extra])):
        length = max(1, int(rng.uniform(2.0, 6.0) * fps))
        u = np.arange(min(length, n_grid - start)) / length
        direction = rng.normal(size=2)
        size = rng.uniform(0.06, 0.15) * frame_size
        offset[start : start + len(u)] += np.sin(np.pi * u)[:, None] * direction / np.linalg.norm(direction) * size
        offset[start : start + len(u)] += rng.normal(0.0, 0.01 * frame_size, size=(len(u), 2))
        if rng.random() < 0.4:
            posture = np.clip(posture + rng.normal(0.0, 0.02 * frame_size, 2), -m / 2, m / 2)
        offset[start + len(u) :] = posture
    shift = np.clip(np.rint(offset), -m, m).astype(np.int64) + m

    # Twitches: brief local brightness changes at the face (site 0) and the limbs (sites 1..).
    n_sites = len(scene.twitch_sites)
    twitch = np.zeros((n_grid, n_sites), dtype=np.float32)
    head = _event_starts(rng, _HEAD_TWITCHES_PER_EPOCH[labels], epoch_frames, n_grid)
    limbs = _event_starts(rng, _LIMB_TWITCHES_PER_EPOCH[labels], epoch_frames, n_grid)
    sites = np.concatenate([np.zeros(len(head), dtype=np.int64), rng.integers(1, n_sites, len(limbs))])
    for start, site in zip(np.concatenate([head, limbs]), sites):
        length = max(1, int(rng.uniform(0.4, 1.2) * fps))
        twitch[start : start + length, site] += rng.choice([-1.0, 1.0]) * rng.uniform(20.0, 45.0)

    # Camera: gain flicker and sensor noise.
    gain = (1.0 + 0.015 * rng.standard_normal(n_grid)).astype(np.float32)

    # Draw the sampled frames (centres of T equal slices of each epoch), one epoch at a time.
    sample = ((np.arange(frames) + 0.5) * epoch_frames / frames).astype(np.int64)
    first = np.round(np.arange(num_epochs) * epoch_frames).astype(np.int64)
    grid_index = np.minimum(first[:, None] + sample, n_grid - 1)
    body_windows = sliding_window_view(scene.body, (frame_size, frame_size))
    chest_windows = sliding_window_view(scene.chest, (frame_size, frame_size))
    twitch_windows = sliding_window_view(scene.twitch_sites, (frame_size, frame_size), axis=(1, 2))
    noise_width = int(round(traits.pixel_noise))
    video = np.empty((num_epochs, frames, frame_size, frame_size), dtype=np.uint8)
    buffer = np.empty((frames, frame_size, frame_size), dtype=np.float32)
    for e in range(num_epochs):
        g = grid_index[e]
        dy, dx = shift[g, 0], shift[g, 1]
        still = bool(np.all(dy == dy[0]) and np.all(dx == dx[0]))
        body = body_windows[dy[0], dx[0]] if still else body_windows[dy, dx]
        chest = chest_windows[dy[0], dx[0]] if still else chest_windows[dy, dx]
        np.multiply(breath[g].astype(np.float32)[:, None, None], chest, out=buffer)
        buffer += body
        moving = np.flatnonzero(np.any(twitch[g] != 0.0, axis=1))
        for k in moving:  # rare: only frames that catch a twitch
            buffer[k] += np.tensordot(twitch[g[k]], twitch_windows[:, dy[k], dx[k]], axes=1)
        buffer *= gain[g][:, None, None]
        buffer += rng.integers(-noise_width, noise_width + 1, size=buffer.shape, dtype=np.int8)
        np.clip(buffer, 0.0, 255.0, out=buffer)
        video[e] = buffer
    return video


# -- one night ---------------------------------------------------------------------------------------
def generate_night(
    subject: int,
    *,
    seed: int,
    num_epochs: int,
    channels: tuple[str, ...],
    sample_rate: float,
    epoch_seconds: float,
    frames: int,
    frame_size: int,
    video_fps: float,
) -> EpochArrays:
    """The night of ``subject``, fully determined by ``(seed, subject)`` and the shape arguments.

    Hypnogram, traits, EEG and video draw from separate streams, so changing the video size does
    not change the hypnogram or the EEG.
    """
    streams = np.random.SeedSequence([seed, subject]).spawn(4)
    hypno_rng, traits_rng, eeg_rng, video_rng = (np.random.default_rng(s) for s in streams)
    labels = simulate_hypnogram(num_epochs, hypno_rng)
    traits = SubjectTraits.draw(traits_rng)
    eeg = simulate_eeg(labels, traits, eeg_rng, channels, sample_rate, epoch_seconds)
    video = render_video(
        labels, traits, video_rng, frames=frames, frame_size=frame_size, fps=video_fps, epoch_seconds=epoch_seconds
    )
    return epoch_arrays(labels, eeg, video)


class SyntheticNights(PairedDataModule):
    """Seeded synthetic nights of ``num_subjects`` subjects, split subject-wise.

    Subjects are ids ``0..num_subjects-1``; each night is generated on first use and kept in memory
    (video as uint8: ``epochs x frames x frame_size^2`` bytes per night).

    Args:
        num_subjects: subjects (one night each).
        epochs_per_night: 30 s epochs per night (>= 100 guarantees all five stages in every night).
        val_subjects: validation subjects.
        test_subjects: test subjects (ignored when ``num_folds >= 2``).
        num_folds: 0 for one hold-out split, k >= 2 for k-fold cross-validation over subjects.
        fold: the test fold when ``num_folds >= 2``.
        eeg_channels: channel names; frontal sites get more slow waves, occipital more alpha,
            unknown names the central profile.
        sample_rate: EEG sampling rate in Hz.
        epoch_seconds: epoch length in seconds.
        frames: video frames per epoch (spread uniformly over it).
        frame_size: frame height and width in pixels.
        video_fps: frame rate of the underlying night video, in Hz.
        seed: seeds the nights, the split and the training shuffle.
        batch_size: items per batch.
        num_workers: dataloader workers.
    """

    def __init__(
        self,
        num_subjects: int = 10,
        epochs_per_night: int = 120,
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
        seed: int = 0,
        batch_size: int = 32,
        num_workers: int = 0,
    ) -> None:
        for name, value, low in (
            ("num_subjects", num_subjects, 1), ("epochs_per_night", epochs_per_night, 1), ("frames", frames, 1),
            ("frame_size", frame_size, 8), ("sample_rate", sample_rate, 1), ("seed", seed, 0),
        ):  # fmt: skip
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if epoch_seconds <= 0 or video_fps <= 0:
            raise ValueError(f"epoch_seconds and video_fps must be > 0, got {epoch_seconds} and {video_fps}")
        if len(eeg_channels) == 0:
            raise ValueError("eeg_channels must name at least one channel, e.g. ('C4-M1',)")
        split = subject_split(
            range(num_subjects), val=val_subjects, test=test_subjects, seed=seed, num_folds=num_folds, fold=fold
        )
        super().__init__(
            split=split,
            eeg_shape=(len(eeg_channels), int(round(sample_rate * epoch_seconds))),
            video_shape=(1, frames, frame_size, frame_size),
            eeg_sample_rate=float(sample_rate),
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
            class_names=STAGES,
        )
        self.save_hyperparameters()
        self.epochs_per_night = epochs_per_night
        self._night_args = dict(
            seed=seed,
            num_epochs=epochs_per_night,
            channels=tuple(eeg_channels),
            sample_rate=float(sample_rate),
            epoch_seconds=float(epoch_seconds),
            frames=frames,
            frame_size=frame_size,
            video_fps=float(video_fps),
        )
        self._nights: dict[int, EpochArrays] = {}

    @property
    def num_train_samples(self) -> int:
        return len(self.split.train) * self.epochs_per_night

    def night(self, subject: int) -> EpochArrays:
        """The night of one subject (generated on first use, then cached)."""
        if subject not in self._nights:
            if subject not in self.split.subjects:
                raise KeyError(f"no subject {subject}: this datamodule has subjects {list(self.split.subjects)}")
            self._nights[subject] = generate_night(subject, **self._night_args)
        return self._nights[subject]

    def make_dataset(self, subjects: tuple[int, ...]) -> Dataset:
        return EpochDataset([(s, self.night(s)) for s in subjects])
