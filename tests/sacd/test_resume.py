"""A fit stopped after a checkpoint and resumed with --ckpt_path ends with the uninterrupted run's weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import distiller_config, write_config
from score_probe import MONITOR

from sacd.cli import SacdCLI


def _final_state(cli: SacdCLI) -> dict[str, torch.Tensor]:
    last = Path(cli.trainer.checkpoint_callback.dirpath) / "last.ckpt"  # (a test after the fit reloads the callback)
    return torch.load(last, map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.parametrize("class_path", ["distillers.Vanilla", "distillers.KD", "distillers.CRD", "distillers.SACD"])
@pytest.mark.parametrize("cache", [True, False])
def test_a_resumed_fit_ends_bit_identical_to_an_uninterrupted_one(tmp_path, tiny_teacher, class_path, cache):
    def config(name: str, epochs: int):
        values = distiller_config(tmp_path / name, class_path, str(tiny_teacher))
        values["trainer"].update(max_epochs=epochs, limit_train_batches=3, deterministic=True)
        values["model"]["init_args"]["cache_teacher_outputs"] = cache
        if cache:  # half the training subjects unscored: the draw of scored items only (Vanilla) resumes too
            values["data"]["init_args"]["scored_fraction"] = 0.5
        return str(write_config(tmp_path / f"{name}-{epochs}.yaml", values))

    uninterrupted = SacdCLI.create(["fit", "-c", config("whole", 3)])
    callback = uninterrupted.trainer.checkpoint_callback
    assert callback.best_model_path  # the best-by-validation checkpoint is still kept
    assert torch.load(callback.last_model_path, map_location="cpu", weights_only=True)["epoch"] == 2  # last = latest
    whole = _final_state(uninterrupted)
    stopped = SacdCLI.create(["fit", "-c", config("parts", 1)])  # as if killed right after the first checkpoint
    resumed = SacdCLI.create(["fit", "-c", config("parts", 3), "--ckpt_path", stopped.trainer.checkpoint_callback.last_model_path])
    assert resumed.trainer.current_epoch == 3
    final = _final_state(resumed)
    assert final.keys() == whole.keys()
    different = [key for key in whole if not torch.equal(whole[key], final[key])]
    assert not different, f"weights differ after resuming: {different[:5]}"


def _probed(values: dict) -> dict:
    """A fit whose best checkpoint, by a falling score, is the first epoch's; tested when it ends."""
    values["test_after_fit"] = True
    values["trainer"]["callbacks"] = [{"class_path": "score_probe.FallingScore"}]
    values["checkpoint"] = {"monitor": MONITOR, "mode": "max"}
    return values


def _tested(cli: SacdCLI) -> tuple[str, dict]:
    """The checkpoint a fit tested at its end (file name), and its test report."""
    tested = Path(cli.trainer.ckpt_path)
    return tested.name, json.loads(tested.with_name(tested.name.removesuffix(".ckpt") + ".test.json").read_text())


def test_a_resumed_fit_keeps_the_best_checkpoint_of_the_interrupted_run_and_tests_it(tmp_path, tiny_teacher):
    """The resumed run writes to a new logger version; it must still know that epoch 0 is the best
    (Lightning alone keeps the path but not the score, and tests the resumed run's first epoch)."""

    def config(name: str, epochs: int):
        values = _probed(distiller_config(tmp_path / name, "distillers.KD", str(tiny_teacher)))
        values["trainer"].update(max_epochs=epochs, limit_train_batches=2, deterministic=True)
        return str(write_config(tmp_path / f"{name}-{epochs}.yaml", values))

    whole = SacdCLI.create(["fit", "-c", config("whole", 3)])
    stopped = SacdCLI.create(["fit", "-c", config("parts", 2)])  # as if killed after epoch 1's checkpoint
    earlier = Path(stopped.trainer.checkpoint_callback.best_model_path)
    before = sorted(path.name for path in earlier.parent.iterdir())
    resumed = SacdCLI.create(["fit", "-c", config("parts", 3), "--ckpt_path", "last"])
    assert "version_1" in resumed.trainer.checkpoint_callback.dirpath and Path(resumed.trainer.ckpt_path) == earlier
    assert _tested(resumed) == _tested(whole) and _tested(whole)[0] == "epoch000.ckpt"
    assert sorted(path.name for path in earlier.parent.iterdir()) == before  # the earlier folder keeps its files


