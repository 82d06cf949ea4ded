"""The synthetic IR video: deterministic frames, and the stage cues it claims, measured from pixels."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from datamodules.generator.video import (
    MOVEMENT,
    POSTURE_SHIFT,
    TWITCH,
    VideoRenderer,
    draw_video_traits,
    render_night_video,
    simulate_motion,
)

W, N1, N2, N3, REM = range(5)
FPS = 5.0
EPOCH_FRAMES = int(30 * FPS)


def _traits(seed: int = 0, **changes: float):
    return dataclasses.replace(draw_video_traits(np.random.default_rng(seed), age=40.0), **changes)


def _night(labels: list[int], size: int = 32, seed: int = 0, **motion_args: float):
    traits = _traits(seed)
    motion = simulate_motion(np.array(labels), traits, np.random.default_rng(seed), fps=FPS, **motion_args)
    return VideoRenderer(traits, motion, size=(size, size), seed=seed), motion


def _chest_signal(renderer: VideoRenderer, indices: np.ndarray) -> np.ndarray:
    """Chest-region mean brightness over the frame's mean (cancels gain and flicker)."""
    frames = renderer(indices).astype(np.float64)
    roi = renderer.chest_weights(int(indices[len(indices) // 2]))
    return np.tensordot(frames, roi, axes=2) / roi.sum() / frames.mean(axis=(1, 2))


def _peak_bpm(signal: np.ndarray) -> tuple[float, float]:
    """Dominant breathing frequency (breaths/min) and the share of band power within 1 bpm of it."""
    x = (signal - signal.mean()) * np.hanning(len(signal))
    power = np.abs(np.fft.rfft(x, 1 << 14)) ** 2
    bpm = np.fft.rfftfreq(1 << 14, d=1.0 / FPS) * 60.0
    band = (bpm >= 6.0) & (bpm <= 40.0)
    peak = float(bpm[band][np.argmax(power[band])])
    return peak, float(power[band & (np.abs(bpm - peak) <= 1.0)].sum() / power[band].sum())


def test_shapes_dtype_and_range() -> None:
    renderer, motion = render_night_video(np.array([W, N2, REM]), _traits(), np.random.default_rng(0),
                                          fps=FPS, size=(24, 40), seed=0)  # fmt: skip
    frames = renderer(np.array([0, 10, motion.num_frames - 1]))
    assert motion.num_frames == 3 * EPOCH_FRAMES
    assert frames.shape == (3, 24, 40) and frames.dtype == np.uint8
    assert 20.0 < frames.mean() < 235.0 and frames.std() > 10.0  # a scene, not a flat or clipped image
    assert len(motion.breath_rate_bpm) == 3
    with pytest.raises(IndexError):
        renderer(np.array([motion.num_frames]))


def test_frames_are_deterministic_regardless_of_batch() -> None:
    renderer, motion = _night([W, N1, N2, REM], seed=3)
    alone = {i: renderer(np.array([i]))[0] for i in (0, 7, 301, 599)}
    batch = renderer(np.array([599, 5, 301, 0, 7, 301]))
    for k, i in enumerate([599, 5, 301, 0, 7, 301]):
        if i in alone:
            np.testing.assert_array_equal(batch[k], alone[i])
    again, _ = _night([W, N1, N2, REM], seed=3)  # a fresh renderer from the same seeds
    np.testing.assert_array_equal(again(np.array([7, 301])), batch[[4, 2]])
    # Sensor noise differs between neighbouring frames of a still scene.
    assert not np.array_equal(renderer(np.array([100]))[0], renderer(np.array([101]))[0])


def test_different_subjects_look_different() -> None:
    frames = [_night([N2], seed=s)[0](np.array([0]))[0].astype(float) for s in range(4)]
    for a in range(4):
        for b in range(a + 1, 4):
            assert np.abs(frames[a] - frames[b]).mean() > 8.0  # gray levels; sensor noise alone is ~3


def test_breathing_rate_recovered_from_still_n3() -> None:
    traits = _traits(5, movement_propensity=0.0)
    motion = simulate_motion(np.array([N3] * 6), traits, np.random.default_rng(5), fps=FPS)
    renderer = VideoRenderer(traits, motion, size=(32, 32), seed=5)
    indices = np.arange(EPOCH_FRAMES, 5 * EPOCH_FRAMES)  # 2 minutes after the first epoch
    estimated, _ = _peak_bpm(_chest_signal(renderer, indices))
    generated = float(np.mean(motion.breath_rate_bpm[1:5]))
    print(f"N3 breathing: generated {generated:.2f} breaths/min, recovered {estimated:.2f}")
    assert 11.0 <= generated <= 21.0
    assert abs(estimated - generated) < 1.0


def test_n3_breathing_deeper_and_more_regular_than_rem() -> None:
    traits = _traits(2, movement_propensity=0.0)
    labels = np.array([N3] * 9 + [REM] * 9)
    motion = simulate_motion(labels, traits, np.random.default_rng(2), fps=FPS)
    renderer = VideoRenderer(traits, motion, size=(32, 32), seed=2)
    amplitude, concentration, interval_cv = {}, {}, {}
    for stage, first in ((N3, 1), (REM, 10)):
        indices = np.arange(first * EPOCH_FRAMES, (first + 8) * EPOCH_FRAMES)  # 4 minutes
        signal = _chest_signal(renderer, indices)
        amplitude[stage] = np.mean([signal[k : k + 150].std() for k in range(0, len(signal), 150)])
        _, concentration[stage] = _peak_bpm(signal)
        breaths = np.diff(np.flatnonzero(np.diff(np.floor(motion.breath_phase[indices])) > 0))
        interval_cv[stage] = breaths.std() / breaths.mean()
    print(f"amplitude N3 {amplitude[N3]:.4f} REM {amplitude[REM]:.4f}; peak power share N3 {concentration[N3]:.2f} "
          f"REM {concentration[REM]:.2f}; breath interval CV N3 {interval_cv[N3]:.3f} REM {interval_cv[REM]:.3f}")
    assert amplitude[N3] > 1.8 * amplitude[REM]
    assert concentration[N3] > concentration[REM] + 0.1
    assert interval_cv[N3] < 0.5 * interval_cv[REM]
    assert np.mean(motion.breath_rate_bpm[1:9]) < np.mean(motion.breath_rate_bpm[10:18])  # REM faster


def test_movements_frequent_in_wake_rare_in_n3_absent_in_rem() -> None:
    labels = np.array([W] * 60 + [N3] * 60 + [REM] * 60)
    counts = np.zeros(5)
    for seed in range(3):
        traits = _traits(seed)
        motion = simulate_motion(labels, traits, np.random.default_rng(seed), fps=FPS)
        gross = np.isin(motion.movement_kind, (MOVEMENT, POSTURE_SHIFT))
        onsets = np.round(motion.movement_onset_seconds[gross] * FPS).astype(np.int64)
        ends = onsets + np.round(motion.movement_duration_seconds[gross] * FPS).astype(np.int64)
        counts += np.bincount(motion.stage[onsets], minlength=5)
        rem = motion.stage == REM
        assert np.ptp(motion.body_offset_fraction[rem], axis=0).max() == 0.0  # atonia: no displacement
        assert len(np.unique(motion.posture[rem])) == 1
        assert not any(rem[s:e].any() for s, e in zip(onsets, ends))
        twitches = motion.movement_onset_seconds[motion.movement_kind == TWITCH] * FPS
        assert (motion.stage[twitches.astype(np.int64)] == REM).sum() > 100  # REM keeps its twitches
    print(f"gross movements per 30 min over 3 nights: W {counts[W]:.0f}, N3 {counts[N3]:.0f}, REM {counts[REM]:.0f}")
    assert counts[W] > 3 * max(counts[N3], 1.0)
    assert counts[REM] == 0


def test_posture_shift_leaves_body_displaced() -> None:
    labels = [N2] * 12 + [REM] * 6 + [N2] * 12
    for seed in range(20):
        renderer, motion = _night(labels, size=32, seed=seed)
        shifts = np.flatnonzero(motion.movement_kind == POSTURE_SHIFT)
        if len(shifts):
            break
    else:
        pytest.fail("no posture shift around a REM period in 20 nights")
    onset = int(motion.movement_onset_seconds[shifts[0]] * FPS)
    end = onset + int(motion.movement_duration_seconds[shifts[0]] * FPS)
    before = np.arange(onset - 100, onset - 50)
    earlier = np.arange(onset - 200, onset - 150)
    after = np.arange(end + 50, end + 100)
    assert earlier[0] >= 0 and after[-1] < motion.num_frames
    still = np.abs(renderer(earlier).mean(0) - renderer(before).mean(0).astype(float)).mean()
    moved = np.abs(renderer(after).mean(0) - renderer(before).mean(0).astype(float)).mean()
    print(f"mean frame change: still {still:.2f}, across the posture shift {moved:.2f} gray levels")
    assert moved > 4.0 * still
    offset_change = motion.body_offset_fraction[after[0]] - motion.body_offset_fraction[before[-1]]
    assert np.abs(offset_change).max() > 0.02 or motion.posture[after[0]] != motion.posture[before[-1]]


def test_dropped_and_duplicated_frames_repeat_the_previous_frame() -> None:
    renderer, motion = _night([N2] * 8, dropped_frames_per_hour=600.0, duplicated_frames_per_hour=300.0)
    assert len(motion.dropped_frames) > 0 and len(motion.duplicated_frames) > 0
    for i in np.concatenate([motion.dropped_frames, motion.duplicated_frames])[:20]:
        frames = renderer(np.array([i - 1, i]))
        np.testing.assert_array_equal(frames[0], frames[1])
    normal = np.setdiff1d(np.arange(1, 200), np.concatenate([motion.dropped_frames, motion.duplicated_frames]))
    assert not np.array_equal(renderer(normal[:1])[0], renderer(normal[:1] - 1)[0])


def test_gain_changes_alter_global_brightness() -> None:
    renderer, motion = _night([N2] * 8, seed=1, gain_steps_per_hour=60.0)
    steps = np.round(motion.gain_step_seconds * FPS).astype(np.int64)
    steps = steps[(steps > 20) & (steps < motion.num_frames - 20)]
    assert len(steps) > 0
    s = int(steps[0])
    before = renderer(np.arange(s - 15, s - 5)).astype(float).mean()
    after = renderer(np.arange(s + 5, s + 15)).astype(float).mean()
    expected = motion.gain[s + 10] / motion.gain[s - 10]
    print(f"gain step {expected:.3f}: brightness ratio {after / before:.3f}")
    assert abs(expected - 1.0) > 0.05
    assert abs(after / before - expected) < 0.03


def test_small_frames_are_cheap() -> None:
    renderer, motion = _night([W, N2, N3, REM] * 5, size=32)
    indices = np.arange(motion.num_frames)
    start = time.perf_counter()
    renderer(indices)
    elapsed = time.perf_counter() - start
    print(f"32x32: {len(indices) / elapsed:,.0f} frames/s on one core")
