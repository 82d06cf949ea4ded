"""Drawing the bedside infrared video: a static scene per posture, composed per frame by lookups.

A night's frames differ only by a few things (where the body is, which posture, how far the chest has
risen, which local parts move, camera gain and sensor noise), so the images are built once:

- ``static``: what is fixed to the camera (room, bed, pillow, illuminator fall-off), frame sized;
- ``body``: the person under the blanket minus what they cover, per posture, on a canvas larger than
  the frame so that a shifted window moves the body over the bed;
- ``chest``: gray levels added per unit of chest excursion (brighter chest plus a small shift of the
  blanket edge and torso shading), per posture;
- ``sites``: local deformations (twitches, eyes opening, head turn, arm lifts, leg shift), per posture.

A frame is ``(static + body + breath * chest + sum_k weight_k * site_k) * gain + noise``, where
the sensor noise is looked up from a fixed bank by a hash of (seed, frame), so every frame is
deterministic and independent of which other frames are drawn with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from datamodules.generator.video_motion import POSTURES, SITES, NightMotion, VideoTraits

_MARGIN_FRACTION = 0.16  # canvas margin on each side (body offsets are clipped to it)
_CHEST_GRAY_LEVELS = 30.0  # chest brightening per unit of tidal depth
_CHEST_SHIFT_FRACTION = 0.012  # blanket edge shift per unit of tidal depth, fraction of the frame
_NOISE_TILES = 8
_LATERAL = {"supine": 0.0, "left_side": -1.0, "right_side": 1.0}


@dataclass(frozen=True)
class Scene:
    """Pre-drawn images of one subject; see the module docstring. Float32 gray levels."""

    static: np.ndarray  # (H, W)
    body: np.ndarray  # (postures, Hc, Wc)
    chest: np.ndarray  # (postures, Hc, Wc) per unit chest excursion
    sites: np.ndarray  # (postures, sites, Hc, Wc) per unit site weight
    margin_pixels: tuple[int, int]  # (y, x) canvas margin
    unit_pixels: float  # pixels per frame fraction (the shorter frame side)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _gauss(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - centre) / width) ** 2)


def _grid(
    rows: int, cols: int, top: int, left: int, unit: float, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Frame-fraction coordinates (y, x) of a pixel grid whose (top, left) pixel is frame pixel (-top, -left)."""
    r = (np.arange(rows) - top - (size[0] - 1) / 2.0) / unit
    c = (np.arange(cols) - left - (size[1] - 1) / 2.0) / unit
    return np.meshgrid(r, c, indexing="ij")


class _Bed:
    """Body-aligned coordinates and soft shapes for one traits set (v along the bed, u across)."""

    def __init__(self, traits: VideoTraits, y: np.ndarray, x: np.ndarray, unit: float) -> None:
        self.t = traits
        oy, ox = traits.camera_offset_fraction
        py, px = (y - oy) / traits.camera_zoom, (x - ox) / traits.camera_zoom
        a = traits.camera_rotation_rad
        self.v = py * np.cos(a) + px * np.sin(a)
        self.u = -py * np.sin(a) + px * np.cos(a)
        self.edge = max(0.006, 0.7 / (unit * traits.camera_zoom))  # soft edges about a pixel wide

    def ellipse(self, cv: float, cu: float, rv: float, ru: float) -> tuple[np.ndarray, np.ndarray]:
        """Coverage in [0, 1] and a dome height (1 at the centre, 0 at the rim)."""
        r2 = ((self.v - cv) / rv) ** 2 + ((self.u - cu) / ru) ** 2
        alpha = _sigmoid((1.0 - np.sqrt(r2)) * min(rv, ru) / self.edge)
        return alpha, np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))

    def box(self, v0: float, v1: float, half_u: float) -> np.ndarray:
        return _sigmoid((self.v - v0) / self.edge) * _sigmoid((v1 - self.v) / self.edge) * _sigmoid(
            (half_u - np.abs(self.u)) / self.edge
        )

    def background(self) -> np.ndarray:
        """Room, mattress and pillow without the person (gray levels, before illumination)."""
        t = self.t
        bed = self.box(-0.56, 0.6, 0.35)
        frame = self.box(-0.58, 0.62, 0.37) - bed  # darker bed frame around the mattress
        pillow, dome = self.ellipse(-0.43, 0.0, 0.075, 0.2)
        img = t.room_gray_levels + (t.bed_gray_levels - t.room_gray_levels) * bed - 0.3 * t.bed_gray_levels * frame
        return img + pillow * (t.pillow_gray_levels * (0.85 + 0.15 * dome) - img)


