"""Damaged, empty, unreadable, missing or too-short recordings: ``sacd fit`` and ``sacd predict`` stop with one
error that names the file and the fix, and leave earlier results and the epoch cache as they were."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import distiller_config, write_config
from faultkit import (  # noqa: F401 - fixtures are found by name
    _one_torch_thread,
    finished_run,
    DenyWrites,
    assert_no_partials,
    assert_unchanged,
    copy_of,
    cut_video,
    deny_reads,
    fit,
    new_entries,
    session_folder,
    snapshot,
    synthesize_nights,
)

from datamodules.recorded import RecordedNights
from datamodules.recorded.manifest import NightEntry
from datamodules.recorded.psg import RecordingError
from datamodules.recorded.video import VideoError
from sacd.cli import SacdCLI

REPO = Path(__file__).resolve().parents[2]
PREDICT = str(REPO / "experiments" / "predict.yaml")
DATA_ARGS = {"frames": 4, "frame_size": 16, "val_subjects": 1, "test_subjects": 1, "batch_size": 8}


@pytest.fixture
def nights(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A private copy of three synthetic nights (EDF+, MJPEG, CSV, manifest) to damage."""
    return copy_of(session_folder("nights", tmp_path_factory, synthesize_nights), tmp_path / "data")


@dataclass
class Workspace:
    """A recorded-data fit about to meet a damaged training night, beside results it must not touch."""

    root: Path
    data: Path
    runs: Path
    cache: Path
    config: Path
    night: NightEntry  # a training night: read while the run is built, before anything is written
    before: dict[str, str]

    def fit_fails(self, error: type[Exception], *fragments: str) -> str:
        """Run the fit; check the error names what it must, and that nothing written before was touched."""
        with pytest.raises(error) as caught:
            fit(["-c", str(self.config)])
        message = str(caught.value)
        for fragment in fragments:
            assert fragment in message, f"{fragment!r} not in: {message}"
        for name, root in {"runs": self.runs, "cache": self.cache}.items():
            prefix = f"{name}/"
            kept = {key.removeprefix(prefix): value for key, value in self.before.items() if key.startswith(prefix)}
            assert_unchanged(kept, root)
            assert not new_entries(kept, root), f"the failed fit wrote into {root}"
        assert_no_partials(self.root)
        return message


@pytest.fixture
def workspace(tmp_path: Path, nights: Path, finished_run: Path, tiny_teacher: Path) -> Workspace:
    runs = copy_of(finished_run, tmp_path / "runs")
    cache = tmp_path / "cache"
    manifest = nights / "manifest.csv"
    config = distiller_config(runs, "distillers.KD", str(tiny_teacher))
    config["data"] = {"class_path": "datamodules.RecordedNights",
                      "init_args": {"manifest": str(manifest), "cache_dir": str(cache), **DATA_ARGS}}  # fmt: skip
    data = RecordedNights(manifest=str(manifest), cache_dir=str(cache), **DATA_ARGS)
    (train,) = data.nights_of(data.split.train)
    for entry in data.entries:  # earlier runs cached the other nights: a failure must keep them
        if entry != train:
            data.night(entry)
    before = {f"runs/{k}": v for k, v in snapshot(runs).items()} | {f"cache/{k}": v for k, v in snapshot(cache).items()}
    assert any(key.startswith("cache/") for key in before)
    return Workspace(tmp_path, nights, runs, cache, write_config(tmp_path / "fit.yaml", config), train, before)


# -- the PSG (EDF) ------------------------------------------------------------------------------------


def test_an_edf_of_garbage_bytes_is_named_as_unreadable(workspace: Workspace) -> None:
    """A file that is no EDF at all: MNE's 'Bad EDF file' must come with the path and what to do."""
    workspace.night.psg.write_bytes(np.random.default_rng(0).bytes(4096))
    workspace.fit_fails(RecordingError, str(workspace.night.psg), "cannot be read as a recording", "export it again")


def test_an_edf_whose_header_is_garbage_is_called_damaged_not_a_channel_mismatch(workspace: Workspace) -> None:
    """Garbage over the channel labels must not send the user renaming channels."""
    psg = workspace.night.psg
    content = bytearray(psg.read_bytes())
    signals = int(content[252:256].decode())
    content[256 : 256 + 16 * signals] = np.random.default_rng(1).bytes(16 * signals)
    psg.write_bytes(bytes(content))
    message = workspace.fit_fails(RecordingError, str(psg), "header is damaged", "re-export it")
    assert "CHANNEL_ALIASES" not in message


