"""A training step never reads a value back from the device, and a NaN loss still stops the fit.

On a GPU, every ``.item()``, ``bool(tensor)``, ``nonzero()`` or boolean-mask index in a step makes
the host wait for the device to finish all queued work. Tensors on PyTorch's ``meta`` device have
shapes but no values, so any such read raises there: a step that runs on ``meta`` reads nothing.
"""

from __future__ import annotations

import importlib

import pytest
import torch
from conftest import TINY_STUDENT
from test_distillers import DISTILLERS

from distillers.nonfinite import NonFiniteLossWatch
from sacd.models import X3D

#: every flavour of every term, beside each method's defaults
VARIANTS = [(path, {}) for path in DISTILLERS] + [
    ("distillers.SACD", {"contrast_flavour": "triplet"}),
    ("distillers.SACD", {"contrast_flavour": "triplet", "triplet_mining": "hardest"}),
    ("distillers.SACD", {"structure_flavour": "gsn"}),
    ("distillers.CRD", {"negatives": "uniform", "class_conditional": True}),
]


def _step(model, batch) -> None:
    student = model.student_outputs(batch["video"])
    teacher = model.teacher_outputs(batch["eeg"]) if model.teacher is not None else None
    losses = model.applied_losses(student, teacher, batch)
    sum(model.loss_weights[name] * value for name, value in losses.items()).backward()


@pytest.mark.parametrize(("class_path", "options"), VARIANTS, ids=lambda v: str(v) if isinstance(v, dict) else v)
def test_a_training_step_after_the_first_reads_nothing_back_from_the_device(tiny_teacher, class_path, options):
    module_name, name = class_path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module_name), name)
    model = cls(X3D(**TINY_STUDENT["init_args"]), teacher_checkpoint=str(tiny_teacher), num_train_samples=32,
                video_shape=(1, 4, 32, 32), **options)  # fmt: skip
    if hasattr(model, "set_train_labels"):
        model.set_train_labels(torch.arange(32) % 5)
    batch = {"eeg": torch.randn(6, 1, 3840), "video": torch.randn(6, 1, 4, 32, 32), "label": torch.arange(6) % 3,
             "index": torch.arange(6)}  # fmt: skip
    _step(model, batch)  # the first step may set things up (CRD estimates its normaliser once)
    model.to("meta")
    _step(model, {key: value.to("meta") for key, value in batch.items()})


class _Module:
    """What the watch reads of a LightningModule: the step counters (no trainer, so no checkpoint)."""

    current_epoch, global_step, _trainer = 3, 41, None


def test_a_non_finite_loss_is_reported_for_its_own_step_when_the_verdict_arrives_late():
    """As on a GPU: the verdict of a bad step arrives after later steps were queued; the error still
    names the bad step, its loss values and the samples that hold NaN."""
    arrived = {"now": False}

    class GpuLikeWatch(NonFiniteLossWatch):
        @staticmethod
        def _send(bad):  # the copy to the host completes only once somebody waits for it
            return bad.clone(), (lambda: arrived["now"]), (lambda: arrived.update(now=True))

    watch, module = GpuLikeWatch(), _Module()
    video = torch.randn(4, 1, 2, 3, 3)
    video[2] = float("nan")
    bad = {"video": video, "eeg": torch.randn(4, 1, 8), "index": torch.tensor([10, 11, 12, 13])}
    watch.watch(module, torch.tensor(float("nan")), {"ce": torch.tensor(float("nan")), "kd": torch.tensor(0.5)}, bad, 7)
    module.global_step = 42
    watch.watch(module, torch.tensor(1.0), {"ce": torch.tensor(1.0)}, {"video": torch.randn(4, 1, 2, 3, 3)}, 8)
    assert len(watch._pending) == 2  # nothing read yet: the step did not wait
    with pytest.raises(FloatingPointError) as caught:
        watch.settle(module)  # before a validation run or a checkpoint: wait for every verdict
    message = str(caught.value)
    for fragment in ("training loss is not finite at epoch 3, batch 7 (global step 41)", "ce=nan, kd=0.5",
                     "the video input of 1 sample(s) (index [12])", "No checkpoint had been written yet"):  # fmt: skip
        assert fragment in message, fragment
    assert not watch._pending


def test_finite_losses_leave_nothing_pending_on_the_cpu():
    watch = NonFiniteLossWatch()
    for step in range(3):
        watch.watch(_Module(), torch.tensor(0.1 * step), {"ce": torch.tensor(0.1)}, {}, step)
    assert not watch._pending
    with pytest.raises(FloatingPointError, match="batch 3"):
        watch.watch(_Module(), torch.tensor(float("inf")), {"ce": torch.tensor(float("inf"))}, {}, 3)
