"""Where a run writes and what it prints: loggers named after the method, CSV and TensorBoard in one
version folder, nothing written by fast_dev_run, and a progress bar that suits the output."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import distiller_config, write_config
from lightning.pytorch.callbacks import RichProgressBar

from sacd.cli import SacdCLI
from sacd.progress import LineProgressBar, NightProgressBar, default_progress_bar


def _unnamed_loggers(config: dict, root: Path) -> dict:
    config["trainer"]["logger"] = [
        {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(root)}},
        {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": {"save_dir": str(root)}},
    ]
    return config


def test_each_method_logs_under_its_own_name_with_csv_and_tensorboard_in_one_version(tmp_path, tiny_teacher):
    path = write_config(tmp_path / "kd.yaml", _unnamed_loggers(distiller_config(tmp_path, "distillers.KD", str(tiny_teacher)), tmp_path))
    SacdCLI.create(["fit", "-c", str(path)])  # a first version, so the two loggers must agree on the next
    cli = SacdCLI.create(["fit", "-c", str(path), "--model", "distillers.Vanilla"])
    assert [Path(logger.log_dir) for logger in cli.trainer.loggers] == [tmp_path / "vanilla" / "version_0"] * 2
    cli = SacdCLI.create(["fit", "-c", str(path)])
    folder = tmp_path / "kd" / "version_1"
    assert [Path(logger.log_dir) for logger in cli.trainer.loggers] == [folder] * 2
    assert (folder / "metrics.csv").is_file() and list(folder.glob("events.out.tfevents.*"))
    assert Path(cli.trainer.checkpoint_callback.dirpath) == folder / "checkpoints"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kd", "kd.yaml", "vanilla"]


def test_an_explicit_logger_name_is_kept(tmp_path, tiny_teacher):
    path = write_config(tmp_path / "kd.yaml", distiller_config(tmp_path, "distillers.KD", str(tiny_teacher)))
    cli = SacdCLI.create(["fit", "-c", str(path), "--model", "distillers.Vanilla"])
    assert Path(cli.trainer.logger.log_dir).parent.name == "kd"  # the config's own name wins


def test_fast_dev_run_writes_nothing(tmp_path, tiny_teacher, capsys):
    config = distiller_config(tmp_path / "runs", "distillers.KD", str(tiny_teacher))
    path = write_config(tmp_path / "kd.yaml", config)
    SacdCLI.create(["fit", "-c", str(path), "--trainer.fast_dev_run", "true", "--test_after_fit", "true"])
    assert "fast_dev_run: nothing written" in capsys.readouterr().out
    assert not (tmp_path / "runs").exists() or not any(p.is_file() for p in (tmp_path / "runs").rglob("*"))


def test_output_that_is_not_a_terminal_gets_whole_lines(tmp_path, tiny_teacher, capfd):
    config = distiller_config(tmp_path, "distillers.KD", str(tiny_teacher))
    config["trainer"].update(enable_progress_bar=True, max_epochs=2)
    config["test_after_fit"] = True
    cli = SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "kd.yaml", config))])
    assert isinstance(cli.trainer.progress_bar_callback, LineProgressBar)
    out, err = capfd.readouterr()
    assert "\r" not in out + err
    epochs = [line for line in out.splitlines() if line.startswith("Epoch ")]
    assert [line.split(" done")[0] for line in epochs] == ["Epoch 1/2", "Epoch 2/2"]
    assert all("epochs/s" in line and "val/macro_f1" in line for line in epochs)
    assert any(line.startswith("Testing done: ") for line in out.splitlines())
    assert out.count("accuracy ") == 1  # the staging table once, not Lightning's table beside it


def test_a_terminal_gets_a_live_bar_and_a_configured_bar_is_kept():
    assert isinstance(default_progress_bar("fit", interactive=True), RichProgressBar)
    assert isinstance(default_progress_bar("predict", interactive=True), NightProgressBar)
    assert isinstance(default_progress_bar("fit", interactive=False), LineProgressBar)
    with pytest.raises(ValueError, match="every_seconds"):
        LineProgressBar(every_seconds=0)


def test_lines_in_an_epoch_come_at_most_every_interval(tmp_path, tiny_teacher, capfd):
    config = distiller_config(tmp_path, "distillers.KD", str(tiny_teacher))
    config["trainer"].update(enable_progress_bar=True, limit_train_batches=3,
                             callbacks=[{"class_path": "sacd.progress.LineProgressBar",
                                         "init_args": {"every_seconds": 1e-9}}])  # fmt: skip
    cli = SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "kd.yaml", config))])
    assert isinstance(cli.trainer.progress_bar_callback, LineProgressBar)  # the configured one, not a second
    lines = capfd.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines if "batches" in line] == [f"Epoch 1/1: {i}/3 batches" for i in (1, 2, 3)]
