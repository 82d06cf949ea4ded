"""The ``sacd`` LightningCLI: subcommands, config round trips, data links, errors, teacher chaining."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY_DATA, distiller_config, run_main, teacher_config, trainer_config, write_config

from sacd.cli import SacdCLI


def test_help_lists_the_distillers_and_datamodules():
    text, code = run_main(["fit", "--help"])
    assert code == 0
    for name in ("distillers.KD", "distillers.FitNets", "distillers.Vanilla", "sacd.EEGTeacher"):
        assert name in text
    top, _ = run_main(["--help"])
    assert "distillers.KD" in top and "datamodules.SyntheticNights" in top


@pytest.mark.parametrize("command", ["fit", "validate", "test", "predict"])
def test_help_opens_with_the_usual_command(command):
    text, code = run_main([command, "--help"])
    assert code == 0
    usage, description = text.split("\n\n")[:2]
    assert usage.startswith(f"usage: sacd {command} -c ") and usage.count("\n") == 0  # one line, not every option
    assert description.strip()
    if command == "predict":
        assert "experiments/predict.yaml" in usage and "--data.video NIGHT.mp4" in usage
        assert "--data.manifest" in description


def test_print_config_round_trips(tmp_path, tiny_teacher):
    config = write_config(tmp_path / "kd.yaml", distiller_config(tmp_path, "distillers.KD", str(tiny_teacher)))
    first, code = run_main(["fit", "-c", str(config), "--model.init_args.temperature", "2.5", "--print_config"])
    assert code == 0
    printed = tmp_path / "printed.yaml"
    printed.write_text(first)
    second, code = run_main(["fit", "-c", str(printed), "--print_config"])
    assert code == 0 and second == first
    loaded = yaml.safe_load(first)
    assert loaded["model"]["init_args"]["temperature"] == 2.5
    # data-dependent values are linked, not configured
    assert "num_classes" not in loaded["model"]["init_args"]
    assert "video_shape" not in loaded["model"]["init_args"]
    # and the printed config reproduces the run: same seed, same losses and metrics
    original = SacdCLI.create(["fit", "-c", str(config), "--model.init_args.temperature", "2.5"])
    replayed = SacdCLI.create(["fit", "-c", str(printed)])
    for key in ("train/loss", "train/kd", "val/macro_f1", "val/loss"):
        assert float(replayed.trainer.callback_metrics[key]) == float(original.trainer.callback_metrics[key]), key


def test_datamodule_values_are_linked_into_the_model(tmp_path, tiny_teacher):
    config = write_config(tmp_path / "kd.yaml", distiller_config(tmp_path, "distillers.KD", str(tiny_teacher)))
    cli = SacdCLI.create(["fit", "-c", str(config), "--trainer.fast_dev_run", "true"])
    data, model = cli.datamodule, cli.model
    assert model.num_classes == data.num_classes == 5
    assert model.class_names == list(data.class_names) == ["W", "N1", "N2", "N3", "REM"]
    assert model.video_shape == tuple(data.video_shape) == (1, 4, 32, 32)
    assert model.eeg_shape == tuple(data.eeg_shape)
    assert model.num_train_samples == data.num_train_samples == 4 * 24
    assert model.hparams["num_train_samples"] == 96


def test_typo_in_a_config_key_fails_with_a_clear_error(tmp_path, tiny_teacher):
    config = distiller_config(tmp_path, "distillers.KD", str(tiny_teacher))
    config["model"]["init_args"]["temprature"] = 3.0
    path = write_config(tmp_path / "typo.yaml", config)
    text, code = run_main(["fit", "-c", str(path)])
    assert code == 2
    assert "temprature" in text
    text, code = run_main(
        ["fit", "-c", str(write_config(tmp_path / "ok.yaml", distiller_config(tmp_path, "distillers.KD", None))),
         "--trainer.max_epoch", "3"]
    )
    assert code == 2 and "max_epoch" in text


def test_fit_then_test_from_the_checkpoint_reproduces_the_metrics(tmp_path, tiny_teacher):
    config = distiller_config(tmp_path, "distillers.KD", str(tiny_teacher))
    config["test_after_fit"] = True
    path = write_config(tmp_path / "kd.yaml", config)
    cli = SacdCLI.create(["fit", "-c", str(path)])
    best = Path(cli.trainer.checkpoint_callback.best_model_path)
    written = json.loads((best.parent / f"{best.stem}.test.json").read_text())
    assert set(written["per_class_f1"]) == {"W", "N1", "N2", "N3", "REM"}
    assert sum(map(sum, written["confusion"])) == written["num_epochs"] == 24
    rows = list(csv.DictReader((best.parent / f"{best.stem}.test_predictions.csv").open()))
    assert len(rows) == 24 and list(rows[0])[:4] == ["subject", "epoch", "label", "pred"]
    confusion = [[0] * 5 for _ in range(5)]
    for row in rows:
        probs = [float(row[f"p_{stage}"]) for stage in ("W", "N1", "N2", "N3", "REM")]
        assert sum(probs) == pytest.approx(1.0, abs=1e-4) and int(row["pred"]) == probs.index(max(probs))
        confusion[int(row["label"])][int(row["pred"])] += 1
    assert confusion == written["confusion"]  # the per-epoch file and the metrics describe the same test
    environment = json.loads((Path(cli.trainer.log_dir) / "environment.json").read_text())
    assert environment["versions"]["torch"] and environment["versions"]["git"]
    assert (Path(cli.trainer.log_dir) / "config.yaml").is_file()  # the resolved config, beside them
    assert [int(row["epoch"]) for row in rows] == list(range(24))  # one test night, in order

    (best.parent / f"{best.stem}.test.json").unlink()
    tester = SacdCLI.create(["test", "-c", str(path), "--ckpt_path", str(best)])
    again = json.loads((best.parent / f"{best.stem}.test.json").read_text())
    assert again == written
    logged = tester.trainer.callback_metrics
    assert float(logged["test/acc"]) == pytest.approx(written["acc"])
    assert float(logged["test/kappa"]) == pytest.approx(written["kappa"])


def test_teacher_is_frozen_and_absent_from_the_student_checkpoint(tmp_path, tiny_teacher):
    path = write_config(tmp_path / "kd.yaml", distiller_config(tmp_path, "distillers.KD", str(tiny_teacher)))
    teacher_before = {k: v.clone() for k, v in torch.load(tiny_teacher, weights_only=True)["state_dict"].items()}
    cli = SacdCLI.create(["fit", "-c", str(path)])
    model = cli.model
    assert not model.teacher.training
    assert all(not p.requires_grad for p in model.teacher.parameters())
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[f"net.{key}"]), key  # bit-identical after training

    checkpoint = torch.load(cli.trainer.checkpoint_callback.last_model_path, weights_only=True)
    assert not [k for k in checkpoint["state_dict"] if k.startswith("teacher.")]
    assert any(k.startswith("student.") for k in checkpoint["state_dict"])
    hparams = checkpoint["hyper_parameters"]
    assert hparams["teacher_checkpoint"] == str(tiny_teacher)
    from sacd.hashing import file_sha256

    assert hparams["teacher_sha256"] == file_sha256(tiny_teacher)


def test_teacher_config_is_trained_once_and_cached(tmp_path, capsys):
    teacher_yaml = write_config(tmp_path / "teacher.yaml", teacher_config(tmp_path / "t"))
    config = distiller_config(tmp_path, "distillers.KD", None, teacher_config=str(teacher_yaml),
                              teacher_cache_dir=str(tmp_path / "cache"))
    config["trainer"] = trainer_config(tmp_path, "kd", fast_dev_run=True)
    path = write_config(tmp_path / "kd.yaml", config)
    first = SacdCLI.create(["fit", "-c", str(path)])
    assert "Training the EEG teacher" in capsys.readouterr().out
    cached = list((tmp_path / "cache").glob("*/teacher.ckpt"))
    assert len(cached) == 1
    assert first.model.hparams["teacher_checkpoint"] == str(cached[0])
    tested = json.loads(cached[0].with_name("teacher.test.json").read_text())  # the level students are read against
    assert tested["num_epochs"] == 24 and len(tested["subjects"]) == 1

    second = SacdCLI.create(["fit", "-c", str(path)])
    assert "Using cached EEG teacher" in capsys.readouterr().out
    assert second.model.hparams["teacher_sha256"] == first.model.hparams["teacher_sha256"]
    # the student starts from the same weights whether the teacher was trained or cached
    for (name, a), (_, b) in zip(first.model.student.state_dict().items(), second.model.student.state_dict().items()):
        assert torch.equal(a, b), name

    # a teacher cached before its test report existed is tested when next used
    cached[0].with_name("teacher.test.json").unlink()
    SacdCLI.create(["fit", "-c", str(path)])
    assert json.loads(cached[0].with_name("teacher.test.json").read_text()) == tested

    # another data split is another teacher
    config["data"]["init_args"]["seed"] = 4
    SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "kd2.yaml", config))])
    assert len(list((tmp_path / "cache").glob("*/teacher.ckpt"))) == 2


def test_teacher_data_widens_only_the_teachers_training_set(tmp_path, capsys):
    teacher_yaml = write_config(tmp_path / "teacher.yaml", teacher_config(tmp_path / "t"))
    config = distiller_config(tmp_path, "distillers.KD", None, teacher_config=str(teacher_yaml),
                              teacher_cache_dir=str(tmp_path / "cache"), teacher_data={"train_nights": 2})
    config["trainer"] = trainer_config(tmp_path, "kd", fast_dev_run=True)
    SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "kd.yaml", config))])
    (entry,) = (tmp_path / "cache").glob("*/teacher.ckpt")
    trained = yaml.safe_load(entry.with_name("config.yaml").read_text())["data"]["init_args"]
    assert trained["train_nights"] == 2  # beside the student's data section, all defaults filled in
    assert trained.items() >= TINY_DATA["init_args"].items()
    tested = json.loads(entry.with_name("teacher.test.json").read_text())
    assert tested["num_epochs"] == 24 and len(tested["subjects"]) == 1  # the student's test night, unchanged
    rows = list(csv.DictReader(entry.with_name("teacher.test_predictions.csv").open()))
    assert len(rows) == 24 and all(row["label_true"] in "01234" for row in rows)  # the latent stage, beside scorer 0's

    # a key that could move a subject or change a test epoch is refused before any teacher is trained
    config["model"]["init_args"]["teacher_data"] = {"train_nights": 2, "seed": 5, "epochs_per_night": 30}
    capsys.readouterr()
    with pytest.raises(ValueError, match="teacher_data sets epochs_per_night, seed, which datamodules.SyntheticNights"):
        SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "kd2.yaml", config))])
    assert "Training the EEG teacher" not in capsys.readouterr().out

    # without teacher_data the student's own data trains another teacher
    del config["model"]["init_args"]["teacher_data"]
    SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "kd3.yaml", config))])
    assert len(list((tmp_path / "cache").glob("*/teacher.ckpt"))) == 2


def test_fit_without_a_teacher_fails_clearly(tmp_path):
    path = write_config(tmp_path / "kd.yaml", distiller_config(tmp_path, "distillers.KD", None))
    with pytest.raises(ValueError, match="teacher_checkpoint"):
        SacdCLI.create(["fit", "-c", str(path), "--trainer.fast_dev_run", "true"])
    missing = write_config(tmp_path / "missing.yaml", distiller_config(tmp_path, "distillers.KD", str(tmp_path / "no.ckpt")))
    with pytest.raises(FileNotFoundError, match="no.ckpt"):
        SacdCLI.create(["fit", "-c", str(missing), "--trainer.fast_dev_run", "true"])


def test_a_student_checkpoint_is_refused_as_a_teacher(tmp_path, tiny_teacher):
    path = write_config(tmp_path / "kd.yaml", distiller_config(tmp_path, "distillers.KD", str(tiny_teacher)))
    cli = SacdCLI.create(["fit", "-c", str(path)])
    student_ckpt = cli.trainer.checkpoint_callback.last_model_path
    wrong = write_config(tmp_path / "wrong.yaml", distiller_config(tmp_path, "distillers.KD", student_ckpt))
    with pytest.raises(ValueError, match="not an EEG teacher checkpoint"):
        SacdCLI.create(["fit", "-c", str(wrong), "--trainer.fast_dev_run", "true"])


def test_teacher_trains_alone_from_its_config(tmp_path):
    config = teacher_config(tmp_path)
    config["data"] = TINY_DATA
    cli = SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "teacher.yaml", config))])
    assert cli.trainer.state.finished
    assert Path(cli.trainer.checkpoint_callback.last_model_path).is_file()
    assert "val/macro_f1" in cli.trainer.callback_metrics


def test_validate_scores_the_student_and_opens_no_log_version(tmp_path, tiny_teacher):
    path = write_config(tmp_path / "kd.yaml", distiller_config(tmp_path, "distillers.KD", str(tiny_teacher)))
    fitted = SacdCLI.create(["fit", "-c", str(path)])
    ckpt = fitted.trainer.checkpoint_callback.last_model_path
    versions = sorted(Path(fitted.trainer.logger.root_dir).iterdir())
    validator = SacdCLI.create(["validate", "-c", str(path), "--ckpt_path", ckpt])
    assert 0.0 <= float(validator.trainer.callback_metrics["val/macro_f1"]) <= 1.0
    tester = SacdCLI.create(["test", "-c", str(path), "--ckpt_path", ckpt])
    assert tester.trainer.loggers == [] and (Path(ckpt).parent / "last.test.json").is_file()
    saved = Path(fitted.trainer.log_dir) / "config.yaml"  # the run's own resolved config tests it again
    again = SacdCLI.create(["test", "-c", str(saved), "--ckpt_path", ckpt])
    assert again.model.test_report.to_dict() == tester.model.test_report.to_dict()
    assert sorted(Path(fitted.trainer.logger.root_dir).iterdir()) == versions  # results sit beside the checkpoint


def test_optimiser_and_scheduler_come_from_the_config(tmp_path, tiny_teacher):
    config = distiller_config(tmp_path, "distillers.KD", str(tiny_teacher))
    config["model"]["init_args"]["optimizer"] = {
        "class_path": "torch.optim.SGD",
        "init_args": {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005},
    }
    config["model"]["init_args"]["lr_scheduler"] = {
        "class_path": "torch.optim.lr_scheduler.MultiStepLR",
        "init_args": {"milestones": [1], "gamma": 0.1},
    }
    config["trainer"]["max_epochs"] = 2
    cli = SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "sgd.yaml", config))])
    (optimizer,) = cli.trainer.optimizers
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.param_groups[0]["momentum"] == 0.9
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.001)  # 0.01 x 0.1 after the milestone
    optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimised == {id(p) for p in cli.model.student.parameters()}
    config["model"]["init_args"]["lr_scheduler"] = {
        "class_path": "torch.optim.lr_scheduler.CosineAnnealingLR",
        "init_args": {"T_max": 2},
    }
    cli = SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "cos.yaml", config))])
    assert isinstance(cli.trainer.lr_scheduler_configs[0].scheduler, torch.optim.lr_scheduler.CosineAnnealingLR)


def test_a_test_that_predicts_one_stage_throughout_is_flagged_degenerate(tmp_path, capsys, monkeypatch):
    from distillers import Vanilla

    config = distiller_config(tmp_path, "distillers.Vanilla", None)
    config["test_after_fit"] = True
    monkeypatch.setattr(Vanilla, "predict_logits", lambda self, batch: torch.tensor([[5.0, 0, 0, 0, 0]]).expand(
        len(batch["video"]), -1) + 0 * self.student(batch["video"]))  # always W, still through the student
    cli = SacdCLI.create(["fit", "-c", str(write_config(tmp_path / "config.yaml", config))])
    printed = capsys.readouterr().out
    assert "WARNING: degenerate run: every epoch is predicted W" in printed
    tested = Path(cli.trainer.ckpt_path)
    report = json.loads(tested.with_name(tested.stem + ".test.json").read_text())
    assert report["degenerate"] == "every epoch is predicted W"
