"""NightVideo: frames found by timestamp (VFR, segments, offsets), both backends, and clear errors."""

from __future__ import annotations

import pickle
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import datamodules.recorded.video as video_module
from datamodules.recorded.video import NightVideo, VideoError

#: frame i is a flat gray of 10 + STEP * i, so the decoded value tells which frame was picked
STEP = 4
TIME_BASE = Fraction(1, 1000)


def write_frames(
    path: Path,
    times_seconds,
    *,
    codec: str = "mjpeg",
    size_pixels: int = 32,
    first_index: int = 0,
    rate_hz: int = 10,
) -> Path:
    """A tiny video whose frame i is shown at ``times_seconds[i]`` (millisecond timestamps).

    ``rate_hz`` is the nominal rate, which sets the last frame's duration in the container.
    """
    encoder, pixel_format = {"h264": ("libx264", "yuv420p"), "mjpeg": ("mjpeg", "yuvj420p")}[codec]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(encoder, rate=rate_hz)
        stream.width = stream.height = size_pixels
        stream.pix_fmt = pixel_format
        stream.codec_context.time_base = TIME_BASE  # keep VFR timestamps exact (not rounded to 1/rate)
        stream.options = {"crf": "0", "bf": "0"} if codec == "h264" else {"qmin": "2", "qmax": "2"}
        for i, t in enumerate(times_seconds):
            value = 10 + STEP * (first_index + i)
            frame = av.VideoFrame.from_ndarray(np.full((size_pixels, size_pixels), value, np.uint8), format="gray")
            frame.pts, frame.time_base = int(round(t * 1000)), TIME_BASE
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def picked(frames: np.ndarray) -> np.ndarray:
    """Frame index shown by each flat gray frame (robust to +-1 gray level of codec error)."""
    return np.floor((frames.reshape(*frames.shape[:-2], -1).mean(-1) - 10 + STEP / 2) / STEP).astype(int)