def test_each_rank_restores_its_own_random_states_and_a_changed_world_restores_none():
    from types import SimpleNamespace

    from sacd.callbacks import ResumableRandomness, random_states

    saved, expected = [], []
    for seed in (1, 2):  # rank r's stream was seeded with r + 1
        torch.manual_seed(seed)
        saved.append(random_states())
        expected.append(torch.rand(3))
    checkpoint = {"rng_states_per_rank": saved}
    for rank in (0, 1):
        callback = ResumableRandomness()
        callback.on_load_checkpoint(SimpleNamespace(world_size=2, global_rank=rank), None, checkpoint)
        torch.manual_seed(99)
        callback.on_train_epoch_start(None, None)
        assert torch.equal(torch.rand(3), expected[rank])
    callback = ResumableRandomness()
    with pytest.warns(UserWarning, match="holds random states for 2 process"):
        callback.on_load_checkpoint(SimpleNamespace(world_size=4, global_rank=0), None, checkpoint)
    assert callback._pending is None


def test_a_checkpoint_is_renamed_into_place_from_its_own_folder(tmp_path, monkeypatch):
    """Only a rename within one filesystem is atomic; the temporary name never looks like ``last``."""
    import os

    from sacd.checkpointing import AtomicCheckpointIO

    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda source, target: (renames.append((source, target)), real_replace(source, target)))
    target = tmp_path / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": torch.tensor(1)}, target)
    (source, destination), = renames
    assert Path(source).parent == Path(destination).parent == target.parent and "last" not in Path(source).name
    assert torch.load(target, weights_only=True)["step"] == 1
    assert [path.name for path in target.parent.iterdir()] == ["last.ckpt"]


def test_a_save_interrupted_midway_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    import sacd.checkpointing

    from sacd.checkpointing import AtomicCheckpointIO

    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": torch.tensor(1)}, target)
    before = target.read_bytes()

    def half_written(checkpoint, handle):
        handle.write(before[: len(before) // 2])
        raise KeyboardInterrupt  # as if the process stopped in the middle of writing

    monkeypatch.setattr(sacd.checkpointing.torch, "save", half_written)
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({"step": torch.tensor(2)}, target)
    assert target.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["last.ckpt"]


@pytest.mark.parametrize("delay_s", [0.0, 0.25])
def test_a_fit_killed_with_sigkill_resumes_with_ckpt_path_last_to_the_same_weights(tmp_path, tiny_teacher, delay_s):
    """SIGKILL once the first last.ckpt exists (plus a delay, so the kill lands in training or in a save),
    then ``sacd fit --ckpt_path last`` from the same config: it finds the killed run's checkpoint in
    the earlier logger version, ends bit-identical to a run that was never stopped, and tests the same
    best checkpoint with the same report."""
    import os
    import signal
    import subprocess
    import sys
    import time

    def config(name: str) -> str:
        values = _probed(distiller_config(tmp_path / name, "distillers.SACD", str(tiny_teacher)))
        values["trainer"].update(max_epochs=6, limit_train_batches=3, deterministic=True)
        return str(write_config(tmp_path / f"{name}.yaml", values))

    uninterrupted = SacdCLI.create(["fit", "-c", config("whole")])
    whole = _final_state(uninterrupted)
    killed_config = config("killed")
    (tmp_path / "cwd").mkdir()  # `-m` puts the working folder on sys.path: keep it empty
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent)}  # score_probe, and no tests/distillers
    process = subprocess.Popen([sys.executable, "-m", "sacd", "fit", "-c", killed_config], cwd=tmp_path / "cwd", env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not list((tmp_path / "killed").rglob("last.ckpt")):
        assert process.poll() is None and time.monotonic() < deadline, "the fit ended before writing last.ckpt"
        time.sleep(0.02)
    time.sleep(delay_s)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the fit finished before it could be killed"
    resumed = SacdCLI.create(["fit", "-c", killed_config, "--ckpt_path", "last"])
    assert resumed.trainer.current_epoch == 6 and "version_0" in str(resumed.trainer.ckpt_path)
    final = _final_state(resumed)
    different = [key for key in whole if not torch.equal(whole[key], final[key])]
    assert not different, f"weights differ after a SIGKILL and resume: {different[:5]}"
    assert _tested(resumed) == _tested(uninterrupted)  # the same best checkpoint, tested alike


def test_ckpt_path_last_without_an_earlier_run_starts_a_new_fit_and_says_so(tmp_path, tiny_teacher, capsys):
    values = distiller_config(tmp_path / "fresh", "distillers.KD", str(tiny_teacher))
    cli = SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "fresh.yaml", values)), "--ckpt_path", "last"])
    printed = capsys.readouterr().out
    assert f"no last.ckpt under {tmp_path / 'fresh' / 'kd'}; starting a new fit" in printed
    assert cli.trainer.ckpt_path is None and cli.trainer.current_epoch == 1
