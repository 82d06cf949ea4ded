"""The EEG teacher: trained on EEG alone, then frozen and distilled into video students."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sacd.hashing import file_sha256
from sacd.models import AttnSleep
from sacd.safe_checkpoints import UnsafeCheckpointError, load_checkpoint
from sacd.staging import StagingModule
from sacd.stages import UNSCORED


class EEGTeacher(StagingModule):
    """An AttnSleep-style EEG stager trained with cross-entropy (``sacd fit -c experiments/teacher.yaml``).

    Args:
        embed_dim: size of the pooled embedding that distillers align with.
        width: channels of each convolutional branch.
        d_model: width of the transformer tokens.
        num_heads: attention heads.
        num_layers: transformer encoder layers.
        num_tokens: time tokens per epoch (30 = one per second).
        dropout: dropout in the encoder.
        label_smoothing: cross-entropy label smoothing.
        **kwargs: data spec, optimizer and lr_scheduler (see :class:`StagingModule`).
    """

    run_name = "teacher"

    def __init__(
        self,
        embed_dim: int = 512,
        width: int = 64,
        d_model: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        num_tokens: int = 30,
        dropout: float = 0.1,
        label_smoothing: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()
        self.label_smoothing = label_smoothing
        self.net = AttnSleep(
            in_channels=self.eeg_shape[0],
            num_classes=self.num_classes,
            sample_rate=self.eeg_sample_rate,
            embed_dim=embed_dim,
            width=width,
            d_model=d_model,
            num_heads=num_heads,
            num_layers=num_layers,
            num_tokens=num_tokens,
            dropout=dropout,
        )

    def predict_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(batch["eeg"])

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self.net(batch["eeg"])
        labels = batch["label"]  # scored items only are drawn for the teacher; any other is left out here too
        per_item = F.cross_entropy(logits, labels, ignore_index=UNSCORED, reduction="none", label_smoothing=self.label_smoothing)
        loss = per_item.sum() / (labels != UNSCORED).sum().clamp_min(1)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(logits))
        return loss


def check_teacher_checkpoint(path: str | Path, expected_sha256: str | None = None) -> str:
    """Check that ``path`` is an :class:`EEGTeacher` checkpoint (and the expected one); return its SHA-256.

    Raises a clear error when the file is missing, is not a teacher checkpoint, or does not match the
    hash recorded when a student was trained from it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"teacher checkpoint {path} does not exist. Train one with "
            "`sacd fit -c experiments/teacher.yaml` and set model.init_args.teacher_checkpoint to its "
            "path, or set model.init_args.teacher_config to have it trained and cached."
        )
    sha256 = file_sha256(path)
    if expected_sha256 is not None and expected_sha256 != sha256:
        raise ValueError(
            f"teacher checkpoint {path} has SHA-256 {sha256[:12]}..., but this student was distilled from "
            f"{expected_sha256[:12]}...: the file changed. Point teacher_checkpoint at the original file or "
            "drop teacher_sha256 from the config to accept the new teacher."
        )
    try:
        checkpoint = load_checkpoint(path)
    except UnsafeCheckpointError:
        raise
    except Exception as error:  # a truncated or foreign file
        raise ValueError(f"teacher checkpoint {path} cannot be read ({error}); retrain or re-copy it") from error
    state = checkpoint.get("state_dict", {}) if isinstance(checkpoint, dict) else {}
    hparams = checkpoint.get("hyper_parameters", {}) if isinstance(checkpoint, dict) else {}
    if not any(key.startswith("net.") for key in state) or "teacher_checkpoint" in hparams:
        kind = hparams.get("_class_path", "unknown model")
        raise ValueError(
            f"{path} is not an EEG teacher checkpoint (it holds {kind}). Give the checkpoint written by "
            "`sacd fit -c experiments/teacher.yaml`, not a student's."
        )
    return sha256


def load_frozen_teacher(
    path: str | Path, expected_sha256: str | None = None, *, data_spec: dict[str, Any] | None = None
) -> tuple[nn.Module, str]:
    """Load an :class:`EEGTeacher` checkpoint's network frozen in eval mode; return it and its SHA-256.

    ``data_spec`` (``eeg_shape``, ``eeg_sample_rate``, ``num_classes`` of the run's data) must match
    what the teacher was trained on: a teacher of other EEG input is refused here, naming the file.
    """
    sha256 = check_teacher_checkpoint(path, expected_sha256)
    teacher = EEGTeacher.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    trained = {"eeg_shape": tuple(teacher.eeg_shape), "eeg_sample_rate": teacher.eeg_sample_rate,
               "num_classes": teacher.num_classes}  # fmt: skip
    wanted = {key: tuple(value) if key == "eeg_shape" else value for key, value in (data_spec or {}).items()}
    different = [f"{key} {trained[key]} (the data gives {given})" for key, given in wanted.items()
                 if key in trained and trained[key] != given]  # fmt: skip
    if different:
        raise ValueError(
            f"teacher checkpoint {path} was trained on other EEG input: {', '.join(different)}. Train a teacher on "
            "this run's data (`sacd fit -c experiments/teacher.yaml` with the same data section) or set "
            "model.init_args.teacher_config to have one trained and cached."
        )
    net = teacher.net.eval()
    net.requires_grad_(False)
    return net, sha256
