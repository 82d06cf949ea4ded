"""The infrared bedside video of a synthetic night.

``simulate_motion`` turns a hypnogram into per-frame time series once per night (breathing,
movements, posture, twitches, camera gain, flicker, dropped/duplicated frames) together with the
ground truth; ``VideoRenderer`` draws any frames of that night by index from pre-drawn scene images.
See ``video_motion`` and ``video_scene`` for the details, and ``docs/physiology.md`` for the cues.
"""

from __future__ import annotations

import numpy as np

from datamodules.generator.video_motion import (
    KIND_NAMES,
    MOVEMENT,
    POSTURE_SHIFT,
    POSTURES,
    SITES,
    TWITCH,
    NightMotion,
    VideoTraits,
    draw_video_traits,
    simulate_motion,
)
from datamodules.generator.video_scene import Scene, VideoRenderer, build_scene

__all__ = [
    "KIND_NAMES",
    "MOVEMENT",
    "POSTURE_SHIFT",
    "POSTURES",
    "SITES",
    "TWITCH",
    "NightMotion",
    "Scene",
    "VideoRenderer",
    "VideoTraits",
    "build_scene",
    "draw_video_traits",
    "render_night_video",
    "simulate_motion",
]


def render_night_video(
    labels: np.ndarray,
    traits: VideoTraits,
    rng: np.random.Generator,
    *,
    fps: float,
    size: tuple[int, int] | int,
    seed: int,
    epoch_seconds: float = 30.0,
    clock_offset_seconds: float = 0.0,
) -> tuple[VideoRenderer, NightMotion]:
    """Simulate a night's motion from ``labels`` and return its frame renderer with the motion.

    ``rng`` drives the motion (breathing, movements, camera events); ``seed`` fixes the scene details
    and the per-frame sensor noise, so the renderer's frames depend only on (seed, frame index).
    """
    size_hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    motion = simulate_motion(
        labels, traits, rng, fps=fps, epoch_seconds=epoch_seconds, clock_offset_seconds=clock_offset_seconds
    )
    return VideoRenderer(traits, motion, size=size_hw, seed=seed), motion
