"""Which items of a training batch each loss may use, when some nights were never scored.

A lab records far more nights than it scores; the teacher can still supervise the student on the
unscored ones. A loss falls in one of three groups, which a distiller declares in
``Distiller.label_terms`` (a loss not named there is label-free and sees every item):

- ``"scored"``: it needs a scorer's stage (cross-entropy, a composition head's cross-entropy), so it
  sees scored items only;
- ``"unscored"``: it is for the items without one (pseudo-labels);
- ``"staged"``: it is label-aware (class-exclusive negatives, same-class positives, DKD's target
  class) and reads ``batch["stage"]``: the scorer's stage, or for an unscored item the teacher's
  predicted stage (``unscored_labels="teacher"``) or ``UNSCORED`` (``"ignore"``: left out).

A loss returned per item, shape (B,), is averaged by the base over the items its group allows; a
batch with none of them gives a zero that still belongs to the graph, never the NaN of an empty
mean. A scalar loss is taken as it is: a ``"staged"`` scalar leaves out ``UNSCORED`` items itself
(the contrastive losses do), and ``"scored"``/``"unscored"`` terms must be per item.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from sacd.stages import UNSCORED

LabelUse = Literal["scored", "unscored", "staged"]
UnscoredLabels = Literal["teacher", "ignore"]
LABEL_USES: tuple[str, ...] = ("scored", "unscored", "staged")
UNSCORED_LABEL_RULES: tuple[str, ...] = ("teacher", "ignore")

__all__ = ["LABEL_USES", "UNSCORED", "UNSCORED_LABEL_RULES", "LabelUse", "UnscoredLabels", "item_cross_entropy",
           "items_of", "mean_over", "stages_of"]  # fmt: skip


def item_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B,) cross-entropy per item, 0 where the label is ``UNSCORED`` (the base averages over scored items)."""
    return F.cross_entropy(logits, labels, ignore_index=UNSCORED, reduction="none")


def stages_of(labels: torch.Tensor, teacher_logits: torch.Tensor | None, rule: UnscoredLabels) -> torch.Tensor:
    """The stage label-aware terms use: the scorer's, else the teacher's prediction (``teacher``) or ``UNSCORED``."""
    if rule == "ignore" or teacher_logits is None:
        return labels
    return torch.where(labels == UNSCORED, teacher_logits.detach().argmax(dim=1), labels)


def items_of(use: LabelUse | None, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """(B,) mask of the items a loss of this group may use; None for every item."""
    if use is None:
        return None
    if use == "scored":
        return batch["label"] != UNSCORED
    if use == "unscored":
        return batch["label"] == UNSCORED
    return batch["stage"] != UNSCORED


def mean_over(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-item ``values`` over ``mask`` (all items when None); 0, still in the graph, if it is empty."""
    if mask is None:
        return values.mean()
    kept = torch.where(mask, values, torch.zeros_like(values))
    return kept.sum() / mask.sum().clamp_min(1).to(values.dtype)
