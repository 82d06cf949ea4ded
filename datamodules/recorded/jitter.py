"""Training clips with frame-time jitter, decoded on the fly from the recorded videos.

Uniformly spaced frames are what the cache holds and what evaluation uses. For training, each
draw takes one random time inside each of the T slices of the epoch, so the student sees other
frames of the same epochs from one training epoch to the next (an augmentation real video allows).
"""

from __future__ import annotations

import numpy as np
import torch

from datamodules.epoch_dataset import EpochDataset
from datamodules.epochs import EpochArrays
from datamodules.recorded.video import NightVideo


class JitteredEpochDataset(EpochDataset):
    """An :class:`EpochDataset` whose clips are drawn with jittered frame times.

    Each draw is seeded by (seed, item, draw number). The training sampler numbers its draws as a
    function of (seed, epoch) (see :class:`datamodules.sampling.EpochSampler`), so the frames a
    run sees do not depend on worker processes or on a resume. Indexing with a plain item number
    gives draw 0.
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
        self._draw = 0

    def drawn(self, index: int, draw: int) -> dict[str, torch.Tensor]:
        """Item ``index`` as draw number ``draw`` sees it."""
        self._draw = draw
        try:
            return self[index]
        finally:
            self._draw = 0

    def video(self, index: int, epoch: int) -> np.ndarray:
        night = int(self._night[index])
        arrays = self.nights[night][1]
        rng = np.random.default_rng([self.seed, index, self._draw])
        start = float(arrays.onsets[epoch])
        frames = arrays.video.shape[1]
        clip = self.videos[night].clip(start, start + self.epoch_seconds, frames, size=(self.frame_size,) * 2, rng=rng)
        return arrays.standardise_video(clip)