def nearest(times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return np.argmin(np.abs(np.asarray(times)[None, :] - np.asarray(targets)[:, None]), axis=1)


VFR_TIMES = [0.0, 0.1, 0.3, 0.35, 0.8, 1.0, 1.5, 1.55, 2.0, 2.6, 2.7, 3.2]


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("codec", ["h264", "mjpeg"])
def test_constant_rate_timestamps(tmp_path: Path, backend: str, codec: str) -> None:
    path = write_frames(tmp_path / "cfr.mp4", np.arange(20) / 5.0, codec=codec, rate_hz=5)
    video = NightVideo([path], backend=backend)
    assert video.backend_used == (backend,)
    np.testing.assert_allclose(video.timestamps_seconds, np.arange(20) / 5.0, atol=1e-4)
    assert video.duration_seconds == pytest.approx(4.0, abs=1e-3)
    assert video.frame_size == (32, 32)
    np.testing.assert_array_equal(picked(video.clip(-0.05, 3.95, 20)), np.arange(20))


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_variable_frame_rate_picks_nearest_timestamp(tmp_path: Path, backend: str) -> None:
    path = write_frames(tmp_path / "vfr.mp4", VFR_TIMES)
    video = NightVideo([path], backend=backend)
    np.testing.assert_allclose(video.timestamps_seconds, VFR_TIMES, atol=1e-4)
    targets = (np.arange(16) + 0.5) * 3.2 / 16  # slice centres of [0, 3.2)
    np.testing.assert_array_equal(picked(video.clip(0.0, 3.2, 16)), nearest(VFR_TIMES, targets))
    # frame counting would pick frame 8 for 0.8 s at "10 fps"; timestamps pick frame 4
    assert picked(video.clip(0.75, 0.85, 1))[0] == 4


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_two_segments_play_like_one_file(tmp_path: Path, backend: str) -> None:
    times = np.arange(40) / 10.0
    whole = NightVideo([write_frames(tmp_path / "whole.mp4", times, codec="h264")], backend=backend)
    parts = [
        write_frames(tmp_path / "a.mp4", times[:20], codec="h264"),
        write_frames(tmp_path / "b.mp4", times[:20], codec="h264", first_index=20),  # restarts at 0 s
    ]
    joined = NightVideo(parts, backend=backend)
    np.testing.assert_allclose(joined.timestamps_seconds, whole.timestamps_seconds, atol=1e-4)
    assert joined.duration_seconds == pytest.approx(whole.duration_seconds, abs=1e-3)
    spanning = joined.clip(1.0, 3.0, 10)  # crosses the boundary at 2.0 s
    np.testing.assert_array_equal(picked(spanning), picked(whole.clip(1.0, 3.0, 10)))
    np.testing.assert_array_equal(picked(spanning), np.arange(11, 31, 2))
    starts = np.array([0.0, 1.0, 2.0])
    np.testing.assert_array_equal(picked(joined.clips(starts, 1.0, 5)), picked(whole.clips(starts, 1.0, 5)))


def test_segment_timestamps_that_continue_keep_the_recorded_gap(tmp_path: Path) -> None:
    first = write_frames(tmp_path / "a.mp4", np.arange(10) / 10.0)
    continuing = write_frames(tmp_path / "b.mp4", 1.0 + np.arange(10) / 10.0, first_index=10)
    after_gap = write_frames(tmp_path / "c.mp4", 5.0 + np.arange(10) / 10.0, first_index=10)
    np.testing.assert_allclose(NightVideo([first, continuing]).timestamps_seconds, np.arange(20) / 10.0, atol=1e-4)
    gapped = NightVideo([first, after_gap])
    np.testing.assert_allclose(gapped.timestamps_seconds[10:], 5.0 + np.arange(10) / 10.0, atol=1e-4)
    assert gapped.duration_seconds == pytest.approx(6.0, abs=1e-3)


def test_offset_shifts_the_frames_of_a_psg_window(tmp_path: Path) -> None:
    path = write_frames(tmp_path / "v.mp4", np.arange(40) / 10.0)
    plain = NightVideo([path])
    shifted = NightVideo([path], offset_seconds=1.5)  # PSG time t is video time t + 1.5
    np.testing.assert_allclose(shifted.timestamps_seconds, plain.timestamps_seconds - 1.5, atol=1e-9)
    np.testing.assert_array_equal(picked(shifted.clip(0.0, 1.0, 5)), picked(plain.clip(1.5, 2.5, 5)))
    np.testing.assert_array_equal(picked(shifted.clip(0.0, 1.0, 5)), [16, 18, 20, 22, 24])
    with pytest.raises(VideoError, match="shorter than the PSG"):
        shifted.clip(2.0, 3.0, 5)  # needs video 3.5-4.5 s, the video ends at 4.0 s
    with pytest.raises(VideoError, match="starts at"):
        NightVideo([path], offset_seconds=-1.0).clip(0.0, 1.0, 5)  # video starts at PSG time 1 s


@pytest.mark.parametrize("codec", ["h264", "mjpeg"])
def test_decord_and_pyav_agree(tmp_path: Path, codec: str) -> None:
    path = write_frames(tmp_path / "v.mp4", np.cumsum(np.r_[0.0, np.tile([0.1, 0.25, 0.05], 15)]), codec=codec)
    fast, slow = NightVideo([path], backend="decord"), NightVideo([path], backend="pyav")
    np.testing.assert_allclose(fast.timestamps_seconds, slow.timestamps_seconds, atol=1e-4)
    starts = np.arange(0.0, 5.0, 1.0)
    a = fast.clips(starts, 1.0, 6, size=(8, 8)).astype(int)
    b = slow.clips(starts, 1.0, 6, size=(8, 8)).astype(int)
    assert np.abs(a - b).max() <= 2
    np.testing.assert_array_equal(picked(a), picked(b))


def test_falls_back_to_pyav_when_decord_cannot_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_frames(tmp_path / "v.mp4", np.arange(20) / 10.0)

    def refuse(path: Path) -> None:
        raise RuntimeError("decord cannot open this")

    monkeypatch.setattr(video_module, "_open_decord", refuse)
    video = NightVideo([path])
    assert video.backend_used == ("pyav",)
    np.testing.assert_array_equal(picked(video.clip(0.0, 2.0, 4)), [2, 7, 12, 17])
    with pytest.raises(VideoError, match="v.mp4.*backend='pyav'"):
        NightVideo([path], backend="decord")


def test_falls_back_when_decord_timestamps_are_unusable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # decord reports absurd times (about 9e15 s) for some files without a container start time
    path = write_frames(tmp_path / "late.mkv", 5.0 + np.arange(10) / 10.0, codec="h264")
    open_decord = video_module._open_decord

    class Absurd:
        def __init__(self, path: Path) -> None:
            self.reader = open_decord(path)

        def __len__(self) -> int:
            return len(self.reader)

        def get_frame_timestamp(self, indices: np.ndarray) -> np.ndarray:
            return self.reader.get_frame_timestamp(indices) + 9.2e15

    monkeypatch.setattr(video_module, "_open_decord", Absurd)
    video = NightVideo([path])
    assert video.backend_used == ("pyav",)
    np.testing.assert_allclose(video.timestamps_seconds, np.arange(10) / 10.0, atol=1e-4)
    np.testing.assert_array_equal(picked(video.clip(0.0, 1.0, 5)), [1, 3, 5, 7, 9])


def test_bad_inputs_raise_video_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="at least one video"):
        NightVideo([])
    with pytest.raises(VideoError, match="missing.mp4.*no such video file"):
        NightVideo([tmp_path / "missing.mp4"])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(VideoError, match="garbage.mp4.*not a readable video"):
        NightVideo([garbage])
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(b"")
    with pytest.raises(VideoError, match="zero.mp4.*empty"):
        NightVideo([zero])
    header_only = tmp_path / "header_only.mp4"
    with av.open(str(header_only), "w") as container:  # a finished MP4 without a single frame
        stream = container.add_stream("mjpeg", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuvj420p"
        container.start_encoding()
    with pytest.raises(VideoError, match="header_only.mp4"):
        NightVideo([header_only])
    short = write_frames(tmp_path / "short.mp4", np.arange(20) / 10.0)
    with pytest.raises(VideoError, match=r"short.mp4.*shorter than the PSG.*ends at 2.000 s"):
        NightVideo([short]).clips(np.array([0.0, 30.0]), 30.0, 4)


def test_jittered_clips_stay_in_their_slices_and_depend_on_the_seed(tmp_path: Path) -> None:
    video = NightVideo([write_frames(tmp_path / "v.mp4", np.arange(40) / 10.0)])
    clips = [video.clip(0.0, 4.0, 4, rng=np.random.default_rng(seed)) for seed in range(8)]
    for clip in clips:
        index = picked(clip)
        # slice k is [k, k + 1) s; its nearest frames are 10k .. 10k + 10
        assert np.all(index >= 10 * np.arange(4)) and np.all(index <= 10 * np.arange(4) + 10)
    assert len({picked(clip).tobytes() for clip in clips}) > 1
    np.testing.assert_array_equal(picked(video.clip(0.0, 4.0, 4)), [5, 15, 25, 35])  # centres without rng


def test_resize_progress_and_pickling(tmp_path: Path) -> None:
    video = NightVideo([write_frames(tmp_path / "v.mp4", np.arange(50) / 10.0)])
    clip = video.clip(0.0, 1.0, 3, size=(8, 12))
    assert clip.shape == (3, 8, 12) and clip.dtype == np.uint8
    np.testing.assert_array_equal(picked(clip), [2, 5, 8])
    assert video.clip(0.0, 1.0, 2, size=(40, 24)).shape == (2, 40, 24)
    calls: list[int] = []
    clips = video.clips(np.arange(0.0, 5.0, 1.0), 1.0, 4, size=(4, 4), progress=calls.append)
    assert clips.shape == (5, 4, 4, 4) and sum(calls) == 5
    copy = pickle.loads(pickle.dumps(video))  # dataloader workers get a copy that reopens its readers
    np.testing.assert_array_equal(copy.clip(0.0, 1.0, 3), video.clip(0.0, 1.0, 3))


def test_falls_back_when_decord_cannot_batch_decode_small_frames(tmp_path: Path) -> None:
    # decord's batch decoder fails on 16-pixel-wide frames; the night is read with PyAV instead
    video = NightVideo([write_frames(tmp_path / "small.mp4", np.arange(10) / 10.0, size_pixels=16)])
    assert video.backend_used == ("pyav",) and video.frame_size == (16, 16)
    np.testing.assert_array_equal(picked(video.clip(0.0, 1.0, 5)), [1, 3, 5, 7, 9])
