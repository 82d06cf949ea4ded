"""A checkpoint from a stranger cannot run code: one whose pickle would create a file is refused
everywhere the project reads checkpoints, and the file never appears."""

from __future__ import annotations

import pathlib
from pathlib import Path

import pytest
import torch
from conftest import distiller_config, write_config

from sacd.cli import SacdCLI
from sacd.safe_checkpoints import UnsafeCheckpointError, load_checkpoint

REPO = Path(__file__).resolve().parents[2]


class _CreatesAFile:
    """Unpickling this calls ``Path.touch`` on the marker: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.fixture
def crafted(tmp_path: Path, tiny_teacher: Path) -> tuple[Path, Path]:
    """A real teacher checkpoint with one object added that would create ``marker`` when loaded."""
    marker = tmp_path / "marker"
    checkpoint = torch.load(tiny_teacher, map_location="cpu", weights_only=True)
    checkpoint["extra"] = _CreatesAFile(marker)
    path = tmp_path / "shared.ckpt"
    torch.save(checkpoint, path)
    torch.load(path, map_location="cpu", weights_only=False)  # the file does what it is made to do ...
    assert marker.is_file()
    marker.unlink()  # ... when it is trusted
    return path, marker


def test_the_loader_refuses_it_and_says_how_to_convert_a_trusted_file(crafted):
    path, marker = crafted
    with pytest.raises(UnsafeCheckpointError, match=r"refused.*can run code.*weights_only=False"):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("use", ["teacher", "fit", "test", "predict"])
def test_every_command_refuses_it_before_it_can_run(tmp_path, crafted, tiny_teacher, use):
    path, marker = crafted
    config = write_config(tmp_path / "kd.yaml", distiller_config(tmp_path, "distillers.KD", str(tiny_teacher)))
    args = {
        "teacher": ["fit", "-c", str(config), "--model.init_args.teacher_checkpoint", str(path)],
        "fit": ["fit", "-c", str(config), "--ckpt_path", str(path)],
        "test": ["test", "-c", str(config), "--ckpt_path", str(path)],
        "predict": ["predict", "-c", str(REPO / "experiments" / "predict.yaml"), "--ckpt_path", str(path),
                    "--data.video", str(tmp_path / "night.mp4")],
    }[use]
    with pytest.raises(UnsafeCheckpointError, match=str(path.name)):
        SacdCLI.create(args)
    assert not marker.exists()


def test_a_sweep_run_left_with_it_as_last_ckpt_refuses_to_resume_from_it(tmp_path, crafted):
    from sacd.sweeps.runner import _resumable_checkpoint

    path, marker = crafted
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    last = run_dir / "checkpoints" / "last.ckpt"
    last.write_bytes(path.read_bytes())
    with pytest.raises(UnsafeCheckpointError, match="last.ckpt"):
        _resumable_checkpoint(run_dir)
    assert not marker.exists() and last.is_file()  # refused, and left where it was


def test_the_project_s_own_checkpoints_load_under_the_restriction(tiny_teacher):
    checkpoint = load_checkpoint(tiny_teacher)  # hyper-parameters, states, callbacks, random states
    assert checkpoint["state_dict"] and checkpoint["hyper_parameters"]["_class_path"] == "sacd.EEGTeacher"
