"""The base of every paired EEG/video datamodule.

A subclass says which subjects exist (a :class:`SubjectSplit`), what one item looks like (shapes
and sampling rate, known at construction so the CLI can link them into the model) and how many
training epochs there are; then it implements :meth:`PairedDataModule.make_dataset`, which turns a
tuple of subject ids into a torch ``Dataset`` of item dicts. The base adds the ``"index"`` key (a
sample id unique within the split, ``0..len-1``), caches one dataset per split and builds the four
dataloaders.

Item dict (before collation):
    ``"eeg"``: float32 (channels, samples); ``"video"``: float32 (1, frames, height, width);
    ``"label"`` (a stage, or ``UNSCORED`` for an item of a night nobody scored: training only),
    ``"subject"``, ``"epoch"``, ``"index"``: int64 scalars; synthetic nights add
    ``"label_true"`` (int64), the latent stage of which ``"label"`` may be a simulated scorer's reading.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from datamodules.sampling import EpochSampler, EvaluationShard
from datamodules.splits import SubjectSplit
from datamodules.stages import STAGES, UNSCORED

SplitName = Literal["train", "val", "test"]
_SPLITS_FOR_STAGE: dict[str | None, tuple[SplitName, ...]] = {
    "fit": ("train", "val"),
    "validate": ("val",),
    "test": ("test",),
    "predict": ("test",),
    None: ("train", "val", "test"),
}


def epoch_spec(num_channels: int, sample_rate: float, epoch_seconds: float, frames: int, frame_size: int) -> dict:
    """The base's shape arguments for epochs of ``num_channels`` EEG channels and square clips."""
    return {
        "eeg_shape": (num_channels, int(round(sample_rate * epoch_seconds))),
        "video_shape": (1, frames, frame_size, frame_size),
        "eeg_sample_rate": float(sample_rate),
    }


