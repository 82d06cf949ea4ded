"""Training clips with frame-time jitter, decoded on the fly from the recorded videos.

Uniformly spaced frames are what the cache holds and what evaluation uses. For training, each
access draws one random time inside each of the T slices of the epoch, so the student sees other
frames of the same epochs from one training epoch to the next (an augmentation real video allows).
"""

from __future__ import annotations

import numpy as np

from datamodules.epoch_dataset import EpochDataset
from datamodules.epochs import EpochArrays
from datamodules.recorded.video import NightVideo


class JitteredEpochDataset(EpochDataset):
    """An :class:`EpochDataset` whose clips are re-drawn with jittered frame times at every access.

    Draws are seeded by (seed, item, how often the item was drawn), so a run is repeatable.
    """

    def __init__(
        self,
        nights: list[tuple[int, EpochArrays]],
        videos: list[NightVideo],
        *,
        epoch_seconds: float,
        frame_size: int,
        seed: int,
    ) -> None:
        super().__init__(nights)
        self.videos = videos
        self.epoch_seconds = epoch_seconds
        self.frame_size = frame_size
        self.seed = seed
        self._draws = np.zeros(len(self), dtype=np.int64)

    def video(self, index: int, epoch: int) -> np.ndarray:
        night = int(self._night[index])
        arrays = self.nights[night][1]
        rng = np.random.default_rng([self.seed, index, int(self._draws[index])])
        self._draws[index] += 1
        start = float(arrays.onsets[epoch])
        frames = arrays.video.shape[1]
        clip = self.videos[night].clip(start, start + self.epoch_seconds, frames, size=(self.frame_size,) * 2, rng=rng)
        return arrays.standardise_video(clip)
