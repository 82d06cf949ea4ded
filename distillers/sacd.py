"""SACD: structure-aware contrastive distillation from EEG to infrared video (the paper's method).

Five terms, each switchable for ablations: the student's cross-entropy; CCL's composition head,
classified with cross-entropy; a label-aware cross-modal contrast whose keys come from memory banks
of past embeddings; a structure term that makes the relation graph among a batch's video embeddings
follow the one among its EEG embeddings; and a symmetric KL between the two networks' class
distributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from distillers.base import Distiller, Outputs
from distillers.heads import CompositionHead
from distillers.label_use import LabelUse, item_cross_entropy
from distillers.losses import BankTripletLoss, GraphSimilarityLoss, LabelAwareNCELoss, SimilarityGraphKLLoss, SymmetricKLLoss
from distillers.memory import IndexedBank


class SACD(Distiller):
    """``ce``, ``compose``, ``contrast``, ``structure`` and ``logits`` (weights 1, 1, 1, 1, 0.5).

    Sources: the paper (Seeing your sleep stage: cross-modal distillation from EEG to infrared video,
    2022) and its companion code (SPIresearch/SACD: ``training.py``, ``loss/Khn.py``, ``loss/sta.py``),
    which is incomplete and does not run.
    The composition head is CCL's (:class:`distillers.heads.CompositionHead`). The contrast is
    label-aware: every key of the anchor's sleep stage is a positive, and keys are this batch's
    embeddings plus up to ``bank_keys`` entries of a momentum memory bank (one slot per training
    sample), in two flavours: class-level NCE, or a triplet hinge over ``triplet_k`` mined keys
    (semi-hard by default, FaceNet's sense; squared distances, as the release's ``Khn.py``).

    Departures (our reconstruction where the release is silent or broken):
    - ``compose`` trains the student through ``n(v)``. (CCL's routing keeps the head's own
      cross-entropy out of the student, but SACD has no other term through the head, which would
      then never reach the student.)
    - Both embeddings are projected to ``feature_dim`` and L2-normalised before the contrast.
    - The structure term's default flavour is a row-wise KL between softmaxed cosine-similarity
      graphs; the release's graph-similarity network (``"gsn"``) can learn to score every pair of
      graphs as similar, so it is the option, not the default.
    - The ``logits`` term compares the student with the EEG teacher (the release compares it with
      the composition head's logits, as CCL does).
    - Items nobody scored (the paper's data is fully scored): ``ce`` and ``compose`` leave them out;
      the contrast gives them the teacher's predicted stage (``unscored_labels: teacher``) or leaves
      them out as anchors and keys (``ignore``); ``structure`` and ``logits`` use every item.

    Args:
        student: the video network.
        terms: the losses to compute (default: all of ``default_loss_weights``); leaving one out
            removes it, and the heads it needs, entirely.
        feature_dim: width of the shared contrastive space both embeddings are projected to.
        contrast_flavour: ``"nce"`` (class-level NCE with ``temperature``) or ``"triplet"``.
        temperature: NCE temperature.
        margin: triplet margin between squared unit-vector distances.
        triplet_mining: ``"semi_hard"`` or ``"hardest"`` (see :class:`distillers.losses.BankTripletLoss`).
        triplet_k: how many positives, and negatives per positive, each triplet anchor mines.
        bank_keys: K, past embeddings drawn from the memory bank as extra keys at each step.
        bank_momentum: the bank keeps one entry per training sample, ``m * old + (1 - m) * new``.
        symmetric: also contrast EEG anchors against video keys, and average the two directions.
        structure_flavour: ``"kl"`` (row-wise KL between softmaxed cosine-similarity graphs) or
            ``"gsn"`` (a graph-similarity network scores the two graphs; ``mean((s - 1)^2)``).
        structure_temperature: softmax temperature of the ``"kl"`` flavour.
        gsn_filters: F, node-embedding width of the graph-similarity network.
        gsn_tensor_slices: K, slices of its neural tensor network.
        logits_temperature: temperature of the symmetric KL between class distributions.
    """

    default_loss_weights: ClassVar[dict[str, float]] = {
        "ce": 1.0, "compose": 1.0, "contrast": 1.0, "structure": 1.0, "logits": 0.5,
    }
    label_terms: ClassVar[dict[str, LabelUse]] = {"ce": "scored", "compose": "scored", "contrast": "staged"}

    def __init__(
        self,
        student: nn.Module,
        terms: Sequence[str] | None = None,
        feature_dim: int = 128,
        contrast_flavour: Literal["nce", "triplet"] = "nce",
        temperature: float = 0.07,
        margin: float = 0.5,
        triplet_mining: Literal["semi_hard", "hardest"] = "semi_hard",
        triplet_k: int = 5,
        bank_keys: int = 4096,
        bank_momentum: float = 0.5,
        symmetric: bool = True,
        structure_flavour: Literal["kl", "gsn"] = "kl",
        structure_temperature: float = 0.1,
        gsn_filters: int = 32,
        gsn_tensor_slices: int = 16,
        logits_temperature: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(student, **kwargs)
        self.terms = self._checked_terms(terms)
        student_dim, teacher_dim = self.embedding_dims()
        if "compose" in self.terms:
            self.composition = CompositionHead(teacher_dim, student_dim, self.num_classes)
        if "contrast" in self.terms:
            self.add_cross_modal_memory(feature_dim, bank_momentum)
            self.bank_keys = bank_keys
            self.symmetric = symmetric
            if contrast_flavour == "nce":
                self.contrast_loss: nn.Module = LabelAwareNCELoss(temperature)
            elif contrast_flavour == "triplet":
                self.contrast_loss = BankTripletLoss(margin, triplet_k, triplet_mining)
            else:
                raise ValueError(f"contrast_flavour must be 'nce' or 'triplet', got {contrast_flavour!r}")
        if "structure" in self.terms:
            if structure_flavour == "kl":
                self.structure_loss: nn.Module = SimilarityGraphKLLoss(structure_temperature)
            elif structure_flavour == "gsn":
                self.structure_loss = GraphSimilarityLoss(student_dim, teacher_dim, gsn_filters, gsn_tensor_slices)
            else:
                raise ValueError(f"structure_flavour must be 'kl' or 'gsn', got {structure_flavour!r}")
        self.logits_loss = SymmetricKLLoss(logits_temperature)

    def _checked_terms(self, terms: Sequence[str] | None) -> tuple[str, ...]:
        known = tuple(self.default_loss_weights)
        if terms is None:
            return known
        unknown = sorted(set(terms) - set(known))
        if unknown or not terms:
            raise ValueError(f"{type(self).__name__} terms must be a non-empty subset of {list(known)}, got {list(terms)}")
        return tuple(name for name in known if name in terms)

    def distill(self, student: Outputs, teacher: Outputs | None, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        labels, eeg = batch["label"], teacher.features.detach()
        losses = {}
        if "ce" in self.terms:
            losses["ce"] = item_cross_entropy(student.logits, labels)
        if "compose" in self.terms:
            losses["compose"] = item_cross_entropy(self.composition(eeg, student.features)[0], labels)
        if "contrast" in self.terms:
            losses["contrast"] = self._contrast(student.features, eeg, batch["stage"], batch["index"])
        if "structure" in self.terms:
            losses["structure"] = self.structure_loss(student.features, eeg)
        if "logits" in self.terms:
            losses["logits"] = self.logits_loss(student.logits, teacher.logits.detach())
        return losses

    def _contrast(self, video: torch.Tensor, eeg: torch.Tensor, labels: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Video anchors against this batch's and the bank's EEG keys (and the reverse when symmetric)."""
        v, e = self.embed_student(video), self.embed_teacher(eeg)
        slots = self.teacher_bank.draw_slots(self.bank_keys)  # both banks fill the same slots
        loss = self.contrast_loss(v, labels, *self._keys(e, labels, self.teacher_bank, slots))
        if self.symmetric:
            loss = 0.5 * (loss + self.contrast_loss(e, labels, *self._keys(v, labels, self.student_bank, slots)))
        self.student_bank.update(v, labels, ids)
        self.teacher_bank.update(e, labels, ids)
        return loss

    @staticmethod
    def _keys(batch_keys: torch.Tensor, labels: torch.Tensor, bank: IndexedBank, slots: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Keys, their labels and the (B, B + K) mask of usable keys: the batch, then the bank's filled slots."""
        keys = torch.cat([batch_keys, bank.features[slots].to(batch_keys.dtype)])
        key_labels = torch.cat([labels, bank.labels[slots]])
        usable = torch.cat([torch.ones(len(labels), dtype=torch.bool, device=slots.device), bank.filled()[slots]])
        return keys, key_labels, usable.unsqueeze(0).expand(len(labels), -1)