class IndexedDataset(Dataset):
    """Wraps a dataset of item dicts and adds ``"index"``: the item's position, as an int64 tensor.

    Keys are an index, or an ``(index, draw)`` pair from :class:`EpochSampler`; a dataset with a
    ``drawn(index, draw)`` method (random augmentation) gets the draw number to seed it with.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, draw = key if isinstance(key, tuple) else (key, None)
        drawn = getattr(self.dataset, "drawn", None)
        item = dict(drawn(index, draw) if draw is not None and drawn is not None else self.dataset[index])
        item["index"] = torch.tensor(index, dtype=torch.int64)
        return item


class PairedDataModule(L.LightningDataModule, abc.ABC):
    """Pairs each 30 s EEG epoch with the synchronized IR video clip, split by subject.

    Args:
        split: which subjects are train, val and test.
        eeg_shape: (channels, samples) of one EEG epoch.
        video_shape: (1, frames, height, width) of one clip.
        eeg_sample_rate: EEG sampling rate in Hz.
        batch_size: items per batch in every dataloader.
        num_workers: dataloader worker processes (kept alive between epochs when > 0).
        seed: seed of the training shuffle.
        class_names: stage names in label order.
        balanced_sampling: draw training epochs with replacement, each scored stage equally often
            on average (N1 is ~4% of a night), instead of shuffling.
        unscored_ratio: share of the training draws that are unscored items (label ``UNSCORED``);
            None mixes them in as they occur. A model that cannot learn from them (the EEG teacher,
            the Vanilla student: ``learns_from_unscored = False``) always draws scored items only.
            Any ratio but "as they occur" draws with replacement. An epoch is one draw per training
            item, scored or not, for every model, so that every method takes the same number of
            optimisation steps on the same data.
    """

    #: init args that shape only how the training set is drawn, never which epochs are validated or
    #: tested: what a teacher may be given beyond its student's data (``Distiller(teacher_data=...)``)
    training_only_args: ClassVar[frozenset[str]] = frozenset(
        {"batch_size", "num_workers", "balanced_sampling", "unscored_ratio"}
    )

    def __init__(
        self,
        *,
        split: SubjectSplit,
        eeg_shape: tuple[int, int],
        video_shape: tuple[int, int, int, int],
        eeg_sample_rate: float,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        class_names: Sequence[str] = STAGES,
        balanced_sampling: bool = False,
        unscored_ratio: float | None = None,
    ) -> None:
        super().__init__()
        if unscored_ratio is not None and not 0.0 <= unscored_ratio < 1.0:
            raise ValueError(f"unscored_ratio must be None (as they occur) or in [0, 1), got {unscored_ratio}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        if len(eeg_shape) != 2 or len(video_shape) != 4:
            raise ValueError(
                "expected eeg_shape (channels, samples) and video_shape (1, T, H, W), "
                f"got {eeg_shape} and {video_shape}"
            )
        self._split = split
        self._eeg_shape = (int(eeg_shape[0]), int(eeg_shape[1]))
        self._video_shape = tuple(int(v) for v in video_shape)
        self._eeg_sample_rate = float(eeg_sample_rate)
        self._class_names = list(class_names)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.balanced_sampling = balanced_sampling
        self.unscored_ratio = unscored_ratio
        self._datasets: dict[SplitName, IndexedDataset] = {}

    # -- what subclasses provide ---------------------------------------------------------------
    @abc.abstractmethod
    def make_dataset(self, subjects: tuple[int, ...]) -> Dataset:
        """A dataset of the given subjects' epochs; items are dicts without ``"index"``."""

    @property
    @abc.abstractmethod
    def num_train_samples(self) -> int:
        """Number of training epochs across the train subjects (known without ``setup``)."""

    # -- the data spec, linked into models at instantiation ------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self._class_names)

    @property
    def class_names(self) -> list[str]:
        return list(self._class_names)

    @property
    def eeg_shape(self) -> tuple[int, int]:
        return self._eeg_shape

    @property
    def video_shape(self) -> tuple[int, int, int, int]:
        return self._video_shape  # type: ignore[return-value]

    @property
    def eeg_sample_rate(self) -> float:
        return self._eeg_sample_rate

    @property
    def split(self) -> SubjectSplit:
        return self._split

    # -- datasets and loaders -----------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if stage not in _SPLITS_FOR_STAGE:
            raise ValueError(f"unknown stage {stage!r}: expected one of {list(_SPLITS_FOR_STAGE)}")
        for name in _SPLITS_FOR_STAGE[stage]:
            self.dataset(name)

    def dataset(self, name: SplitName) -> IndexedDataset:
        """The (cached) dataset of one split, built on first use."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}: expected 'train', 'val' or 'test'")
        if name not in self._datasets:
            dataset = IndexedDataset(self.make_dataset(getattr(self.split, name)))
            if name == "train" and len(dataset) != self.num_train_samples:
                raise RuntimeError(
                    f"{type(self).__name__}: the train dataset has {len(dataset)} items but "
                    f"num_train_samples says {self.num_train_samples}; memory banks rely on them matching"
                )
            if name != "train":
                _refuse_unscored(self, name, dataset)
            self._datasets[name] = dataset
        return self._datasets[name]

    def labels(self, name: SplitName) -> torch.Tensor:
        """(items,) int64 stage of every item of a split (``UNSCORED`` where nobody scored it), in
        ``"index"`` order (class-balanced sampling, CRD's other-class negatives)."""
        return _dataset_labels(self.dataset(name))

    def training_weights(self, unscored_ratio: float | None) -> torch.Tensor | None:
        """Per-item draw weights of the training set, or None for a plain shuffle.

        Scored items share ``1 - r`` of the draws (equally per stage with ``balanced_sampling``),
        unscored items ``r``; ``r`` is ``unscored_ratio``, or their share of the set when None.
        """
        if not self.balanced_sampling and getattr(self.dataset("train").dataset, "labels", None) is None:
            return None  # a dataset that does not list its labels is taken as scored throughout
        labels = self.labels("train")
        scored = labels != UNSCORED
        num_scored = int(scored.sum())
        if num_scored == 0 and unscored_ratio == 0.0:
            raise ValueError(
                f"{type(self).__name__}: no training item is scored, and this model learns from scored items only; "
                "score at least one training night (e.g. a larger scored_fraction)"
            )
        everything_scored = num_scored == len(labels)
        if not self.balanced_sampling and (unscored_ratio is None or everything_scored):
            return None
        ratio = (len(labels) - num_scored) / len(labels) if unscored_ratio is None else unscored_ratio
        ratio = 0.0 if everything_scored else ratio
        weights = torch.zeros(len(labels), dtype=torch.double)
        if num_scored:
            if self.balanced_sampling:
                counts = torch.bincount(labels[scored], minlength=self.num_classes).double()
                present = int((counts > 0).sum())
                weights[scored] = (1.0 - ratio) / (present * counts[labels[scored]])
            else:
                weights[scored] = (1.0 - ratio) / num_scored
        if num_scored < len(labels):
            weights[~scored] = (ratio if num_scored else 1.0) / (len(labels) - num_scored)
        return weights

    def _unscored_ratio_for_model(self) -> float | None:
        """The ratio of this fit: 0 for a model that cannot learn from unscored items, else ``unscored_ratio``."""
        model = self.trainer.lightning_module if self.trainer is not None else None
        return 0.0 if not getattr(model, "learns_from_unscored", True) else self.unscored_ratio

    def _loader(self, name: SplitName, shuffle: bool) -> DataLoader:
        dataset = self.dataset(name)
        sampler = None
        if shuffle:  # an order that depends on (seed, epoch) only: a resumed run sees the same batches
            sampler = EpochSampler(len(dataset), self.seed, self.training_weights(self._unscored_ratio_for_model()))
        elif self._distributed():  # Lightning's padded sampler would count repeated samples in the metrics
            sampler = EvaluationShard(len(dataset), self.trainer.world_size, self.trainer.global_rank)
        # the loader's generator only seeds worker processes; fixed, it never draws from the global stream
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=False,
            generator=generator,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def _distributed(self) -> bool:
        return self.trainer is not None and self.trainer.world_size > 1

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


def _dataset_labels(dataset: IndexedDataset) -> torch.Tensor:
    labels = getattr(dataset.dataset, "labels", None)
    if labels is None:
        raise TypeError(
            f"{type(dataset.dataset).__name__} has no `labels` array: give it one (the stage of every item, in order)"
        )
    return torch.as_tensor(np.asarray(labels), dtype=torch.int64)


def _refuse_unscored(datamodule: PairedDataModule, name: SplitName, dataset: IndexedDataset) -> None:
    """Validation and test items are scored: an unscored one cannot be evaluated and would be miscounted."""
    labels = getattr(dataset.dataset, "labels", None)
    if labels is None:
        return
    unscored = np.flatnonzero(np.asarray(labels) == UNSCORED)
    if len(unscored):
        first = dataset[int(unscored[0])]
        raise ValueError(
            f"{type(datamodule).__name__}: {len(unscored)} {name} items are unscored (the first: subject "
            f"{int(first['subject'])}, epoch {int(first['epoch'])}); nights nobody scored are for training only: "
            "score them, or keep their subjects in the training split"
        )
