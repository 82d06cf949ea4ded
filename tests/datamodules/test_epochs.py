"""Per-night epoch arrays: standardisation and the memory-mapped disk cache."""

import numpy as np
import pytest

from datamodules.epochs import EpochStore, epoch_arrays, standardise_eeg, video_background


def _raw(seed=0, epochs=6):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, epochs)
    eeg = rng.normal(3e-6, 20e-6, size=(epochs, 2, 64))  # volts
    video = rng.integers(0, 256, size=(epochs, 3, 8, 8), dtype=np.uint8)
    return labels, eeg, video, np.arange(epochs) * 30.0


def test_eeg_is_standardised_per_channel_over_the_night():
    _, eeg, _, _ = _raw()
    out = standardise_eeg(eeg)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=(0, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2)), 1.0, atol=1e-4)


def test_video_clips_are_standardised_by_the_night_background():
    labels, eeg, video, onsets = _raw()
    arrays = epoch_arrays(labels, eeg, video, onsets)
    frames = video.reshape(-1, 8, 8).astype(np.float64)
    background = frames.mean(axis=0)
    residual = np.sqrt(((frames - background) ** 2).mean())
    clip = arrays.video_clip(2)
    assert clip.shape == (1, 3, 8, 8) and clip.dtype == np.float32
    np.testing.assert_allclose(clip[0], (video[2] - background) / residual, rtol=1e-5, atol=1e-5)
    # a constant video has no residual: the SD floor keeps the clip finite
    flat_background, flat_residual = video_background(np.full((2, 3, 4, 4), 7, dtype=np.uint8))
    assert flat_residual == 1.0 and np.all(flat_background == 7)


def test_disk_store_builds_once_and_memory_maps(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return epoch_arrays(*_raw())

    first = EpochStore(tmp_path).get("night-a", build)
    again = EpochStore(tmp_path).get("night-a", build)  # a new process: read from disk
    assert len(calls) == 1
    assert isinstance(again.video, np.memmap) and isinstance(again.eeg, np.memmap)
    for name in ("labels", "eeg", "video", "background", "onsets"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert again.residual == pytest.approx(first.residual)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_interrupted_build_leaves_nothing_behind(tmp_path):
    def broken():
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        EpochStore(tmp_path).get("night-b", broken)
    assert list(tmp_path.iterdir()) == []


def test_memory_store_keeps_arrays_without_a_folder():
    store = EpochStore()
    calls = []
    arrays = store.get("k", lambda: calls.append(1) or epoch_arrays(*_raw()))
    assert store.get("k", lambda: calls.append(1) or epoch_arrays(*_raw())) is arrays
    assert len(calls) == 1
