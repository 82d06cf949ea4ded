"""CRD: contrastive representation distillation with memory banks of both modalities
(Tian, Krishnan and Isola, ICLR 2020; defaults from their RepDistiller code)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from torch import nn

from distillers.base import Distiller, Outputs
from distillers.label_use import UNSCORED, LabelUse, item_cross_entropy
from distillers.losses import CRDNCELoss
from distillers.memory import IndexedBank


class CRD(Distiller):
    """Cross-entropy plus 0.8 x CRD: each modality's embedding contrasted with the other's memory bank.

    Both embeddings are projected to a shared 128-d space; each bank keeps one momentum-averaged
    entry per training sample. A student anchor's positive is the teacher bank's entry of the same
    sample and its K negatives are other samples' entries, and the same the other way round. As in
    RepDistiller's CIFAR-100 sampler (``cls_negative``, mode ``exact``), each anchor draws its K
    negatives, with replacement, from the samples of the other classes. Defaults are RepDistiller's:
    K = 16384, tau 0.07, momentum 0.5, weight 0.8 beside cross-entropy 1.

    Each anchor is scored against the whole bank in one (B, N) product, from which its own entry and
    its drawn negatives are gathered: the same scores as the reference's (B, 1 + K, D) gather, at the
    cost of one matrix product.

    Departures: bank slots start as random unit vectors (RepDistiller: uniform in +-1/sqrt(D/3)).
    The negatives are drawn from the labels of the training set, which :meth:`on_fit_start` reads
    from the datamodule (:meth:`set_train_labels` for use without a trainer). With nights nobody
    scored, only scored samples are drawn as negatives (an unscored sample's class is unknown when
    the draw is set up); an unscored anchor draws them by the teacher's predicted stage
    (``unscored_labels: teacher``) or is left out of the term (``ignore``).

    Args:
        student: the video network.
        feature_dim: width of the shared contrastive space.
        num_negatives: K, bank entries drawn as negatives per anchor.
        temperature: NCE temperature tau.
        momentum: bank update ``m * old + (1 - m) * new``.
        negatives: ``"other_classes"`` (the reference's draw) or ``"uniform"`` over all other samples,
            whatever their class.
        class_conditional: with uniform negatives, count drawn entries of the anchor's class as
            positives too (not negatives).
    """

    default_loss_weights: ClassVar[dict[str, float]] = {"ce": 1.0, "crd": 0.8}
    label_terms: ClassVar[dict[str, LabelUse]] = {"ce": "scored", "crd": "staged"}

    def __init__(
        self,
        student: nn.Module,
        feature_dim: int = 128,
        num_negatives: int = 16384,
        temperature: float = 0.07,
        momentum: float = 0.5,
        negatives: Literal["other_classes", "uniform"] = "other_classes",
        class_conditional: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(student, **kwargs)
        if negatives not in ("other_classes", "uniform"):
            raise ValueError(f"negatives must be 'other_classes' or 'uniform', got {negatives!r}")
        if class_conditional and negatives == "other_classes":
            raise ValueError("class_conditional counts drawn entries of the anchor's class as positives, and "
                             "negatives='other_classes' draws none: set negatives: uniform")  # fmt: skip
        self.add_cross_modal_memory(feature_dim, momentum)
        self.num_negatives = num_negatives
        self.negatives = negatives
        self.class_conditional = class_conditional
        self.nce_student_anchor = CRDNCELoss(self.num_train_samples, temperature)
        self.nce_teacher_anchor = CRDNCELoss(self.num_train_samples, temperature)
        # row c lists the training samples whose class is not c (padded); derived from the data, not saved
        self.register_buffer("other_class_slots", torch.zeros(0, 0, dtype=torch.long), persistent=False)
        self.register_buffer("other_class_counts", torch.zeros(0, dtype=torch.long), persistent=False)

    def on_fit_start(self) -> None:
        super().on_fit_start()
        if self.negatives == "other_classes":
            datamodule = getattr(self.trainer, "datamodule", None)
            if datamodule is None or not hasattr(datamodule, "labels"):
                raise ValueError("CRD draws negatives from the other classes and reads the training labels from the "
                                 "datamodule: fit with a datamodules.PairedDataModule, or set negatives: uniform")  # fmt: skip
            self.set_train_labels(datamodule.labels("train"))

    def set_train_labels(self, labels: torch.Tensor) -> None:
        """Index, per class, the scored training samples of the other classes (``labels[i]``: stage of
        sample i, or ``UNSCORED``)."""
        labels = torch.as_tensor(labels, dtype=torch.long).cpu()
        if len(labels) != self.num_train_samples:
            raise ValueError(f"got {len(labels)} training labels for num_train_samples={self.num_train_samples}")
        scored = labels != UNSCORED
        rows = [((labels != stage) & scored).nonzero().flatten() for stage in range(self.num_classes)]
        counts = torch.tensor([len(row) for row in rows])
        present = torch.unique(labels[scored]).tolist()
        if any(counts[stage] == 0 for stage in present):
            raise ValueError("every training sample has the same stage: CRD has no other-class negatives to draw; "
                             "set negatives: uniform")  # fmt: skip
        table = torch.zeros(self.num_classes, int(counts.max()), dtype=torch.long)
        for stage, row in enumerate(rows):
            table[stage, : len(row)] = row
        device = self.student_bank.features.device
        self.other_class_slots, self.other_class_counts = table.to(device), counts.to(device)

    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        ids, stages = batch["index"], batch["stage"]
        v, e = self.embed_student(student.features), self.embed_teacher(teacher.features)
        drawn = self._draw_negatives(ids, stages)
        positive = (self.teacher_bank.labels[drawn] == stages[:, None]) if self.class_conditional else None
        # uniform negatives need no class: then every anchor counts, staged or not
        anchors = None if self.negatives == "uniform" and not self.class_conditional else stages != UNSCORED
        crd = self._nce(v, self.teacher_bank, ids, drawn, positive, anchors, self.nce_student_anchor)
        crd = crd + self._nce(e, self.student_bank, ids, drawn, positive, anchors, self.nce_teacher_anchor)
        self.student_bank.update(v, stages, ids)
        self.teacher_bank.update(e, stages, ids)
        return {"ce": item_cross_entropy(student.logits, batch["label"]), "crd": crd}

    def _draw_negatives(self, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(B, K) bank slots per anchor: other classes' samples, or any sample but the anchor's own."""
        if self.negatives == "uniform":
            return self.teacher_bank.sample_negatives(ids, self.num_negatives)
        if not len(self.other_class_counts):
            raise RuntimeError("CRD's other-class negatives need the training labels: call set_train_labels(labels) "
                               "first (a fit does it from the datamodule)")  # fmt: skip
        labels = labels.clamp_min(0)  # an UNSCORED anchor draws some class's negatives and is left out of the loss
        counts = self.other_class_counts[labels].unsqueeze(1)
        uniform = torch.rand(len(labels), self.num_negatives, device=labels.device)
        positions = torch.minimum((uniform * counts).long(), counts - 1)
        return self.other_class_slots[labels.unsqueeze(1), positions]

    @staticmethod
    def _nce(anchor: torch.Tensor, bank: IndexedBank, ids: torch.Tensor, drawn: torch.Tensor,
             positive: torch.Tensor | None, anchors: torch.Tensor | None, loss: CRDNCELoss) -> torch.Tensor:
        """Score anchors against their own and their drawn bank entries (before this step's update), then NCE."""
        entries = bank.features.to(anchor.dtype, copy=True)  # a copy: the bank is updated before backward
        scores = anchor @ entries.T  # (B, N): every entry once
        scored = torch.cat([scores.gather(1, ids[:, None]), scores.gather(1, drawn)], dim=1)
        mask = None if positive is None else torch.cat([torch.ones_like(positive[:, :1]), positive], dim=1)
        return loss(scored, mask, anchor_mask=anchors)
