"""Manifests: reading, validation, and building one from a folder by the naming rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamodules.recorded.discover import discover_nights, subject_id, subject_label
from datamodules.recorded.manifest import ManifestError, read_manifest, subject_index
from sacd.entry_point import main


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_csv_manifest_resolves_paths_segments_and_options(tmp_path):
    (tmp_path / "m.csv").write_text(
        "subject,night,psg,video,hypnogram,video_offset_seconds,eeg_channels\n"
        "SC4001,0,a/psg.edf,a/v1.mp4;a/v2.mp4,a/h.csv,2.5,Fpz-Cz\n"
        "SC4002,,b/psg.edf,b/v.mp4,b/h.txt,,\n"
    )
    first, second = read_manifest(tmp_path / "m.csv")
    assert first.subject == "SC4001" and first.night == 0 and first.video_offset_seconds == 2.5
    assert first.videos == ((tmp_path / "a/v1.mp4").resolve(), (tmp_path / "a/v2.mp4").resolve())
    assert first.eeg_channels == ("Fpz-Cz",) and second.eeg_channels is None
    assert second.night == 0 and second.video_offset_seconds == 0.0
    assert second.psg == (tmp_path / "b/psg.edf").resolve()
    assert subject_index([first, second]) == {"SC4001": 0, "SC4002": 1}


def test_yaml_manifest(tmp_path):
    (tmp_path / "m.yaml").write_text(
        "nights:\n  - {subject: 7, psg: p.edf, video: v.mp4, hypnogram: h.csv}\n"
        "  - {subject: 7, night: 1, psg: p2.edf, video: [v2a.mp4, v2b.mp4], hypnogram: h2.csv}\n"
    )
    entries = read_manifest(tmp_path / "m.yaml")
    assert [(e.subject, e.night, len(e.videos)) for e in entries] == [("7", 0, 1), ("7", 1, 2)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("subject,psg,video\n1,p.edf,v.mp4\n", "lacks the columns \\['hypnogram'\\]"),
        ("subject,psg,video,hypnogram\n1,p.edf,,h.csv\n", "row 2: empty \\['video'\\]"),
        ("subject,psg,video,hypnogram\n1,p.edf,v.mp4,h.csv\n1,q.edf,w.mp4,g.csv\n", "subject 1 night 0 more than once"),
        ("subject,psg,video,hypnogram,video_offset_seconds\n1,p.edf,v.mp4,h.csv,soon\n", "must be numbers"),
        ("subject,psg,video,hypnogram\n", "lists no nights"),
    ],
)
def test_bad_manifests_name_the_file_and_the_fix(tmp_path, text, message):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ManifestError, match=message):
        read_manifest(tmp_path / "m.csv")
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "none.csv")


def test_discover_follows_the_naming_rule(tmp_path):
    _touch(tmp_path, "sub-001/sub-001_night-0_psg.edf", "sub-001/sub-001_night-0_video.mp4",
           "sub-001/sub-001_night-0_hypnogram.csv", "sub-001/sub-001_night-0_hypnogram.edf",
           "p7_psg.bdf", "p7_video-b.mkv", "p7_video-a.mkv", "p7_hypnogram.txt", "notes.txt")  # fmt: skip
    rows = discover_nights(tmp_path)
    assert rows[0] == {"subject": "p7", "night": 0, "psg": "p7_psg.bdf", "video": "p7_video-a.mkv;p7_video-b.mkv",
                       "hypnogram": "p7_hypnogram.txt", "video_offset_seconds": 0.0}  # fmt: skip
    assert rows[1]["subject"] == 1 and rows[1]["hypnogram"].endswith("_hypnogram.csv")  # as sacd synth writes it
    _touch(tmp_path, "lonely_psg.edf")
    with pytest.raises(ValueError, match=r"lonely \(no video\)"):
        discover_nights(tmp_path)


def test_sacd_manifest_writes_a_readable_manifest_and_keeps_an_existing_one(tmp_path, capsys):
    _touch(tmp_path, "data/s1_psg.edf", "data/s1_video.mp4", "data/s1_hypnogram.csv")
    with pytest.raises(SystemExit) as done:
        main(["manifest", str(tmp_path / "data")])
    assert done.value.code == 0 and "1 night(s)" in capsys.readouterr().out
    (entry,) = read_manifest(tmp_path / "data" / "manifest.csv")
    assert entry.psg == (tmp_path / "data" / "s1_psg.edf").resolve()
    before = (tmp_path / "data" / "manifest.csv").read_text()
    with pytest.raises(SystemExit) as done:
        main(["manifest", str(tmp_path / "data")])
    assert done.value.code == 1 and "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "data" / "manifest.csv").read_text() == before
    with pytest.raises(SystemExit) as done:
        main(["manifest", str(tmp_path / "data"), "--out", str(tmp_path / "elsewhere.csv")])
    assert done.value.code == 0
    assert read_manifest(tmp_path / "elsewhere.csv")[0].videos == ((tmp_path / "data" / "s1_video.mp4").resolve(),)


@pytest.mark.parametrize(("label", "subject"), [("sub-001", 1), ("sub-12", 12), ("7", 7), ("sub-p7", "p7"), ("p7", "p7")])
def test_a_subject_label_and_its_id_map_both_ways(label, subject):
    assert subject_id(label) == subject
    assert subject_id(subject_label(subject)) == subject
    assert subject_label(1) == "sub-001"