def _person(bed: _Bed, posture: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Composite gray and coverage of the person and blanket in one posture, plus helper layers."""
    t, lat = bed.t, _LATERAL[posture]
    sl, sw = t.body_length_scale, t.body_width_scale * (0.82 if lat else 1.0)
    img, cover = np.zeros_like(bed.v), np.zeros_like(bed.v)

    def over(gray: np.ndarray | float, alpha: np.ndarray) -> None:
        nonlocal img, cover
        img = img * (1.0 - alpha) + gray * alpha
        cover = cover + alpha * (1.0 - cover)

    edge_v = -0.27 * sl + 0.02 * abs(lat)
    shoulders, s_dome = bed.ellipse(edge_v, 0.02 * lat, 0.05, 0.19 * sw)
    over(t.body_gray_levels * (0.7 + 0.2 * s_dome), shoulders)
    head_v, head_u = -0.42 * sl, 0.03 * lat
    head, h_dome = bed.ellipse(head_v, head_u, 0.09 * sl, 0.075 * sw)
    hair = _sigmoid((head_v - 0.02 - bed.v + 0.6 * lat * (bed.u - head_u)) / bed.edge)
    head_gray = t.body_gray_levels * (0.75 + 0.25 * h_dome) * (1.0 - 0.35 * hair)
    over(head_gray, head)
    torso, t_dome = bed.ellipse(-0.1 * sl, 0.02 * lat, 0.22 * sl, 0.17 * sw)
    legs, l_dome = bed.ellipse(0.28 * sl, 0.06 * lat, 0.26 * sl, (0.16 if lat else 0.13) * sw)
    bulge = np.maximum(t_dome, 0.9 * l_dome)
    folds = np.zeros_like(bed.v)
    for _ in range(6):  # soft folds: local ripples, mostly across the body
        angle = rng.normal(0.0, 0.6)
        wavelength = rng.uniform(0.05, 0.14)
        phase = (bed.v * np.cos(angle) + bed.u * np.sin(angle)) / wavelength
        blob = _gauss(bed.v, rng.uniform(-0.2, 0.5), rng.uniform(0.06, 0.15))
        blob = blob * _gauss(bed.u, rng.uniform(-0.25, 0.25), 0.12)
        folds += rng.uniform(4.0, 9.0) * blob * np.sin(2.0 * np.pi * phase + rng.uniform(0, 2 * np.pi))
    blanket = bed.box(edge_v, 0.57, 0.38)
    over(t.blanket_gray_levels * (0.8 + 0.3 * bulge) + folds, blanket)
    parts = {"head": head * (head_gray - bed.background()), "legs_dome": l_dome * legs * blanket, "blanket": blanket,
             "edge_v": np.array(edge_v), "head_v": np.array(head_v), "head_u": np.array(head_u)}  # fmt: skip
    return img, cover, parts


def _capsule(bed: _Bed, v0: float, u0: float, v1: float, u1: float, radius: float) -> np.ndarray:
    """Soft coverage of a limb segment between (v0, u0) and (v1, u1)."""
    dv, du = v1 - v0, u1 - u0
    s = np.clip(((bed.v - v0) * dv + (bed.u - u0) * du) / (dv * dv + du * du), 0.0, 1.0)
    dist = np.hypot(bed.v - v0 - s * dv, bed.u - u0 - s * du)
    return _sigmoid((radius - dist) / bed.edge)


def build_scene(traits: VideoTraits, size: tuple[int, int], rng: np.random.Generator) -> Scene:
    """The pre-drawn images of one subject at a frame size of ``size`` = (height, width) pixels."""
    height, width = size
    unit = float(min(height, width))
    my, mx = (int(np.ceil(_MARGIN_FRACTION * unit)) + 1,) * 2
    rows, cols = height + 2 * my, width + 2 * mx

    def illumination(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        corner2 = ((height / unit) ** 2 + (width / unit) ** 2) / 4.0
        return traits.illuminator_strength * (1.0 - traits.vignetting * (y**2 + x**2) / corner2)

    fy, fx = _grid(height, width, 0, 0, unit, size)
    static = _Bed(traits, fy, fx, unit).background() * illumination(fy, fx)
    static += 0.8 * rng.standard_normal(static.shape)  # fixed-pattern noise of this sensor
    static += 0.5  # so that truncation to uint8 rounds

    cy, cx = _grid(rows, cols, my, mx, unit, size)
    light = illumination(cy, cx)
    bed = _Bed(traits, cy, cx, unit)
    background = bed.background()
    a = traits.camera_rotation_rad
    body, chest, sites = [], [], []
    for posture in POSTURES:
        img, cover, parts = _person(bed, posture, rng)
        lat, sl, sw = _LATERAL[posture], traits.body_length_scale, traits.body_width_scale
        composite = img * cover + background * (1.0 - cover)
        body.append((composite - background) * light)
        # Breathing: the chest brightens and the blanket edge / torso shading shifts towards the head.
        grad_r, grad_c = np.gradient(composite)
        grad_v = grad_r * np.cos(a) + grad_c * np.sin(a)  # gray levels per pixel along the body axis
        near_chest = _gauss(bed.v, float(parts["edge_v"]) + 0.08, 0.1) * _gauss(bed.u, 0.02 * lat, 0.16 * sw)
        chest_mask = _gauss(bed.v, -0.14 * sl, 0.08 * sl) * _gauss(bed.u, 0.02 * lat, 0.1 * sw) * parts["blanket"]
        shift_pixels = _CHEST_SHIFT_FRACTION * unit * traits.camera_zoom
        chest.append((_CHEST_GRAY_LEVELS * chest_mask + shift_pixels * grad_v * near_chest) * light)
        hv, hu = float(parts["head_v"]), float(parts["head_u"])
        eyes = _gauss(bed.v, hv + 0.015, 0.012) * (_gauss(bed.u, hu - 0.025, 0.012) + _gauss(bed.u, hu + 0.025, 0.012))
        skin = traits.body_gray_levels - traits.blanket_gray_levels
        skin = np.sign(skin + 1e-9) * max(abs(skin), 30.0)
        head_shift = 0.025 / traits.camera_zoom * unit  # pixels, for the head-turn dipole
        head_turn = np.roll(parts["head"], int(round(head_shift)), axis=1) - parts["head"]
        legs_shift = np.roll(parts["legs_dome"], int(round(0.04 * unit)), axis=1) - parts["legs_dome"]
        layers = {
            "eyelids": 30.0 * eyes,
            "left_hand": 30.0 * _gauss(bed.v, -0.02, 0.025) * _gauss(bed.u, -0.2 * sw, 0.025),
            "right_hand": 30.0 * _gauss(bed.v, -0.02, 0.025) * _gauss(bed.u, 0.2 * sw, 0.025),
            "left_foot": 25.0 * _gauss(bed.v, 0.5 * sl, 0.03) * _gauss(bed.u, -0.06 + 0.06 * lat, 0.03),
            "right_foot": 25.0 * _gauss(bed.v, 0.5 * sl, 0.03) * _gauss(bed.u, 0.06 + 0.06 * lat, 0.03),
            "eyes_open": -45.0 * eyes,
            "head_turn": head_turn,
            "left_arm": skin * _capsule(bed, -0.25 * sl, -0.18 * sw, -0.05 * sl, -0.1 * sw, 0.025),
            "right_arm": skin * _capsule(bed, -0.25 * sl, 0.18 * sw, -0.05 * sl, 0.1 * sw, 0.025),
            "legs": 0.3 * traits.blanket_gray_levels * legs_shift,
        }
        sites.append(np.stack([layers[name] for name in SITES]) * light)
    return Scene(
        static=static.astype(np.float32),
        body=np.stack(body).astype(np.float32),
        chest=np.stack(chest).astype(np.float32),
        sites=np.stack(sites).astype(np.float32),
        margin_pixels=(my, mx),
        unit_pixels=unit,
    )


def _mix64(x: np.ndarray) -> np.ndarray:
    """A 64-bit integer hash (splitmix64 finaliser), vectorised; wraps modulo 2**64 by design."""
    x = x.astype(np.uint64)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


class VideoRenderer:
    """Renders any frames of one night's video by index: ``renderer(indices) -> uint8 (n, H, W)``.

    Frames are deterministic per (seed, index) and independent of which other frames are asked for,
    so training can draw 16 frames of an epoch without rendering the night.
    """

    def __init__(
        self,
        traits: VideoTraits,
        motion: NightMotion,
        size: tuple[int, int] = (112, 112),
        seed: int = 0,
        chunk_frames: int = 256,
    ) -> None:
        height, width = int(size[0]), int(size[1])
        if height < 8 or width < 8:
            raise ValueError(f"frame size must be at least 8x8 pixels, got {size}")
        self.traits, self.motion, self.size = traits, motion, (height, width)
        self.chunk_frames = max(1, int(chunk_frames))
        scene_seed, noise_seed = np.random.SeedSequence([int(seed), 0x1DEA]).spawn(2)
        self.scene = build_scene(traits, self.size, np.random.default_rng(scene_seed))
        window = (height, width)
        self._body = sliding_window_view(self.scene.body, window, axis=(1, 2))
        self._chest = sliding_window_view(self.scene.chest, window, axis=(1, 2))
        self._sites = sliding_window_view(self.scene.sites, window, axis=(2, 3))
        bank = np.random.default_rng(noise_seed).standard_normal((_NOISE_TILES, 2 * height, 2 * width), np.float32)
        self._noise = sliding_window_view(bank * np.float32(traits.sensor_noise_gray_levels), window, axis=(1, 2))
        self._key = np.uint64(int(noise_seed.generate_state(1, np.uint64)[0]))
        self._brightness = (motion.gain * motion.flicker).astype(np.float32)

    @property
    def num_frames(self) -> int:
        return self.motion.num_frames

    def _windows(self, source: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Posture and canvas window corners (row, column) of the scene shown at ``source`` frames."""
        my, mx = self.scene.margin_pixels
        shift = np.rint(self.motion.body_offset_fraction[source] * self.scene.unit_pixels).astype(np.int64)
        rows = my - np.clip(shift[:, 0], -my, my)
        cols = mx - np.clip(shift[:, 1], -mx, mx)
        return self.motion.posture[source].astype(np.int64), rows, cols

    def chest_weights(self, index: int) -> np.ndarray:
        """Chest-excursion gain per pixel (gray levels per unit depth) of frame ``index``: a breathing ROI."""
        source = self.motion.source_index[np.array([index])]
        posture, rows, cols = self._windows(source)
        return np.abs(self._chest[posture[0], rows[0], cols[0]]).copy()

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(indices) and (indices.min() < 0 or indices.max() >= self.num_frames):
            raise IndexError(f"frame indices must lie in [0, {self.num_frames}), got {indices.min()}..{indices.max()}")
        out = np.empty((len(indices), *self.size), dtype=np.uint8)
        for start in range(0, len(indices), self.chunk_frames):
            stop = min(start + self.chunk_frames, len(indices))
            out[start:stop] = self._render(self.motion.source_index[indices[start:stop]])
        return out

    def _render(self, source: np.ndarray) -> np.ndarray:
        posture, rows, cols = self._windows(source)
        frames = self._body[posture, rows, cols]
        frames += self.motion.breath[source][:, None, None] * self._chest[posture, rows, cols]
        weights = self.motion.site_weights[source]
        for k in np.flatnonzero(np.any(weights != 0.0, axis=0)):
            on = np.flatnonzero(weights[:, k])
            frames[on] += weights[on, k][:, None, None] * self._sites[posture[on], k, rows[on], cols[on]]
        frames += self.scene.static
        frames *= self._brightness[source][:, None, None]
        h = _mix64(source.astype(np.uint64) ^ self._key)
        tile = (h & np.uint64(_NOISE_TILES - 1)).astype(np.int64)
        dy = ((h >> np.uint64(8)) % np.uint64(self.size[0] + 1)).astype(np.int64)
        dx = ((h >> np.uint64(32)) % np.uint64(self.size[1] + 1)).astype(np.int64)
        frames += self._noise[tile, dy, dx]
        np.clip(frames, 0.0, 255.0, out=frames)
        return frames.astype(np.uint8)
