"""What the bedside camera films over a night: subject traits and every per-frame time series.

Everything that changes over time (breathing, body movements, posture, twitches, camera gain,
illuminator flicker, dropped and duplicated frames) is simulated once per night on the video's frame
grid, as cheap O(frames) arrays. The renderer (``video_scene``) only looks values up by frame index,
so any subset of frames can be drawn in any order.

Stage tables follow ``docs/physiology.md`` ("IR video by stage"); stage cues (breathing depth and
regularity, movement rates, REM atonia with twitches) are deliberately larger than the spread between
subjects, so a video model can generalise across subjects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

W, N1, N2, N3, REM = range(5)

# Movement kinds in the ground truth.
MOVEMENT, POSTURE_SHIFT, TWITCH = range(3)
KIND_NAMES: tuple[str, ...] = ("movement", "posture_shift", "twitch")
# Local deformations the renderer draws as sprites, in this order (weights in NightMotion.site_weights).
SITES: tuple[str, ...] = (
    "eyelids", "left_hand", "right_hand", "left_foot", "right_foot",  # twitch sites
    "eyes_open", "head_turn", "left_arm", "right_arm", "legs",  # parts of gross movements and wake
)  # fmt: skip
POSTURES: tuple[str, ...] = ("supine", "left_side", "right_side")

# Per stage (W, N1, N2, N3, REM).
_RATE_FACTOR = np.array([1.08, 1.04, 1.0, 0.9, 1.12])  # breathing rate relative to the resting rate
_RATE_IRREGULARITY = np.array([0.16, 0.08, 0.035, 0.015, 0.16])  # relative SD of the slow rate drift
_DEPTH = np.array([0.75, 0.7, 0.9, 1.3, 0.45])  # tidal depth, relative
_DEPTH_IRREGULARITY = np.array([0.35, 0.2, 0.08, 0.04, 0.4])  # log SD of breath-to-breath depth
_MOVEMENTS_PER_EPOCH = np.array([0.8, 0.35, 0.08, 0.004, 0.0])  # gross movements (none in REM: atonia)
_TRANSITION_MOVEMENT_PROBABILITY = 0.4  # a gross movement at a stage change (outside REM)
_POSTURE_SHIFTS_PER_EPOCH = np.array([0.06, 0.06, 0.04, 0.0, 0.0])  # besides those at REM boundaries
_POSTURE_SHIFT_AT_REM_BOUNDARY = 0.7  # probability of a posture shift just before/after a REM period
_POSTURE_REFRACTORY_SECONDS = 480.0  # no two posture shifts closer than this
_FACE_TWITCHES_PER_EPOCH = np.array([0.3, 0.2, 0.03, 0.01, 2.0])
_LIMB_TWITCHES_PER_EPOCH = np.array([0.3, 0.15, 0.03, 0.01, 3.0])
_SIGHS_PER_W_EPOCH = 0.15
_SPEECH_PER_W_EPOCH = 0.1
_EYES_OPEN_PER_W_BOUT = 0.4
_RATE_LIMITS_BPM = (11.0, 21.0)
_INSPIRATION_FRACTION = 0.4  # share of a breath cycle spent breathing in


@dataclass(frozen=True)
class VideoTraits:
    """What makes one subject's video differ from another's (fixed for the night).

    Geometry is in fractions of the frame (so it holds at any frame size); gray levels are 8-bit.
    """

    camera_offset_fraction: tuple[float, float]  # (y, x) of the bed centre from the frame centre
    camera_rotation_rad: float
    camera_zoom: float  # > 1: the bed fills more of the frame
    initial_posture: int  # index into POSTURES
    body_length_scale: float
    body_width_scale: float
    body_gray_levels: float  # skin (face, hands, arms)
    blanket_gray_levels: float
    bed_gray_levels: float
    pillow_gray_levels: float
    room_gray_levels: float
    illuminator_strength: float  # multiplies the whole scene
    vignetting: float  # relative darkening at the frame corners
    illuminator_flicker: float  # relative SD of frame-to-frame illuminator output
    sensor_noise_gray_levels: float  # SD of the temporal sensor noise
    breath_rate_at_rest_bpm: float  # breaths/min in quiet N2 sleep; other stages scale it
    breath_depth_scale: float
    movement_propensity: float  # multiplies every movement rate


def draw_video_traits(rng: np.random.Generator, age: float) -> VideoTraits:
    """Random traits of one subject; older subjects move a little more and breathe a little faster."""
    older = float(np.clip((age - 40.0) / 40.0, -0.5, 1.0))
    return VideoTraits(
        camera_offset_fraction=(float(rng.uniform(-0.06, 0.06)), float(rng.uniform(-0.06, 0.06))),
        camera_rotation_rad=float(rng.uniform(-0.2, 0.2)),
        camera_zoom=float(rng.uniform(0.78, 0.95)),
        initial_posture=int(rng.integers(len(POSTURES))),
        body_length_scale=float(rng.uniform(0.9, 1.08)),
        body_width_scale=float(rng.uniform(0.85, 1.2)),
        body_gray_levels=float(rng.uniform(120.0, 200.0)),
        blanket_gray_levels=float(rng.uniform(95.0, 185.0)),
        bed_gray_levels=float(rng.uniform(70.0, 120.0)),
        pillow_gray_levels=float(rng.uniform(130.0, 210.0)),
        room_gray_levels=float(rng.uniform(20.0, 60.0)),
        illuminator_strength=float(rng.uniform(0.85, 1.15)),
        vignetting=float(rng.uniform(0.1, 0.35)),
        illuminator_flicker=float(rng.uniform(0.002, 0.006)),
        sensor_noise_gray_levels=float(rng.uniform(2.0, 4.0)),
        breath_rate_at_rest_bpm=float(np.clip(rng.uniform(12.5, 17.5) + 1.0 * older, 12.0, 20.0)),
        breath_depth_scale=float(rng.uniform(0.85, 1.15)),
        movement_propensity=float(rng.lognormal(0.0, 0.2) * (1.0 + 0.3 * older)),
    )


@dataclass
class NightMotion:
    """Per-frame time series of one night on the video frame grid, plus the ground truth.

    Arrays indexed by frame describe the scene at that frame's own time; ``source_index`` says which
    frame's scene (and sensor noise) the recorded frame actually shows, which is how dropped frames
    (a repeat of the previous frame) and duplicated frames (a repeat, then one frame late until the
    stream catches up by skipping one) appear.
    """

    fps: float
    epoch_seconds: float
    num_frames: int
    stage: np.ndarray  # (frames,) int8 stage shown at each frame (after the clock offset)
    breath_phase: np.ndarray  # (frames,) float64 breathing phase in cycles
    breath_depth: np.ndarray  # (frames,) float32 tidal depth of the current breath, relative
    breath: np.ndarray  # (frames,) float32 chest excursion: depth x waveform in [0, 1]
    body_offset_fraction: np.ndarray  # (frames, 2) float32 body displacement (y, x), fraction of the frame
    posture: np.ndarray  # (frames,) int8 index into POSTURES
    site_weights: np.ndarray  # (frames, len(SITES)) float32 strength of each local deformation
    gain: np.ndarray  # (frames,) float32 automatic gain control factor
    flicker: np.ndarray  # (frames,) float32 illuminator output factor
    source_index: np.ndarray  # (frames,) int64 frame whose scene is recorded at each frame
    breath_rate_bpm: np.ndarray  # (epochs,) mean breathing rate per epoch of the video clock
    movement_onset_seconds: np.ndarray  # (events,) float64
    movement_duration_seconds: np.ndarray  # (events,) float64
    movement_kind: np.ndarray  # (events,) int8 index into KIND_NAMES
    gain_step_seconds: np.ndarray  # (steps,) float64 times of automatic gain changes
    dropped_frames: np.ndarray  # (n,) int64 frames that repeat the previous one (lost frame)
    duplicated_frames: np.ndarray  # (n,) int64 frames that repeat the previous one (camera stutter)
    clock_offset_seconds: float  # video clock minus PSG clock

    def ground_truth(self) -> dict[str, np.ndarray]:
        """The validation events by name, for ``SyntheticNight.events``."""
        return {
            "breath_rate_bpm": self.breath_rate_bpm,
            "movement_onset_seconds": self.movement_onset_seconds,
            "movement_duration_seconds": self.movement_duration_seconds,
            "movement_kind": self.movement_kind,
            "gain_step_seconds": self.gain_step_seconds,
            "dropped_frames": self.dropped_frames,
            "duplicated_frames": self.duplicated_frames,
            "clock_offset_seconds": np.array([self.clock_offset_seconds]),
        }


def _smooth_noise(rng: np.random.Generator, n: int, fps: float, cutoff_hz: float) -> np.ndarray:
    """Unit-SD Gaussian noise low-passed at ``cutoff_hz``: a slowly wandering signal."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs_hz = np.fft.rfftfreq(n, d=1.0 / fps)
    x = np.fft.irfft(spectrum / (1.0 + (freqs_hz / cutoff_hz) ** 2), n=n)
    return x / max(float(x.std()), 1e-12)


