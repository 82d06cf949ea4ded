"""A night's infrared video, one file or several segments, read by timestamp on the PSG clock.

Real bedside cameras write variable frame rates, drop and duplicate frames, and split a night into
segments, so frames are never located by counting: every frame's presentation time is read from the
container, and a clip takes, for each target time, the frame whose timestamp is nearest.

Clocks:

- The *video clock* is 0 at the first frame of the first segment. Each later segment starts where the
  previous one ends (its last frame's time plus that frame's duration), unless its container
  timestamps continue the previous file's (its first timestamp is at or after the previous file's
  end on the same container clock): then the gap the container records is kept.
- ``offset_seconds`` is the video clock minus the PSG clock: PSG time ``t`` is video time
  ``t + offset_seconds``. ``timestamps_seconds`` and every ``clip`` window are on the PSG clock.

Decoding uses decord where it can open a file (fast random access), otherwise PyAV (FFmpeg). Both give
grayscale luma: decord's RGB is reduced with BT.601 weights, PyAV's frames are converted to ``gray``,
so the two agree within a grey level on grayscale IR video. Resizing uses
``torch.nn.functional.interpolate(mode="bilinear", antialias=True)``: bilinear when enlarging and a
triangle (area-like) filter when shrinking, so downscaled frames average rather than alias.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datamodules.recorded.errors import InputFileError
from datamodules.recorded.psg import check_readable

#: backends a ``NightVideo`` may be asked to use
BACKENDS: tuple[str, ...] = ("auto", "decord", "pyav")
#: frames decoded and resized at a time: bounds memory whatever the night's length
FRAMES_PER_CHUNK = 128
#: decord is given a file only if the frame count its header declares is at most this many times the packets
#: it holds (plus 16): decord trusts that count and aborts the process on an absurd one (_decord_would_abort)
_DECORD_COUNT_SLACK = 2.0
#: decord timestamps beyond this many seconds are its sign of a missing container start time
_MAX_PLAUSIBLE_SECONDS = 1e7


class VideoError(InputFileError):
    """A video file that cannot be used as given; the message names the file and the fix."""


@dataclass
class _Segment:
    """One video file: frame times relative to its first frame, and where it sits on the video clock."""

    path: Path
    backend: str
    times_seconds: np.ndarray  # (frames,) float64, first frame at 0, non-decreasing
    first_pts_seconds: float  # the first frame's time on the file's own container clock
    end_seconds: float  # last frame's time plus its duration, relative to the first frame
    frame_size: tuple[int, int]  # (height, width) in pixels
    start_seconds: float = 0.0  # on the video clock


class NightVideo:
    """A night's video on the PSG clock, from one file or several segments played back to back.

    Args:
        paths: the night's video files in playback order (MP4, AVI, MKV, ...).
        offset_seconds: video clock minus PSG clock in seconds (PSG time t is video time t + offset).
        backend: ``"auto"`` (decord, PyAV for files decord cannot open or time), ``"decord"`` or
            ``"pyav"`` to force one.
    """

    def __init__(self, paths: Sequence[str | Path], *, offset_seconds: float = 0.0, backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise VideoError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if isinstance(paths, (str, Path)):
            paths = [paths]
        paths = [Path(p) for p in paths]
        if not paths:
            raise VideoError("no video files given for the night; pass at least one video path (segments in order)")
        if not np.isfinite(offset_seconds):
            raise VideoError(f"offset_seconds must be a finite number of seconds, got {offset_seconds!r}")
        self.paths: tuple[Path, ...] = tuple(paths)
        self.offset_seconds = float(offset_seconds)
        self.backend = backend
        self._segments = [_index_file(path, backend) for path in paths]
        sizes = {segment.frame_size for segment in self._segments}
        if len(sizes) > 1:
            listing = ", ".join(f"{s.path} {s.frame_size[0]}x{s.frame_size[1]}" for s in self._segments)
            raise VideoError(f"segments of one night must share a frame size, found {listing}; re-encode them alike")
        _place_segments(self._segments)
        self._first_index = np.cumsum([0] + [len(s.times_seconds) for s in self._segments])
        video_times = np.concatenate([s.start_seconds + s.times_seconds for s in self._segments])
        self._timestamps = video_times - self.offset_seconds
        self._timestamps.flags.writeable = False
        last = self._segments[-1]
        self._end_video_seconds = last.start_seconds + last.end_seconds
        diffs = np.diff(video_times)
        positive = diffs[diffs > 0]
        self._frame_interval_seconds = float(np.median(positive)) if positive.size else float(last.end_seconds)
        self._readers: dict[int, Any] = {}

    # -- properties ------------------------------------------------------------------------------

    @property
    def duration_seconds(self) -> float:
        """Seconds from the first frame's presentation to the end of the last frame (video clock span)."""
        return float(self._end_video_seconds)

    @property
    def timestamps_seconds(self) -> np.ndarray:
        """(frames,) presentation time of every frame of the night on the PSG clock, non-decreasing."""
        return self._timestamps

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of the decoded frames in pixels."""
        return self._segments[0].frame_size

    @property
    def backend_used(self) -> tuple[str, ...]:
        """Backend ("decord" or "pyav") that reads each file, in the order of ``paths``."""
        return tuple(s.backend for s in self._segments)

    @property
    def num_frames(self) -> int:
        """Frames in the whole night."""
        return int(self._first_index[-1])

    @property
    def frame_interval_seconds(self) -> float:
        """Median time between consecutive frames (1 / typical frame rate)."""
        return self._frame_interval_seconds

    # -- reading ---------------------------------------------------------------------------------

    def frame_indices(self, times_seconds: np.ndarray) -> np.ndarray:
        """Index of the frame nearest to each PSG time (earlier frame on ties)."""
        times = np.asarray(times_seconds, dtype=np.float64)
        ts = self._timestamps
        right = np.clip(np.searchsorted(ts, times, side="left"), 1, len(ts) - 1) if len(ts) > 1 else None
        if right is None:
            return np.zeros(times.shape, dtype=np.int64)
        left = right - 1
        pick_right = np.abs(ts[right] - times) < np.abs(times - ts[left])
        return np.where(pick_right, right, left).astype(np.int64)

    def clip(
        self,
        start_seconds: float,
        end_seconds: float,
        frames: int,
        *,
        size: tuple[int, int] | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """uint8 (frames, H, W) grayscale clip of the PSG window [start, end).

        The window is cut into ``frames`` equal slices; each slice's target time is its centre, or a
        uniform random time inside it when ``rng`` is given (training jitter). Each target shows the
        frame with the nearest timestamp.
        """
        targets = self._targets(np.array([start_seconds], dtype=np.float64), end_seconds - start_seconds, frames, rng)
        return self._gather(targets, size, None)[0]

    def clips(
        self,
        epoch_starts_seconds: np.ndarray,
        epoch_seconds: float,
        frames: int,
        *,
        size: tuple[int, int] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """uint8 (epochs, frames, H, W): the centred clip of every epoch, decoded in one pass in time order.

        Only the needed frames are kept, a chunk of frames at a time, so memory is the output plus one
        chunk. ``progress`` is called with the number of epochs completed since its last call.
        """
        starts = np.asarray(epoch_starts_seconds, dtype=np.float64).reshape(-1)
        targets = self._targets(starts, epoch_seconds, frames, None)
        return self._gather(targets, size, progress)

    # -- internals -------------------------------------------------------------------------------

    def _targets(
        self, starts: np.ndarray, window_seconds: float, frames: int, rng: np.random.Generator | None
    ) -> np.ndarray:
        """(windows, frames) target PSG times, after checking every window lies inside the video."""
        if int(frames) != frames or frames < 1:
            raise VideoError(f"frames must be a positive integer, got {frames!r}")
        if not np.isfinite(window_seconds) or window_seconds <= 0:
            raise VideoError(f"a clip window must have a positive length in seconds, got {window_seconds!r}")
        if not np.all(np.isfinite(starts)):
            raise VideoError(f"window starts must be finite seconds, got {starts[~np.isfinite(starts)][:3]}")
        if starts.size:
            self._check_covered(float(starts.min()), float(starts.max() + window_seconds))
        slice_seconds = window_seconds / frames
        fractions = (np.arange(frames) + 0.5)[None, :] * np.ones((len(starts), 1))
        if rng is not None:
            fractions = np.arange(frames)[None, :] + rng.random((len(starts), frames))
        return starts[:, None] + fractions * slice_seconds

    def _check_covered(self, start_psg: float, end_psg: float) -> None:
        """VideoError unless [start, end) on the PSG clock lies within the video (one frame's tolerance)."""
        tolerance = self._frame_interval_seconds
        first_video = float(self._timestamps[0] + self.offset_seconds)
        start_video, end_video = start_psg + self.offset_seconds, end_psg + self.offset_seconds
        if start_video < first_video - tolerance:
            raise VideoError(
                f"{self.paths[0]}: the video is shorter than the PSG: the PSG window from {start_psg:.3f} s needs "
                f"video from {start_video:.3f} s on the video clock, but the video starts at {first_video:.3f} s "
                f"(offset_seconds={self.offset_seconds:g}, video minus PSG clock); fix offset_seconds or drop the "
                f"epochs before PSG time {first_video - self.offset_seconds:.3f} s"
            )
        if end_video > self._end_video_seconds + tolerance:
            raise VideoError(
                f"{self.paths[-1]}: the video is shorter than the PSG: the PSG window up to {end_psg:.3f} s needs "
                f"video up to {end_video:.3f} s on the video clock, but the video ends at "
                f"{self._end_video_seconds:.3f} s (offset_seconds={self.offset_seconds:g}, video minus PSG clock); "
                f"add the missing segment, fix offset_seconds, or drop the epochs after PSG time "
                f"{self._end_video_seconds - self.offset_seconds:.3f} s"
            )

    def _gather(
        self, targets: np.ndarray, size: tuple[int, int] | None, progress: Callable[[int], None] | None
    ) -> np.ndarray:
        """Decode the frames nearest to ``targets`` (windows, frames) into uint8 (windows, frames, H, W)."""
        height, width = self._output_size(size)
        windows, frames = targets.shape
        out = np.empty((windows * frames, height, width), dtype=np.uint8)
        if out.size == 0 and windows == 0:
            return out.reshape(windows, frames, height, width)
        wanted = self.frame_indices(targets.reshape(-1))
        unique, inverse = np.unique(wanted, return_inverse=True)
        order = np.argsort(inverse, kind="stable")  # output slots grouped by unique frame, in time order
        bounds = np.searchsorted(inverse[order], np.arange(len(unique) + 1))
        # epochs complete once their last frame (in decode order) is decoded
        window_done_at = np.sort(inverse.reshape(windows, frames).max(axis=1))
        reported = done = 0
        for first, pixels in self._decode(unique, (height, width)):
            for k in range(len(pixels)):
                slots = order[bounds[first + k] : bounds[first + k + 1]]
                out[slots] = pixels[k]
            done = first + len(pixels)
            if progress is not None:
                complete = int(np.searchsorted(window_done_at, done, side="left"))
                if complete > reported:
                    progress(complete - reported)
                    reported = complete
        if done != len(unique):
            raise VideoError(f"{self.paths}: decoded {done} of {len(unique)} needed frames; the file may be truncated")
        return out.reshape(windows, frames, height, width)

    def _output_size(self, size: tuple[int, int] | None) -> tuple[int, int]:
        if size is None:
            return self.frame_size
        if len(size) != 2 or any(int(v) != v or v < 1 for v in size):
            raise VideoError(f"size must be (height, width) in positive pixels, got {size!r}")
        return int(size[0]), int(size[1])

    def _decode(self, unique: np.ndarray, size: tuple[int, int]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (position in ``unique``, uint8 (n, H, W) frames) chunk by chunk, in time order."""
        segment_of = np.searchsorted(self._first_index, unique, side="right") - 1
        for number, segment in enumerate(self._segments):
            positions = np.flatnonzero(segment_of == number)
            if positions.size == 0:
                continue
            local = unique[positions] - self._first_index[number]
            reader = _decode_decord if segment.backend == "decord" else _decode_pyav
            offset = int(positions[0])
            for chunk in reader(self, number, local):
                yield offset, _resize(chunk, size)
                offset += len(chunk)

    def _decord_reader(self, number: int) -> Any:
        """The open decord reader of a segment, opened on first use (readers are not picklable)."""
        if number not in self._readers:
            self._readers[number] = _open_decord(self._segments[number].path)
        return self._readers[number]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_readers"] = {}  # reopened lazily in each dataloader worker
        return state

    def __repr__(self) -> str:
        return (
            f"NightVideo({len(self.paths)} file(s), {self.num_frames} frames, {self.duration_seconds:.1f} s, "
            f"{self.frame_size[0]}x{self.frame_size[1]}, offset_seconds={self.offset_seconds:g}, "
            f"backends={self.backend_used})"
        )


# -- indexing ------------------------------------------------------------------------------------


def _open_decord(path: Path) -> Any:
    """A decord VideoReader of ``path`` (module level so tests can make decord fail)."""
    import decord

    return decord.VideoReader(str(path))


def _index_file(path: Path, backend: str) -> _Segment:
    """Frame timestamps and size of one file, read with the requested backend."""
    if not path.is_file():
        raise VideoError(f"{path}: no such video file; check the path (a night in segments needs every file)")
    check_readable(path, "video", VideoError)
    errors = []
    unsafe = _decord_would_abort(path) if backend in ("auto", "decord") else None
    if unsafe is not None and backend == "decord":
        raise VideoError(
            f"{path}: not handed to decord: {unsafe}, and decord would end the whole process on it; use "
            "backend='pyav' or re-encode the file (H.264 MP4)"
        )
    if unsafe is not None:
        errors.append(f"decord: not tried ({unsafe})")
    elif backend in ("auto", "decord"):
        try:
            return _index_decord(path)
        except VideoError:
            raise
        except Exception as error:  # decord raises its own error types for files it cannot read
            if backend == "decord":
                raise VideoError(
                    f"{path}: decord cannot read this video ({error}); use backend='pyav' or re-encode it (H.264 MP4)"
                ) from error
            errors.append(f"decord: {error}")
    try:
        return _index_pyav(path)
    except VideoError:
        raise
    except Exception as error:
        errors.append(f"pyav: {error}")
        raise VideoError(
            f"{path}: not a readable video ({'; '.join(errors)}); check the file is a complete MP4/AVI/MKV "
            f"(e.g. with ffprobe) or re-encode it"
        ) from error


def _decord_would_abort(path: Path) -> str | None:
    """Why ``path`` must not be opened with decord, or None when its container is consistent enough.

    decord sizes its frame index by the frame count the container declares (or, without one, by duration
    times frame rate) and never checks it against the file: a damaged sample table that declares 2.5 billion
    frames in a 7 KB file makes it throw std::bad_alloc in C++, which terminates the Python process (training
    and all) instead of raising. PyAV reads the same container and raises Python exceptions, so it looks first:
    a file PyAV cannot demux, or whose declared count exceeds the packets it holds, goes to PyAV alone (which
    then indexes it or raises a VideoError). Demuxing without decoding costs about 2 us per frame (1.5 s for
    an 8-hour night at 25 fps).
    """
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                return "no video stream"
            stream = container.streams.video[0]
            declared = float(stream.frames or 0)
            if declared <= 0 and stream.average_rate and container.duration:
                declared = float(stream.average_rate) * container.duration / av.time_base
            counted = sum(1 for packet in container.demux(stream) if packet.size)
    except Exception as error:  # PyAV's errors (and UnicodeDecodeError from damaged metadata) all mean: unsafe
        return f"PyAV cannot read its container ({type(error).__name__}: {error})"
    if not math.isfinite(declared) or declared > _DECORD_COUNT_SLACK * counted + 16:
        return f"its header declares {declared:.0f} frames but it holds {counted}"
    return None


def _index_decord(path: Path) -> _Segment:
    reader = _open_decord(path)
    count = len(reader)
    if count == 0:
        raise VideoError(f"{path}: the video holds no frames; re-export it or remove it from the night's list")
    spans = np.asarray(reader.get_frame_timestamp(np.arange(count)), dtype=np.float64).reshape(count, 2)
    # decord reports float32 seconds: round off the float32 noise (exact below ~2 h, ~1 ms at 8 h)
    spans = np.round(spans, 6)
    starts = spans[:, 0]
    if (
        not np.all(np.isfinite(spans))
        or starts.min() < -1e-3
        or spans.max() > _MAX_PLAUSIBLE_SECONDS
        or np.any(np.diff(starts) < 0)
    ):
        raise RuntimeError("implausible frame timestamps (no container start time?)")
    # decord's batch decoder breaks on some frame sizes (e.g. 16 pixels wide): try it once up front
    height, width = (int(v) for v in reader.get_batch([0]).shape[1:3])
    # decord measures from the stream's start time; the container clock is needed to keep recorded gaps
    container_start = _container_start_seconds(path)
    last_duration = spans[-1, 1] - spans[-1, 0]
    return _segment(path, "decord", starts, container_start + starts[0], last_duration, (height, width))


def _container_start_seconds(path: Path) -> float:
    """Start time of the video stream on its container clock (0 when unknown)."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            if stream.start_time is None:
                return 0.0
            return float(stream.start_time * stream.time_base)
    except Exception:
        return 0.0


def _index_pyav(path: Path) -> _Segment:
    import av

    with av.open(str(path), metadata_errors="ignore") as container:
        if not container.streams.video:
            raise VideoError(f"{path}: the file holds no video stream; pass the video file, not an audio/metadata one")
        stream = container.streams.video[0]
        pts, durations = [], []
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            pts.append(packet.pts)
            durations.append(packet.duration or 0)
        height, width = int(stream.codec_context.height), int(stream.codec_context.width)
        time_base = float(stream.time_base)
    if not pts:
        raise VideoError(f"{path}: the video holds no frames; re-export it or remove it from the night's list")
    if height < 1 or width < 1:  # a damaged sample description: decoding would fail on the first clip
        raise VideoError(
            f"{path}: the video stream declares a frame size of {width}x{height} pixels, so its header is damaged; "
            "re-encode the file (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4) or copy it again"
        )
    order = np.argsort(np.asarray(pts), kind="stable")
    times = np.asarray(pts, dtype=np.float64)[order] * time_base
    last_duration = float(np.asarray(durations)[order][-1]) * time_base
    return _segment(path, "pyav", times, times[0], last_duration, (height, width))


def _segment(
    path: Path, backend: str, times: np.ndarray, first_pts_seconds: float, last_duration: float, size: tuple[int, int]
) -> _Segment:
    relative = times - times[0]
    if last_duration <= 0:  # AVI and some muxers give no durations: use the typical frame interval
        diffs = np.diff(relative)
        diffs = diffs[diffs > 0]
        last_duration = float(np.median(diffs)) if diffs.size else 0.0
    return _Segment(path, backend, relative, float(first_pts_seconds), float(relative[-1] + last_duration), size)


def _place_segments(segments: list[_Segment]) -> None:
    """Put each segment on the video clock: back to back, or at its container time when that continues."""
    for previous, segment in zip(segments, segments[1:]):
        previous_end_pts = previous.first_pts_seconds + previous.end_seconds
        tolerance = 1e-3 + 0.5 * (previous.end_seconds - previous.times_seconds[-1])
        if segment.first_pts_seconds >= previous_end_pts - tolerance:
            segment.start_seconds = previous.start_seconds + segment.first_pts_seconds - previous.first_pts_seconds
        else:
            segment.start_seconds = previous.start_seconds + previous.end_seconds


# -- decoding ------------------------------------------------------------------------------------


def _decode_decord(video: NightVideo, number: int, local: np.ndarray) -> Iterator[np.ndarray]:
    """uint8 (n, H, W) luma of the segment's frames ``local`` (sorted), chunk by chunk."""
    reader = video._decord_reader(number)
    for start in range(0, len(local), FRAMES_PER_CHUNK):
        wanted = local[start : start + FRAMES_PER_CHUNK].tolist()
        try:
            batch = reader.get_batch(wanted).asnumpy()
        except Exception as error:  # decord's own error types: a damaged packet past the indexed header
            raise VideoError(
                f"{video._segments[number].path}: decord cannot decode frames {wanted[0]}..{wanted[-1]} ({error}); "
                "the file is damaged: re-encode it, or read it with backend='pyav'"
            ) from error
        yield _luma(batch)


def _decode_pyav(video: NightVideo, number: int, local: np.ndarray) -> Iterator[np.ndarray]:
    """uint8 (n, H, W) luma of the segment's frames ``local`` (sorted), in one forward pass from a seek.

    Intra-only codecs (MJPEG) decode only the needed packets; others decode every frame in between.
    FFmpeg's errors on a damaged packet (the index reads only the container) become a VideoError.
    """
    import av

    try:
        yield from _pyav_frames(video, number, local)
    except av.error.FFmpegError as error:
        raise VideoError(
            f"{video._segments[number].path}: FFmpeg cannot decode this video ({error}); the file is damaged: "
            "copy it again or re-encode it"
        ) from error


def _pyav_frames(video: NightVideo, number: int, local: np.ndarray) -> Iterator[np.ndarray]:
    """What :func:`_decode_pyav` yields, with FFmpeg's errors left as they are."""
    import av

    segment = video._segments[number]
    with av.open(str(segment.path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = float(stream.time_base)
        base_pts = segment.first_pts_seconds
        wanted_times = segment.times_seconds[local]
        intra_only = bool(getattr(stream.codec_context.codec, "intra_only", False))
        if local[0] > 0:
            container.seek(int(round((base_pts + wanted_times[0]) / time_base)), stream=stream, backward=True)
        position, chunk = 0, []
        half_tick = 0.5 * time_base
        for packet in container.demux(stream):
            if intra_only and packet.pts is not None:
                packet_time = packet.pts * time_base - base_pts
                if position < len(local) and abs(packet_time - wanted_times[position]) > half_tick:
                    if packet_time < wanted_times[position]:
                        continue
            for frame in packet.decode():
                if frame.pts is None:
                    continue
                frame_time = frame.pts * time_base - base_pts
                if position < len(local) and frame_time < wanted_times[position] - half_tick:
                    continue
                pixels = None
                # duplicated timestamps: the same decoded frame may serve several wanted frames
                while position < len(local) and abs(frame_time - wanted_times[position]) <= half_tick:
                    if pixels is None:
                        pixels = frame.to_ndarray(format="gray")
                    chunk.append(pixels)
                    position += 1
                if len(chunk) >= FRAMES_PER_CHUNK:
                    yield np.stack(chunk)
                    chunk = []
            if position >= len(local):
                break
        if chunk:
            yield np.stack(chunk)
    if position < len(local):
        raise VideoError(
            f"{segment.path}: could not decode the frame at {wanted_times[position]:.3f} s of this file "
            f"({len(local) - position} frames missing); the file may be truncated or damaged, re-encode it"
        )


def _luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma (0.299 R + 0.587 G + 0.114 B) of uint8 (..., 3) frames, as uint8."""
    weighted = (
        rgb[..., 0].astype(np.uint16) * np.uint16(77)
        + rgb[..., 1].astype(np.uint16) * np.uint16(150)
        + rgb[..., 2].astype(np.uint16) * np.uint16(29)
    )
    return ((weighted + 128) >> 8).astype(np.uint8)


def _resize(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (n, H, W) frames at ``size`` (height, width): antialiased bilinear, rounded."""
    if frames.shape[1:] == tuple(size):
        return np.ascontiguousarray(frames)
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(frames)).unsqueeze(1).float()
    resized = F.interpolate(tensor, size=tuple(size), mode="bilinear", antialias=True, align_corners=False)
    return resized.squeeze(1).round_().clamp_(0, 255).to(torch.uint8).numpy()
