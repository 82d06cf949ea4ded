"""FitNets: the student's intermediate video features regress the teacher's EEG hint (Romero et al., 2015)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from distillers.base import Distiller, Outputs
from distillers.label_use import item_cross_entropy
from distillers.losses import HintLoss
from sacd.taps import feature_taps


class FitNets(Distiller):
    """Cross-entropy plus a hint loss (weight 100) between an intermediate student and teacher map.

    Source: Romero et al., "FitNets: Hints for Thin Deep Nets" (ICLR 2015); the weight and joint
    training from the start are RepDistiller's (``-b 100``, ``--hint_layer 2``). Departure: the hint
    crosses modalities, so the regressor (see :class:`distillers.losses.HintLoss`) averages the video
    map over space, maps its channels with a 1x1 convolution and BatchNorm, and resamples its time
    axis to the EEG map's; it has no ReLU (RepDistiller's ``ConvReg`` has one), since the EEG hint
    takes negative values.

    Args:
        student: the video network.
        hint_layer: module path of the student's guided layer (e.g. ``stages.2``); by default the middle
            entry of the student's ``feature_paths``, as FitNets guides a middle layer.
        teacher_hint_layer: module path of the teacher's hint layer (e.g. ``encoder``).
        hint_epochs: length of FitNets' first stage, in which the hint loss alone trains the student
            up to its guided layer; cross-entropy joins afterwards. 0 (the default, as in the CRD
            benchmark code) trains both jointly from the start.
    """

    default_loss_weights: ClassVar[dict[str, float]] = {"ce": 1.0, "hint": 100.0}

    def __init__(
        self,
        student: nn.Module,
        hint_layer: str | None = None,
        teacher_hint_layer: str = "encoder",
        hint_epochs: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(student, **kwargs)
        if hint_epochs < 0:
            raise ValueError(f"hint_epochs must be >= 0, got {hint_epochs}")
        self.hint_epochs = hint_epochs
        if hint_layer is None:
            paths = student.feature_paths
            hint_layer = paths[len(paths) // 2]
        self.student_taps = (hint_layer,)
        self.teacher_taps = (teacher_hint_layer,)
        if self.teacher is None:
            raise ValueError("FitNets sizes its hint regressor from the teacher: give model.init_args.teacher_checkpoint")
        student_channels = self._probe_channels(self.student, hint_layer, self.video_shape)
        teacher_channels = self._probe_channels(self.teacher, teacher_hint_layer, self.eeg_shape)
        self.hint_loss = HintLoss(student_channels, teacher_channels)

    @staticmethod
    @torch.no_grad()
    def _probe_channels(net: nn.Module, path: str, input_shape: tuple[int, ...]) -> int:
        """Channels of the feature map at ``path``, found with one dummy forward in eval mode."""
        was_training = net.training
        net.eval()
        with feature_taps(net, [path]) as taps:
            net.forward_features(torch.zeros(1, *input_shape))
        net.train(was_training)
        return taps[path].shape[1]

    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        (student_hint,) = student.taps.values()
        (teacher_hint,) = teacher.taps.values()
        in_hint_stage = self.current_epoch < self.hint_epochs
        ce = item_cross_entropy(student.logits, batch["label"])
        return {"ce": ce * 0.0 if in_hint_stage else ce, "hint": self.hint_loss(student_hint, teacher_hint)}
