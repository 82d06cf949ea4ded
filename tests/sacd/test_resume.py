"""A fit stopped after a checkpoint and resumed with --ckpt_path ends with the uninterrupted run's weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import distiller_config, write_config

from sacd.cli import SacdCLI


def _final_state(cli: SacdCLI) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(cli.trainer.checkpoint_callback.last_model_path, map_location="cpu", weights_only=False)
    return checkpoint["state_dict"]


@pytest.mark.parametrize("class_path", ["distillers.Vanilla", "distillers.KD", "distillers.CRD", "distillers.SACD"])
@pytest.mark.parametrize("cache", [True, False])
def test_a_resumed_fit_ends_bit_identical_to_an_uninterrupted_one(tmp_path, tiny_teacher, class_path, cache):
    def config(name: str, epochs: int):
        values = distiller_config(tmp_path / name, class_path, str(tiny_teacher))
        values["trainer"].update(max_epochs=epochs, limit_train_batches=3, deterministic=True)
        values["model"]["init_args"]["cache_teacher_outputs"] = cache
        return str(write_config(tmp_path / f"{name}-{epochs}.yaml", values))

    uninterrupted = SacdCLI.create(["fit", "-c", config("whole", 3)])
    callback = uninterrupted.trainer.checkpoint_callback
    assert callback.best_model_path  # the best-by-validation checkpoint is still kept
    assert torch.load(callback.last_model_path, map_location="cpu", weights_only=False)["epoch"] == 2  # last = latest
    whole = _final_state(uninterrupted)
    stopped = SacdCLI.create(["fit", "-c", config("parts", 1)])  # as if killed right after the first checkpoint
    resumed = SacdCLI.create(["fit", "-c", config("parts", 3), "--ckpt_path", stopped.trainer.checkpoint_callback.last_model_path])
    assert resumed.trainer.current_epoch == 3
    final = _final_state(resumed)
    assert final.keys() == whole.keys()
    different = [key for key in whole if not torch.equal(whole[key], final[key])]
    assert not different, f"weights differ after resuming: {different[:5]}"


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
    the earlier logger version and ends bit-identical to a run that was never stopped."""
    import os
    import signal
    import subprocess
    import sys
    import time

    def config(name: str) -> str:
        values = distiller_config(tmp_path / name, "distillers.SACD", str(tiny_teacher))
        values["trainer"].update(max_epochs=6, limit_train_batches=3, deterministic=True)
        return str(write_config(tmp_path / f"{name}.yaml", values))

    whole = _final_state(SacdCLI.create(["fit", "-c", config("whole")]))
    killed_config = config("killed")
    (tmp_path / "cwd").mkdir()  # `-m` puts the working folder on sys.path: keep it empty
    process = subprocess.Popen([sys.executable, "-m", "sacd", "fit", "-c", killed_config], cwd=tmp_path / "cwd",
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


def test_ckpt_path_last_without_an_earlier_run_starts_a_new_fit_and_says_so(tmp_path, tiny_teacher, capsys):
    values = distiller_config(tmp_path / "fresh", "distillers.KD", str(tiny_teacher))
    cli = SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "fresh.yaml", values)), "--ckpt_path", "last"])
    printed = capsys.readouterr().out
    assert f"no last.ckpt under {tmp_path / 'fresh' / 'kd'}; starting a new fit" in printed
    assert cli.trainer.ckpt_path is None and cli.trainer.current_epoch == 1