def _box_smooth(x: np.ndarray, frames: int) -> np.ndarray:
    """Moving average over ``frames`` frames, edges held (keeps stage steps from being abrupt)."""
    if frames <= 1:
        return x.astype(np.float64)
    padded = np.pad(x.astype(np.float64), (frames // 2, frames - 1 - frames // 2), mode="edge")
    return np.convolve(padded, np.ones(frames) / frames, mode="valid")


def _poisson_frames(
    rng: np.random.Generator, per_epoch: np.ndarray, stage: np.ndarray, epoch_frames: float
) -> np.ndarray:
    """Frames where events start, given expected counts per epoch by stage (a Bernoulli per frame)."""
    return np.flatnonzero(rng.random(len(stage)) < per_epoch[stage] / epoch_frames)


def _breathing(
    stage: np.ndarray, traits: VideoTraits, rng: np.random.Generator, fps: float, epoch_frames: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Breathing phase (cycles), depth and chest excursion per frame."""
    n = len(stage)
    ramp = max(1, int(round(10.0 * fps)))  # stage changes shift breathing over ~10 s
    rate_bpm = _box_smooth(_RATE_FACTOR[stage], ramp) * traits.breath_rate_at_rest_bpm
    rate_bpm = np.clip(rate_bpm, *_RATE_LIMITS_BPM)
    rate_bpm *= 1.0 + _box_smooth(_RATE_IRREGULARITY[stage], ramp) * _smooth_noise(rng, n, fps, 0.08)
    # Wake: bursts of speech-like fast shallow breathing.
    speech = np.zeros(n)
    for start in _poisson_frames(rng, _SPEECH_PER_W_EPOCH * (np.arange(5) == W), stage, epoch_frames):
        speech[start : start + int(rng.uniform(3.0, 10.0) * fps)] = 1.0
    speech = _box_smooth(speech, max(1, int(fps)))
    rate_bpm *= 1.0 + 0.7 * speech
    phase = np.cumsum(np.maximum(rate_bpm, 4.0) / 60.0) / fps + rng.random()
    cycle = np.floor(phase).astype(np.int64)
    cycle -= cycle[0]
    per_cycle = rng.standard_normal(cycle[-1] + 2)
    depth = _box_smooth(_DEPTH[stage], ramp) * traits.breath_depth_scale
    depth *= np.exp(_box_smooth(_DEPTH_IRREGULARITY[stage], ramp) * per_cycle[cycle]) * (1.0 - 0.5 * speech)
    sigh_cycles = cycle[_poisson_frames(rng, _SIGHS_PER_W_EPOCH * (np.arange(5) == W), stage, epoch_frames)]
    sigh = np.ones(len(per_cycle))
    sigh[sigh_cycles] = 2.2
    depth *= sigh[cycle]
    # Waveform: rises over the inspiration, falls slower; zero at cycle boundaries (no jumps there).
    frac = phase - np.floor(phase)
    warped = np.where(frac < _INSPIRATION_FRACTION, 0.5 * frac / _INSPIRATION_FRACTION,
                      0.5 + 0.5 * (frac - _INSPIRATION_FRACTION) / (1.0 - _INSPIRATION_FRACTION))  # fmt: skip
    waveform = 0.5 * (1.0 - np.cos(2.0 * np.pi * warped))
    return phase, depth.astype(np.float32), (depth * waveform).astype(np.float32)


def _bump(length: int) -> np.ndarray:
    """A smooth 0 -> 1 -> 0 envelope over ``length`` frames."""
    return np.sin(np.pi * (np.arange(length) + 0.5) / length)


def simulate_motion(
    labels: np.ndarray,
    traits: VideoTraits,
    rng: np.random.Generator,
    *,
    fps: float,
    epoch_seconds: float = 30.0,
    clock_offset_seconds: float = 0.0,
    dropped_frames_per_hour: float = 30.0,
    duplicated_frames_per_hour: float = 10.0,
    gain_steps_per_hour: float = 3.0,
) -> NightMotion:
    """All per-frame time series of a night whose 30 s epochs have stages ``labels`` (0..4 = W..REM).

    ``clock_offset_seconds`` is the video clock minus the PSG clock: the frame at video time t shows
    the stage of PSG time t - offset. Camera defects happen at the given rates (events per hour).
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim != 1 or len(labels) == 0 or labels.min() < 0 or labels.max() > 4:
        raise ValueError(f"labels must be a non-empty 1-D array of stages 0..4, got shape {labels.shape}")
    if fps <= 0 or epoch_seconds <= 0:
        raise ValueError(f"fps and epoch_seconds must be > 0, got {fps} and {epoch_seconds}")
    epoch_frames = epoch_seconds * fps
    n = int(round(len(labels) * epoch_frames))
    time_seconds = np.arange(n) / fps
    psg_epoch = np.floor((time_seconds - clock_offset_seconds) / epoch_seconds).astype(np.int64)
    stage = labels[np.clip(psg_epoch, 0, len(labels) - 1)]
    phase, depth, breath = _breathing(stage, traits, rng, fps, epoch_frames)

    # Gross movements and posture shifts: never in REM (atonia). next_rem[i]: first REM frame >= i.
    is_rem = stage == REM
    next_rem = np.where(is_rem, np.arange(n), n)
    next_rem = np.minimum.accumulate(next_rem[::-1])[::-1]
    events: list[tuple[int, int, int]] = []  # (start frame, length in frames, kind)
    propensity = traits.movement_propensity
    starts = list(_poisson_frames(rng, _MOVEMENTS_PER_EPOCH * propensity, stage, epoch_frames))
    change = np.flatnonzero(np.diff(stage)) + 1
    for c in change[rng.random(len(change)) < min(1.0, _TRANSITION_MOVEMENT_PROBABILITY * propensity)]:
        before = stage[c] in (N3, REM)  # into N3 or REM: just before it; otherwise just after the change
        starts.append(int(c - rng.uniform(3.0, 10.0) * fps) if before else int(c + rng.uniform(0.0, 8.0) * fps))
    for s in starts:
        events.append((int(s), int(rng.uniform(2.0, 8.0) * fps) + 1, MOVEMENT))
    posture_starts = list(_poisson_frames(rng, _POSTURE_SHIFTS_PER_EPOCH * propensity, stage, epoch_frames))
    rem_on = np.flatnonzero(np.diff(is_rem.astype(np.int8)) == 1) + 1
    rem_off = np.flatnonzero(np.diff(is_rem.astype(np.int8)) == -1) + 1
    for b in rem_on[rng.random(len(rem_on)) < _POSTURE_SHIFT_AT_REM_BOUNDARY]:
        posture_starts.append(int(b - rng.uniform(10.0, 30.0) * fps))
    for e in rem_off[rng.random(len(rem_off)) < _POSTURE_SHIFT_AT_REM_BOUNDARY]:
        posture_starts.append(int(e + rng.uniform(0.0, 20.0) * fps))
    last_shift = -np.inf
    for s in sorted(posture_starts):
        if s - last_shift >= _POSTURE_REFRACTORY_SECONDS * fps:
            events.append((int(s), int(rng.uniform(3.0, 8.0) * fps) + 1, POSTURE_SHIFT))
            last_shift = s

    offset = np.zeros((n, 2))
    posture = np.full(n, traits.initial_posture, dtype=np.int8)
    sites = np.zeros((n, len(SITES)), dtype=np.float32)
    rest = np.zeros(2)
    kept: list[tuple[int, int, int]] = []
    busy_until = 0
    for s, length, kind in sorted(events):
        if s < busy_until or s < 0 or s >= n or is_rem[s]:
            continue
        length = min(length, next_rem[s] - s, n - s)
        if length < max(1, int(fps)):
            continue
        kept.append((s, length, kind))
        busy_until = s + length + int(fps)
        env = _bump(length)
        span = slice(s, s + length)
        wake = stage[s] == W
        size = rng.uniform(0.05, 0.12) if wake else rng.uniform(0.03, 0.07)
        direction = rng.normal(size=2)
        offset[span] += env[:, None] * size * direction / np.linalg.norm(direction)
        offset[span] += rng.normal(0.0, 0.004, size=(length, 2)) * env[:, None]
        parts = rng.random(4) < ((0.6, 0.5, 0.5, 0.2) if wake else (0.3, 0.3, 0.3, 0.5))
        for part, on in zip(("head_turn", "left_arm", "right_arm", "legs"), parts):
            if on:
                sites[span, SITES.index(part)] += env * rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0)
        if kind == POSTURE_SHIFT:
            new_rest = np.clip(rest + rng.uniform(0.025, 0.05) * rng.choice([-1.0, 1.0], size=2), -0.07, 0.07)
            blend = 0.5 - 0.5 * np.cos(np.pi * np.arange(length) / length)
            offset[span] += (new_rest - rest) * blend[:, None]
            offset[s + length :] += new_rest - rest
            rest = new_rest
            choices = [p for p in range(len(POSTURES)) if p != posture[s]]
            posture[s + length // 2 :] = rng.choice(choices)

    # Twitches: brief local changes at the face and the limbs (most in REM).
    twitches: list[tuple[int, int, int]] = []
    face = _poisson_frames(rng, _FACE_TWITCHES_PER_EPOCH, stage, epoch_frames)
    limbs = _poisson_frames(rng, _LIMB_TWITCHES_PER_EPOCH, stage, epoch_frames)
    where = np.concatenate([np.zeros(len(face), dtype=np.int64), rng.integers(1, 5, len(limbs))])
    for s, site in zip(np.concatenate([face, limbs]), where):
        length = min(max(1, int(round(rng.uniform(0.2, 1.0) * fps))), n - s)
        sites[s : s + length, site] += _bump(length) * rng.choice([-1.0, 1.0]) * rng.uniform(0.6, 1.0)
        twitches.append((int(s), length, TWITCH))

    # Wake: eyes open for part of some wake bouts, with blinks.
    w_on = np.flatnonzero(np.diff(np.r_[0, stage == W, 0].astype(np.int8)) == 1)
    w_off = np.flatnonzero(np.diff(np.r_[0, stage == W, 0].astype(np.int8)) == -1)
    for a, b in zip(w_on, w_off):
        if rng.random() < _EYES_OPEN_PER_W_BOUT:
            sites[a + (b - a) // 10 : b - (b - a) // 10, SITES.index("eyes_open")] = 1.0
    blinks = rng.random(n) < 1.0 / (4.0 * fps)
    sites[blinks, SITES.index("eyes_open")] = 0.0

    # Camera: automatic gain steps settling over ~0.3 s, illuminator flicker with rare dips.
    gain = np.ones(n)
    steps = np.flatnonzero(rng.random(n) < gain_steps_per_hour / (3600.0 * fps))
    level = 1.0
    settle = np.exp(-np.arange(n) / (0.3 * fps))
    for s in steps:
        new = float(np.clip(level * np.exp(rng.choice([-1.0, 1.0]) * rng.uniform(0.06, 0.15)), 0.75, 1.3))
        if abs(np.log(new / level)) < 0.05:
            new = level * (0.9 if level > 1.0 else 1.1)
        gain[s:] = new + (level - new) * settle[: n - s]
        level = new
    flicker = 1.0 + traits.illuminator_flicker * rng.standard_normal(n)
    for s in np.flatnonzero(rng.random(n) < 6.0 / (3600.0 * fps)):
        flicker[s : s + int(rng.integers(1, 4))] *= 1.0 - rng.uniform(0.03, 0.08)

    # Frame timing: duplicates run the stream one frame late until it skips one; drops repeat a frame.
    lag = np.zeros(n, dtype=np.int64)
    dups = np.flatnonzero(rng.random(n) < duplicated_frames_per_hour / (3600.0 * fps))
    dups = dups[dups > 0]
    for d in dups:
        lag[d : d + max(2, int(rng.uniform(1.0, 10.0) * fps))] += 1
    lag = np.minimum(lag, 1)
    source = np.arange(n, dtype=np.int64) - lag
    dups = np.flatnonzero(np.diff(lag) == 1) + 1
    drops = np.flatnonzero(rng.random(n) < dropped_frames_per_hour / (3600.0 * fps))
    drops = drops[drops > 0]
    keep = np.ones(n, dtype=bool)
    keep[drops] = False
    source = source[np.maximum.accumulate(np.where(keep, np.arange(n), 0))]

    num_epochs = int(np.ceil(n / epoch_frames))
    bounds = np.minimum(np.round(np.arange(num_epochs + 1) * epoch_frames).astype(np.int64), n - 1)
    seconds = np.diff(bounds) / fps
    rate = np.diff(phase[bounds]) / np.maximum(seconds, 1e-9) * 60.0
    all_events = sorted(kept + twitches)
    return NightMotion(
        fps=float(fps),
        epoch_seconds=float(epoch_seconds),
        num_frames=n,
        stage=stage.astype(np.int8),
        breath_phase=phase,
        breath_depth=depth,
        breath=breath,
        body_offset_fraction=offset.astype(np.float32),
        posture=posture,
        site_weights=sites,
        gain=gain.astype(np.float32),
        flicker=flicker.astype(np.float32),
        source_index=source,
        breath_rate_bpm=rate,
        movement_onset_seconds=np.array([e[0] for e in all_events], dtype=np.float64) / fps,
        movement_duration_seconds=np.array([e[1] for e in all_events], dtype=np.float64) / fps,
        movement_kind=np.array([e[2] for e in all_events], dtype=np.int8),
        gain_step_seconds=steps / fps,
        dropped_frames=np.flatnonzero(~keep),
        duplicated_frames=dups,
        clock_offset_seconds=float(clock_offset_seconds),
    )
