"""`sacd synth` end to end with the real generator: files that read back as the generated night."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from datamodules.generator.assemble import epoch_frame_indices, generate_night
from datamodules.generator.export import DERIVATION_LABELS, read_hypnogram_csv, read_manifest
from datamodules.recorded.discover import discover_nights
from sacd.entry_point import main


def test_sacd_synth_exports_nights_that_read_back(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["synth", "--out", str(tmp_path), "--subjects", "2", "--hours", "0.25", "--size", "16",
              "--codec", "mjpeg", "--seed", "5"])  # fmt: skip
    assert done.value.code == 0
    assert str(tmp_path) in capsys.readouterr().out
    rows = read_manifest(tmp_path / "manifest.csv")
    assert [row["subject"] for row in rows] == [1, 2]
    assert [row["subject"] for row in discover_nights(tmp_path)] == [1, 2]  # `sacd manifest` names them alike
    for row in rows:
        night = generate_night(seed=5, subject=row["subject"], hours=0.25, video_size=16, scorer=0)
        raw = mne.io.read_raw_edf(tmp_path / row["psg"], infer_types=True, preload=True, verbose="error")
        assert tuple(raw.ch_names) == tuple(DERIVATION_LABELS.get(name, name) for name in night.channel_names)
        assert raw.info["sfreq"] == night.sample_rate
        step = np.ptp(night.signals, axis=1, keepdims=True) / 65535  # EDF's 16-bit resolution
        assert np.all(np.abs(raw.get_data() - night.signals) <= step)
        np.testing.assert_array_equal(read_hypnogram_csv(tmp_path / row["hypnogram"]), night.labels)
        assert (tmp_path / row["video"]).stat().st_size > 0
        assert (tmp_path / row["psg"]).with_name(f"sub-{row['subject']:03d}_night-0_report.png").is_file()
    # the training clips of the exported night are the frames the datamodule would sample
    indices = epoch_frame_indices(night.num_epochs, 4, night.video_fps)
    assert indices.shape == (30, 4) and indices.max() < night.num_frames
