"""Every distiller through the CLI, and the contract of the Distiller base."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY_STUDENT, distiller_config, write_config

from distillers import KD, Distiller, FitNets, Vanilla, method_names
from distillers.base import Outputs
from distillers.label_use import item_cross_entropy
from sacd.cli import SacdCLI
from sacd.models import X3D

DISTILLERS = [f"distillers.{name}" for name in method_names()]


def _tiny_student() -> X3D:
    return X3D(**TINY_STUDENT["init_args"])


def _batch(size: int = 4) -> dict[str, torch.Tensor]:
    return {
        "eeg": torch.randn(size, 1, 3840),
        "video": torch.randn(size, 1, 4, 32, 32),
        "label": torch.arange(size) % 5,
    }


@pytest.mark.parametrize("class_path", DISTILLERS)
def test_each_distiller_fits_and_tests_from_its_checkpoint_with_the_teacher_untouched(tmp_path, tiny_teacher, class_path):
    path = write_config(tmp_path / "config.yaml", distiller_config(tmp_path, class_path, str(tiny_teacher)))
    smoke = SacdCLI.create(["fit", "-c", str(path), "--trainer.fast_dev_run", "true"])
    assert smoke.trainer.state.finished
    cli = SacdCLI.create(["fit", "-c", str(path)])  # two steps and a validation: a checkpoint is written
    logged = cli.trainer.callback_metrics
    assert torch.isfinite(logged["train/loss"])
    for name in type(cli.model).default_loss_weights:
        assert torch.isfinite(logged[f"train/{name}"]), name
    if cli.model.teacher is not None:
        saved = torch.load(tiny_teacher, map_location="cpu", weights_only=True)["state_dict"]
        for key, value in cli.model.teacher.state_dict().items():
            assert torch.equal(value, saved[f"net.{key}"]), f"teacher weight {key} changed during distillation"
    checkpoint = cli.trainer.checkpoint_callback.last_model_path
    stored = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    assert stored and not any(key.startswith("teacher.") for key in stored)
    tester = SacdCLI.create(["test", "-c", str(path), "--ckpt_path", checkpoint])
    assert 0.0 <= float(tester.trainer.callback_metrics["test/acc"]) <= 1.0
    restored = tester.model.state_dict()
    for key, value in stored.items():
        assert torch.equal(restored[key], value), f"{key} not restored from the checkpoint"


def test_vanilla_needs_and_loads_no_teacher(tiny_teacher):
    assert Vanilla(_tiny_student(), video_shape=(1, 4, 32, 32)).teacher is None
    assert Vanilla(_tiny_student(), teacher_checkpoint=str(tiny_teacher)).teacher is None


def test_students_are_evaluated_on_video_only(tiny_teacher):
    model = KD(_tiny_student(), teacher_checkpoint=str(tiny_teacher), video_shape=(1, 4, 32, 32)).eval()
    batch = _batch()
    logits = model.predict_logits(batch)
    without_eeg = {key: value for key, value in batch.items() if key != "eeg"}
    assert torch.equal(model.predict_logits(without_eeg), logits)
    batch["eeg"] = torch.full_like(batch["eeg"], float("nan"))
    assert torch.equal(model.predict_logits(batch), logits)
    assert torch.equal(model.predict_step(batch, 0)["pred"], logits.argmax(-1))


def test_training_step_weights_and_sums_the_named_losses(tiny_teacher):
    model = KD(_tiny_student(), teacher_checkpoint=str(tiny_teacher), loss_weights={"kd": 0.5})
    assert model.loss_weights == {"ce": 0.1, "kd": 0.5}
    captured = {}
    original = model.training_losses

    def spy(batch):
        captured.update(original(batch))
        return captured

    model.training_losses = spy
    model.log = model.log_dict = lambda *args, **kwargs: None
    total = model.training_step(_batch(), 0)
    assert total.item() == pytest.approx(0.1 * captured["ce"].item() + 0.5 * captured["kd"].item(), rel=1e-6)


def test_a_loss_weight_for_an_unknown_loss_is_a_clear_error(tiny_teacher):
    model = KD(_tiny_student(), teacher_checkpoint=str(tiny_teacher), loss_weights={"kdd": 1.0})
    model.log = model.log_dict = lambda *args, **kwargs: None
    with pytest.raises(ValueError, match=r"loss_weights names \['kdd'\]"):
        model.training_step(_batch(), 0)


def test_teacher_stays_in_eval_mode_and_out_of_the_optimiser(tiny_teacher):
    model = KD(_tiny_student(), teacher_checkpoint=str(tiny_teacher))
    model.train()
    assert model.student.training and not model.teacher.training
    trainable = {id(p) for p in model.trainable_parameters()}
    assert not trainable & {id(p) for p in model.teacher.parameters()}
    assert trainable == {id(p) for p in model.student.parameters()}


def test_fitnets_regresses_video_features_onto_eeg_features_of_other_shapes(tiny_teacher):
    for hint_layer in ("stem", "stages.0", "stages.1"):
        for teacher_layer in ("branch_fine", "encoder"):
            model = FitNets(
                _tiny_student(), hint_layer=hint_layer, teacher_hint_layer=teacher_layer,
                teacher_checkpoint=str(tiny_teacher), video_shape=(1, 4, 32, 32),
            )
            model.log = model.log_dict = lambda *args, **kwargs: None
            student = model.student_outputs(_batch()["video"])
            teacher = model.teacher_outputs(_batch()["eeg"])
            assert student.taps[hint_layer].dim() == 5 and teacher.taps[teacher_layer].dim() == 3
            loss = model.training_step(_batch(), 0)
            loss.backward()
            assert model.hint_loss.regressor[0].weight.grad is not None
    with pytest.raises(ValueError, match="no module at path 'stages.9'"):
        FitNets(_tiny_student(), hint_layer="stages.9", teacher_checkpoint=str(tiny_teacher), video_shape=(1, 4, 32, 32))


def test_a_new_distiller_is_one_small_subclass(tiny_teacher):
    class Confident(Distiller):
        default_loss_weights = {"ce": 1.0, "entropy": 0.1}

        def distill(self, student: Outputs, teacher: Outputs | None, batch):
            probs = student.logits.softmax(-1)
            return {
                "ce": item_cross_entropy(student.logits, batch["label"]),
                "entropy": -(probs * probs.clamp_min(1e-8).log()).sum(-1).mean(),
            }

    model = Confident(_tiny_student(), teacher_checkpoint=str(tiny_teacher))
    model.log = model.log_dict = lambda *args, **kwargs: None
    assert model.training_step(_batch(), 0).ndim == 0


def test_dkd_ramps_its_distillation_terms_in_over_the_warm_up(tiny_teacher):
    from distillers import DKD

    model = DKD(_tiny_student(), teacher_checkpoint=str(tiny_teacher), warmup_epochs=4).eval()
    batch = _batch()
    student, teacher = model.student_outputs(batch["video"]), model.teacher_outputs(batch["eeg"])
    tckd, nckd = (part.mean() for part in model.dkd_loss(student.logits, teacher.logits, batch["label"]))
    losses = model.applied_losses(student, teacher, batch)  # current_epoch is 0 outside a trainer: ramp 1/4
    torch.testing.assert_close(losses["tckd"], tckd / 4)
    torch.testing.assert_close(losses["nckd"], nckd / 4)
    assert model.loss_weights == {"ce": 1.0, "tckd": 1.0, "nckd": 8.0}


def test_fitnets_hint_stage_trains_on_the_hint_alone_before_joining_cross_entropy(tiny_teacher):
    model = FitNets(_tiny_student(), hint_epochs=2, teacher_checkpoint=str(tiny_teacher), video_shape=(1, 4, 32, 32))
    batch = _batch()
    student, teacher = model.student_outputs(batch["video"]), model.teacher_outputs(batch["eeg"])
    staged = model.applied_losses(student, teacher, batch)  # current_epoch is 0: inside the hint stage
    assert staged["ce"].item() == 0.0 and staged["hint"].item() > 0.0
    staged["hint"].backward()
    assert model.student.head.weight.grad is None or not model.student.head.weight.grad.any()
    joint = FitNets(_tiny_student(), teacher_checkpoint=str(tiny_teacher), video_shape=(1, 4, 32, 32))
    assert joint.applied_losses(student, teacher, batch)["ce"].item() > 0.0
    with pytest.raises(ValueError, match="hint_epochs"):
        FitNets(_tiny_student(), hint_epochs=-1, teacher_checkpoint=str(tiny_teacher))
