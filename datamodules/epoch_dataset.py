"""A torch Dataset over the epochs of several nights held as :class:`EpochArrays`."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.epochs import EpochArrays


class EpochDataset(Dataset):
    """Epochs of a list of (subject id, night arrays), in night order then epoch order.

    Items are dicts without ``"index"`` (the datamodule base adds it): ``eeg`` (C, S) float32,
    ``video`` (1, T, H, W) float32 standardised per night, ``label``, ``subject``, ``epoch`` int64, and
    ``label_true`` int64 (the latent stage) when every night knows its latent stages (synthetic nights).
    """

    def __init__(self, nights: list[tuple[int, EpochArrays]]) -> None:
        self.nights = nights
        lengths = [len(arrays.labels) for _, arrays in nights]
        self._night = np.repeat(np.arange(len(nights), dtype=np.int64), lengths)
        self._epoch = np.concatenate([np.arange(n, dtype=np.int64) for n in lengths] or [np.zeros(0, np.int64)])
        #: one batch must hold the same keys, so label_true only where all nights have it
        self.knows_true_stages = bool(nights) and all(arrays.labels_true is not None for _, arrays in nights)

    @property
    def labels(self) -> np.ndarray:
        """(items,) stage of every item, in item order (for class-balanced sampling)."""
        parts = [np.asarray(arrays.labels) for _, arrays in self.nights]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._night)

    def video(self, index: int, epoch: int) -> np.ndarray:
        """(1, T, H, W) float32 clip of item ``index`` (epoch ``epoch`` of its night): the stored frames."""
        return self.nights[self._night[index]][1].video_clip(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        subject, arrays = self.nights[self._night[index]]
        epoch = int(self._epoch[index])
        item = {
            "eeg": torch.from_numpy(np.array(arrays.eeg[epoch], dtype=np.float32)),
            "video": torch.from_numpy(self.video(index, epoch)),
            "label": torch.tensor(int(arrays.labels[epoch]), dtype=torch.int64),
            "subject": torch.tensor(subject, dtype=torch.int64),
            "epoch": torch.tensor(epoch, dtype=torch.int64),
        }
        if self.knows_true_stages:
            item["label_true"] = torch.tensor(int(arrays.labels_true[epoch]), dtype=torch.int64)
        return item
