"""The base of every distiller: a video student taught by a frozen EEG teacher.

A method is one small subclass. It declares its extra parameters in ``__init__`` and implements
``distill``, returning a dict of named losses, and names in ``label_terms`` the losses that need
labels (:mod:`distillers.label_use`). The base does everything else: loading and freezing
the teacher, keeping it out of the student's checkpoint, running both networks (with feature taps
where a method asks for them), applying each loss to the items it can use when some nights were never scored, weighting and
logging the losses, and evaluating the student on
video alone.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from distillers.heads import Projection
from distillers.label_use import LABEL_USES, UNSCORED_LABEL_RULES, LabelUse, UnscoredLabels, items_of, mean_over, stages_of
from distillers.memory import IndexedBank
from distillers.nonfinite import NonFiniteLossWatch
from distillers.teacher_cache import TAP_DTYPES, TeacherOutputCache
from sacd.staging import StagingModule
from sacd.taps import feature_taps
from sacd.teacher import load_frozen_teacher

TEACHER_PREFIX = "teacher."
#: batch entry with the training samples' ids still on the host (see ``on_before_batch_transfer``)
HOST_INDEX = "host_index"

# The frozen teacher is in eval mode on purpose; Lightning's generic notice about it is noise here.
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode", module="lightning")
# Distillers keep training ids on the host before the transfer (on_before_batch_transfer), beside any datamodule.
warnings.filterwarnings("ignore", message=r"You have overridden `on_before_batch_transfer` in `LightningModule` but")


@dataclass
class Outputs:
    """What one network produced for a batch: pooled embedding, logits and requested feature maps."""

    features: torch.Tensor
    logits: torch.Tensor
    taps: dict[str, torch.Tensor] = field(default_factory=dict)


class Distiller(StagingModule):
    """A video student distilled from a frozen EEG teacher.

    Args:
        student: the video network (``forward_features``, ``head``, ``reset_classifier``), e.g.
            ``sacd.models.X3D``; its classifier is resized to the datamodule's classes.
        teacher_checkpoint: path of an :class:`sacd.EEGTeacher` checkpoint.
        teacher_config: a teacher fit config (``experiments/teacher.yaml``); when no checkpoint is
            given, the CLI trains the teacher once on this run's data and caches it by config hash.
        teacher_cache_dir: where teachers trained from ``teacher_config`` are cached.
        teacher_data: data init args that the teacher trained from ``teacher_config`` gets on top of
            this run's, limited to the datamodule's ``training_only_args`` (e.g. ``{train_nights: 3}``:
            more nights of the same training subjects), so the teacher is still tested on this run's
            test subjects and epochs. An EEG stager can use more data than the video student's budget.
        teacher_sha256: expected content hash of the teacher checkpoint; filled in automatically
            and checked when a trained student is reloaded.
        loss_weights: weight of each named loss, overriding the method's defaults.
        cache_teacher_outputs: compute the teacher's outputs for each training sample once and reuse
            them in later epochs (its input is the same every epoch); False runs the teacher on every
            batch.
        cached_tap_precision: storage dtype of cached teacher feature maps (``float32``, ``float16``
            or ``bfloat16``); embeddings and logits are always cached in float32.
        unscored_labels: the stage that label-aware terms (``"staged"`` in ``label_terms``) give an
            item nobody scored: ``"teacher"``, the teacher's predicted stage, or ``"ignore"``, leaving
            the item out of those terms. Cross-entropy never sees unscored items either way.
        **kwargs: data spec, optimizer and lr_scheduler (see :class:`sacd.StagingModule`).
    """

    #: weights of the losses ``distill`` returns, as the method's paper sets them
    default_loss_weights: ClassVar[dict[str, float]] = {"ce": 1.0}
    #: losses that need labels, and which items they may use (see :mod:`distillers.label_use`);
    #: every other loss is label-free and sees every item
    label_terms: ClassVar[dict[str, LabelUse]] = {"ce": "scored"}
    #: False for methods that train the student alone (the Vanilla baseline)
    uses_teacher: ClassVar[bool] = True
    #: whether items nobody scored help this method; a method without (Vanilla) draws scored items only
    learns_from_unscored: ClassVar[bool] = True
    #: module paths whose outputs ``distill`` receives in ``Outputs.taps``
    student_taps: tuple[str, ...] = ()
    teacher_taps: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        odd = {name: use for name, use in cls.label_terms.items() if use not in LABEL_USES}
        if odd:
            raise TypeError(f"{cls.__name__}.label_terms gives {odd}; each loss's label use is one of {list(LABEL_USES)}")

    def __init__(
        self,
        student: nn.Module,
        teacher_checkpoint: str | None = None,
        teacher_config: str | None = None,
        teacher_cache_dir: str = "runs/teachers",
        teacher_data: dict[str, Any] | None = None,
        teacher_sha256: str | None = None,
        loss_weights: dict[str, float] | None = None,
        cache_teacher_outputs: bool = True,
        cached_tap_precision: str = "float16",
        unscored_labels: UnscoredLabels = "teacher",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if unscored_labels not in UNSCORED_LABEL_RULES:
            raise ValueError(f"unscored_labels must be one of {list(UNSCORED_LABEL_RULES)}, got {unscored_labels!r}")
        self.unscored_labels = unscored_labels
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the student module itself is saved in the state dict
            self.save_hyperparameters()
        if isinstance(self.hparams.get("student"), nn.Module):
            del self.hparams["student"]
        self.student = student
        if getattr(student, "num_classes", self.num_classes) != self.num_classes:
            student.reset_classifier(self.num_classes)
        self.loss_weights = {**self.default_loss_weights, **(loss_weights or {})}
        self.overridden_losses = frozenset(loss_weights or {})
        if cached_tap_precision not in TAP_DTYPES:
            raise ValueError(f"cached_tap_precision must be one of {sorted(TAP_DTYPES)}, got {cached_tap_precision!r}")
        self.teacher: nn.Module | None = None
        if teacher_checkpoint is not None and self.uses_teacher:
            spec = dict(eeg_shape=self.eeg_shape, eeg_sample_rate=self.eeg_sample_rate, num_classes=self.num_classes)
            self.teacher, sha256 = load_frozen_teacher(teacher_checkpoint, teacher_sha256, data_spec=spec)
            self.hparams["teacher_sha256"] = sha256
        self.teacher_output_cache: TeacherOutputCache | None = None
        if cache_teacher_outputs and self.teacher is not None and self.num_train_samples:
            self.teacher_output_cache = TeacherOutputCache(self.num_train_samples, self.hparams["teacher_sha256"], cached_tap_precision)
        self.loss_watch = NonFiniteLossWatch()

    # -- what a method provides --------------------------------------------------------------
    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Return the method's named losses for one training batch (weighted and summed by the base).

        ``batch["label"]`` is the scorer's stage or ``UNSCORED``; ``batch["stage"]`` is the stage for
        label-aware terms (see ``unscored_labels``). A loss may be a scalar or per item (B,), which
        the base averages over the items ``label_terms`` allows it.
        """
        raise NotImplementedError

    # -- what a method may ask of the base ---------------------------------------------------
    def embedding_dims(self) -> tuple[int, int]:
        """Widths of the student's and the teacher's pooled embeddings, for sizing a method's heads."""
        if self.teacher is None:
            raise ValueError(
                f"{type(self).__name__} sizes its heads from the teacher: give model.init_args.teacher_checkpoint "
                "(or teacher_config when running `sacd fit`)"
            )
        return _embedding_width(self.student), _embedding_width(self.teacher)

    def add_cross_modal_memory(self, feature_dim: int, momentum: float) -> None:
        """What contrastive methods (CRD, CCL, SACD) share: projection heads of both embeddings into a
        ``feature_dim`` space (``embed_student``, ``embed_teacher``) and one momentum memory bank per
        modality with an entry per training sample (``student_bank``, ``teacher_bank``)."""
        if not self.num_train_samples:
            raise ValueError(
                f"{type(self).__name__} keeps one memory-bank entry per training sample: num_train_samples is linked "
                "from the datamodule by `sacd fit`; pass it when building the model by hand"
            )
        student_dim, teacher_dim = self.embedding_dims()
        self.embed_student = Projection(student_dim, feature_dim)
        self.embed_teacher = Projection(teacher_dim, feature_dim)
        self.student_bank = IndexedBank(self.num_train_samples, feature_dim, momentum, seed=0)
        self.teacher_bank = IndexedBank(self.num_train_samples, feature_dim, momentum, seed=1)

    # -- running the two networks ------------------------------------------------------------
    def student_outputs(self, video: torch.Tensor) -> Outputs:
        with feature_taps(self.student, self.student_taps) as taps:
            features = self.student.forward_features(video)
        return Outputs(features, self.student.head(features), dict(taps))

    @torch.no_grad()
    def teacher_outputs(self, eeg: torch.Tensor) -> Outputs:
        assert self.teacher is not None
        with feature_taps(self.teacher, self.teacher_taps) as taps:
            features = self.teacher.forward_features(eeg)
        return Outputs(features, self.teacher.head(features), dict(taps))

    def training_teacher_outputs(self, batch: dict[str, torch.Tensor]) -> Outputs:
        """The teacher's outputs for a training batch, from the cache where they were computed before.

        The cache lives in host memory and is indexed with the ids kept on the host before the batch
        moved to the device, so that a step never waits for the device to hand them back.
        """
        cache = self.teacher_output_cache
        if cache is None or "index" not in batch:
            return self.teacher_outputs(batch["eeg"])
        host = batch.get(HOST_INDEX)
        ids = torch.from_numpy(host) if host is not None else batch["index"].cpu()
        missing = cache.missing(ids).nonzero().flatten()
        if len(missing):  # the samples' first sight: run the teacher on them and keep its outputs
            fresh = self.teacher_outputs(batch["eeg"].index_select(0, missing.to(batch["eeg"].device)))
            named = {"features": fresh.features, "logits": fresh.logits}
            named.update({f"tap:{path}": value for path, value in fresh.taps.items()})
            cache.put(ids[missing], named)
        stored = cache.get(ids, device=batch["eeg"].device)
        taps = {name.removeprefix("tap:"): value for name, value in stored.items() if name.startswith("tap:")}
        return Outputs(stored["features"], stored["logits"], taps)

    def predict_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The deployed student sees video only."""
        return self.student(batch["video"])

    # -- training ----------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        if self.uses_teacher and self.teacher is None:
            raise ValueError(
                f"{type(self).__name__} distils from an EEG teacher but none was given: set "
                "model.init_args.teacher_checkpoint (a checkpoint from `sacd fit -c experiments/teacher.yaml`) "
                "or model.init_args.teacher_config (trained once and cached)."
            )

    def training_losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The method's named losses for one training batch, each over the items it can use (scalars)."""
        student = self.student_outputs(batch["video"])
        teacher = self.training_teacher_outputs(batch) if self.teacher is not None else None
        return self.applied_losses(student, teacher, batch)

    def applied_losses(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``distill``'s losses for these outputs, each over the items it can use (scalars)."""
        teacher_logits = teacher.logits if teacher is not None else None
        batch = {**batch, "stage": stages_of(batch["label"], teacher_logits, self.unscored_labels)}
        returned = self.distill(student, teacher, batch)
        unknown = self.overridden_losses - set(returned)
        if unknown:
            raise ValueError(
                f"loss_weights names {sorted(unknown)}, but {type(self).__name__} returns the losses "
                f"{sorted(returned)}. Fix model.init_args.loss_weights."
            )
        return {name: self._reduced(name, value, batch) for name, value in returned.items()}

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        losses = self.training_losses(batch)
        total = sum(self.loss_weights.get(name, 1.0) * value for name, value in losses.items())
        self.loss_watch.watch(self, total, losses, batch, batch_idx)  # raises once a step's loss is known to be bad
        batch_size = len(batch["label"])
        self.log_dict({f"train/{name}": value.detach() for name, value in losses.items()}, batch_size=batch_size)
        self.log("train/loss", total, prog_bar=True, batch_size=batch_size)
        return total

    def _reduced(self, name: str, value: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """One loss as a scalar: a per-item loss averaged over the items its label use allows."""
        use = self.label_terms.get(name)
        if value.ndim == 0:
            if use in ("scored", "unscored"):
                raise TypeError(
                    f"{type(self).__name__}.distill returns {name!r} as a scalar, but label_terms gives it {use} items "
                    "only: return it per item (shape (B,), e.g. distillers.label_use.item_cross_entropy)"
                )
            return value
        if value.shape != batch["label"].shape:
            raise ValueError(f"{type(self).__name__}.distill: loss {name!r} has shape {tuple(value.shape)}; "
                             f"a loss is a scalar or one value per item {tuple(batch['label'].shape)}")  # fmt: skip
        return mean_over(value, items_of(use, batch))

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Keep a training batch's sample ids on the host too (as numpy, which the transfer leaves alone)."""
        trainer = self._trainer
        training = trainer is not None and trainer.training
        if training and self.teacher_output_cache is not None and isinstance(batch, dict) and "index" in batch:
            batch = {**batch, HOST_INDEX: batch["index"].numpy()}
        return batch

    def on_validation_start(self) -> None:
        self.loss_watch.settle(self)  # no validation of weights a non-finite step updated

    def on_train_epoch_end(self) -> None:
        self.loss_watch.settle(self)

    def on_train_end(self) -> None:
        self.loss_watch.settle(self)

    # -- the frozen teacher ------------------------------------------------------------------
    def train(self, mode: bool = True) -> Distiller:
        """Switch the student's mode; the teacher stays in eval mode (frozen BatchNorm, no dropout)."""
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        return (p for name, p in self.named_parameters() if p.requires_grad and not name.startswith(TEACHER_PREFIX))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the teacher out of the student's checkpoint (its path and hash are in the hparams);
        name the teacher-output cache, saved once beside the checkpoints, that a resumed run reads.
        Refuses (raises) if an earlier step's loss was not finite."""
        self.loss_watch.settle(self)
        state = checkpoint["state_dict"]
        for key in [key for key in state if key.startswith(TEACHER_PREFIX)]:
            del state[key]
        cache, folder = self.teacher_output_cache, self._checkpoint_folder()
        if cache is not None and folder is not None:
            cache.share_across_processes()  # every rank builds the checkpoint, so every rank takes part
            if len(cache):
                if self._trainer is None or self._trainer.is_global_zero:
                    cache.save(folder / cache.file_name)
                checkpoint["teacher_output_cache"] = cache.file_name

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resuming a fit: read the teacher-output cache the interrupted run saved beside its checkpoints."""
        name = checkpoint.get("teacher_output_cache")
        trainer = self._trainer
        if not name or trainer is None or self.teacher_output_cache is None or trainer.state.fn != "fit":
            return
        path = Path(trainer.ckpt_path).parent / name if trainer.ckpt_path else None
        if path is None or not path.is_file():
            return
        try:
            self.teacher_output_cache.load(path)
        except (ValueError, RuntimeError, KeyError) as error:  # another training set or teacher: start afresh
            warnings.warn(f"not reusing {path}: {error}; the teacher outputs are recomputed", stacklevel=2)

    def _checkpoint_folder(self) -> Path | None:
        callback = self._trainer.checkpoint_callback if self._trainer is not None else None
        folder = getattr(callback, "dirpath", None)
        return Path(folder) if folder else None

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """Accept student checkpoints, which hold no teacher weights: the loaded teacher fills them in."""
        if self.teacher is not None:
            state_dict = dict(state_dict)
            for key, value in self.teacher.state_dict(prefix=TEACHER_PREFIX).items():
                state_dict.setdefault(key, value)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def _embedding_width(net: nn.Module) -> int:
    width = getattr(net, "embed_dim", None)
    if not isinstance(width, int):
        raise TypeError(f"{type(net).__name__} must expose `embed_dim`, the width of forward_features' output")
    return width