def test_a_truncated_edf_is_named_with_the_bytes_missing(workspace: Workspace) -> None:
    """MNE would read a cut EDF silently short; the reader must refuse it and say it is truncated."""
    psg = workspace.night.psg
    content = psg.read_bytes()
    psg.write_bytes(content[: len(content) // 2])
    workspace.fit_fails(RecordingError, str(psg), "is truncated", f"the file has {len(content) // 2} bytes",
                        "copy the file again")  # fmt: skip


# -- any of the night's files ----------------------------------------------------------------------


def _night_file(night: NightEntry, kind: str) -> Path:
    return {"psg": night.psg, "video": night.videos[0], "hypnogram": night.hypnogram}[kind]


@pytest.mark.parametrize("kind", ["psg", "video", "hypnogram"])
def test_a_zero_byte_file_is_called_empty(workspace: Workspace, kind: str) -> None:
    """A failed copy leaves 0 bytes: say so, rather than 'bad EDF', 'no labels' or 'undecodable video'."""
    path = _night_file(workspace.night, kind)
    path.write_bytes(b"")
    error = VideoError if kind == "video" else RecordingError
    workspace.fit_fails(error, str(path), "empty (0 bytes)", "copy")


@pytest.mark.parametrize("kind", ["psg", "video", "hypnogram"])
def test_an_unreadable_file_is_called_a_permission_problem(workspace: Workspace, kind: str) -> None:
    """Permission denied is not corruption: the message must say to make the file readable."""
    path = _night_file(workspace.night, kind)
    error = VideoError if kind == "video" else RecordingError
    with deny_reads(path):
        message = workspace.fit_fails(error, str(path), "Permission denied", "make the file readable")
    assert "re-encode" not in message and "export it again" not in message


# -- the video ---------------------------------------------------------------------------------------


def test_a_truncated_video_is_named_as_incomplete(workspace: Workspace) -> None:
    """An MP4 cut in half has lost its index (moov atom): decord and PyAV both fail; one error names the file."""
    video = workspace.night.videos[0]
    content = video.read_bytes()
    video.write_bytes(content[: len(content) // 2])
    workspace.fit_fails(VideoError, str(video), "not a readable video", "complete MP4", "re-encode")


def test_a_missing_video_is_named_with_the_manifest_fix(workspace: Workspace) -> None:
    """A manifest row pointing at a video that is not there fails before any file is read."""
    video = workspace.night.videos[0]
    video.unlink()
    workspace.fit_fails(RecordingError, "missing file(s)", str(video), "fix the paths in the manifest")


def test_a_video_shorter_than_the_night_names_the_missing_time(workspace: Workspace) -> None:
    """A 20 s clip cannot give the epochs of a 12-minute PSG: say where the video ends and how to fix it."""
    video = workspace.night.videos[0]
    short = cut_video(video, workspace.root / "short.mp4", 20.0)
    short.replace(video)
    workspace.fit_fails(VideoError, str(video), "shorter than the PSG", "ends at 20.000 s", "add the missing segment")


# -- the hypnogram -----------------------------------------------------------------------------------


def test_a_hypnogram_with_unknown_labels_lists_them_and_the_accepted_ones(workspace: Workspace) -> None:
    """Unknown stage names are listed all at once with the accepted spelling, never guessed."""
    hypnogram = workspace.night.hypnogram
    lines = hypnogram.read_text().splitlines()
    stage = lines[0].split(",").index("stage")
    for row, name in ((3, "Stage X"), (5, "deep")):
        fields = lines[row].split(",")
        fields[stage] = name
        lines[row] = ",".join(fields)
    hypnogram.write_text("\n".join(lines) + "\n")
    workspace.fit_fails(RecordingError, str(hypnogram), "unknown sleep stage labels ['Stage X', 'deep']",
                        "accepted labels are", "Rename these labels")  # fmt: skip


# -- sacd predict ------------------------------------------------------------------------------------


def _predict(student: Path, out: Path, *extra: str) -> SacdCLI:
    return SacdCLI.create(["predict", "-c", PREDICT, "--ckpt_path", str(student),
                           "--trainer.callbacks.init_args.output_dir", str(out), *extra])  # fmt: skip


@dataclass
class Staging:
    """Nights already staged into ``out`` by an earlier ``sacd predict``, and the student that staged them."""

    root: Path
    out: Path
    student: Path
    nights: Path
    before: dict[str, str]

    def predict_fails(self, error: type[Exception], fragments: tuple[str, ...], *extra: str) -> str:
        with pytest.raises(error) as caught:
            _predict(self.student, self.out, *extra)
        message = str(caught.value)
        for fragment in fragments:
            assert fragment in message, f"{fragment!r} not in: {message}"
        assert_unchanged(self.before, self.out)
        assert not new_entries(self.before, self.out), "the failed prediction wrote outputs"
        assert_no_partials(self.root)
        return message


def _stage_one_night(folder: Path, nights: Path, student: Path) -> None:
    _predict(student, folder, "--data.video", str(nights / "sub-001" / "sub-001_night-0_video.mp4"))
    assert (folder / "sub-001_night-0_video" / "summary.json").is_file()


@pytest.fixture
def staging(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, nights: Path, finished_run: Path) -> Staging:
    student = finished_run / "kd" / "version_0" / "checkpoints" / "last.ckpt"
    source = session_folder("nights", tmp_path_factory, synthesize_nights)
    staged = session_folder("staged", tmp_path_factory, lambda folder: _stage_one_night(folder, source, student))
    out = copy_of(staged, tmp_path / "out")
    return Staging(tmp_path, out, student, nights, snapshot(out))


def test_predict_on_a_truncated_video_fails_before_staging_and_keeps_earlier_nights(staging: Staging) -> None:
    """The video is indexed before any epoch is staged, so no partial night appears next to the finished one."""
    video = staging.nights / "sub-002" / "sub-002_night-0_video.mp4"
    content = video.read_bytes()
    video.write_bytes(content[: len(content) // 3])
    staging.predict_fails(VideoError, (str(video), "not a readable video", "re-encode"), "--data.video", str(video))


def test_predict_with_a_missing_video_in_the_manifest_stages_nothing(staging: Staging) -> None:
    """One bad row stops the whole manifest before the good rows are staged (all videos are opened first)."""
    good = staging.nights / "sub-002" / "sub-002_night-0_video.mp4"
    missing = staging.nights / "sub-000" / "absent.mp4"
    manifest = staging.root / "nights.csv"
    manifest.write_text(f"name,video\ngood,{good}\nbad,{missing}\n")
    staging.predict_fails(VideoError, (str(missing), "no such video file", "check the path"),
                          "--data.manifest", str(manifest))  # fmt: skip


def test_predict_on_a_clip_shorter_than_an_epoch_names_its_length(staging: Staging) -> None:
    """A 20 s clip holds no whole 30 s epoch: there is nothing to stage, and the message says why."""
    clip = cut_video(staging.nights / "sub-002" / "sub-002_night-0_video.mp4", staging.root / "clip.mp4", 20.0)
    staging.predict_fails(VideoError, (str(clip), "is 20.0 s long", "shorter than one 30 s epoch"),
                          "--data.video", str(clip))  # fmt: skip


def test_predict_on_an_unreadable_video_is_a_permission_error(staging: Staging) -> None:
    """The decoders call an unreadable file undecodable; the message must say permission denied instead."""
    video = staging.nights / "sub-002" / "sub-002_night-0_video.mp4"
    with deny_reads(video):
        staging.predict_fails(VideoError, (str(video), "Permission denied", "make the file readable"),
                              "--data.video", str(video))  # fmt: skip


def test_predict_into_an_unwritable_folder_fails_before_decoding(staging: Staging) -> None:
    """An output folder that cannot be written is named before a night of video is decoded."""
    video = staging.nights / "sub-002" / "sub-002_night-0_video.mp4"
    with DenyWrites(staging.out):
        staging.predict_fails(PermissionError, (str(staging.out), "cannot write predictions", "output_dir"),
                              "--data.video", str(video),
                              "--trainer.callbacks.init_args.overwrite", "true")  # fmt: skip
