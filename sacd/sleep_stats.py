"""Whole-night sleep statistics from a hypnogram, as a sleep report gives them.

Conventions (AASM scoring manual terms):

- *time in bed* (TIB): the whole recording, every epoch, unscored ones included;
- *sleep onset*: the start of the first epoch scored N1, N2, N3 or REM; *sleep onset latency*
  (SOL) is the time from the first epoch to it;
- *total sleep time* (TST): all epochs of N1, N2, N3 and REM; *sleep efficiency* is TST / TIB;
- *REM latency*: from sleep onset to the first REM epoch (None without REM);
- *sleep period*: from sleep onset to the end of the last sleep epoch; *WASO* (wake after sleep
  onset) is the wake inside it, and an *awakening* is one run of wake epochs inside it, so the
  final awakening at the end of the night is not counted;
- unscored epochs (-1: movement, artefact, a gap in the video) count towards TIB only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from sacd.stages import STAGES, UNSCORED

WAKE = 0


@dataclass
class SleepSummary:
    """Sleep statistics of one night; times in minutes, percentages in percent."""

    time_in_bed_min: float
    total_sleep_time_min: float
    sleep_efficiency_pct: float
    sleep_onset_latency_min: float | None
    rem_latency_min: float | None
    waso_min: float
    awakenings: int
    unscored_min: float
    stage_minutes: dict[str, float]
    stage_percent_of_sleep: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)

    def format_table(self, title: str = "Sleep summary") -> str:
        """Plain-text table, as printed after a night is staged."""

        def minutes(value: float | None, missing: str = "n/a") -> str:
            return missing if value is None else f"{value:6.1f} min"

        lines = [
            f"{title}",
            f"  time in bed            {minutes(self.time_in_bed_min)}",
            f"  total sleep time       {minutes(self.total_sleep_time_min)}",
            f"  sleep efficiency       {self.sleep_efficiency_pct:6.1f} %",
            f"  sleep onset latency    {minutes(self.sleep_onset_latency_min, '  no sleep')}",
            f"  REM latency            {minutes(self.rem_latency_min, '  no REM')}",
            f"  wake after sleep onset {minutes(self.waso_min)}",
            f"  awakenings             {self.awakenings:6d}",
            f"  unscored               {minutes(self.unscored_min)}",
            "",
            "  stage      min   % of sleep",
        ]
        for name, value in self.stage_minutes.items():
            percent = self.stage_percent_of_sleep.get(name)
            share = "" if percent is None else f"{percent:8.1f}"
            lines.append(f"  {name:<6} {value:7.1f}   {share}")
        return "\n".join(lines)


def sleep_summary(stages: Sequence[int] | np.ndarray, epoch_seconds: float = 30.0,
                  class_names: Sequence[str] = STAGES) -> SleepSummary:  # fmt: skip
    """Statistics of a hypnogram (one stage index per epoch, ``-1`` unscored; index 0 is wake)."""
    stages = np.asarray(stages, dtype=np.int64).reshape(-1)
    if epoch_seconds <= 0:
        raise ValueError(f"epoch_seconds must be > 0, got {epoch_seconds}")
    if stages.size and (stages.min() < UNSCORED or stages.max() >= len(class_names)):
        raise ValueError(f"stages must be in [-1, {len(class_names) - 1}], got {stages.min()}..{stages.max()}")
    epoch_min = epoch_seconds / 60.0
    asleep = stages > WAKE
    tib = len(stages) * epoch_min
    tst = int(asleep.sum()) * epoch_min
    sleep_epochs = np.flatnonzero(asleep)
    rem = class_names.index("REM") if "REM" in class_names else None
    if len(sleep_epochs):
        onset, last = int(sleep_epochs[0]), int(sleep_epochs[-1])
        period = stages[onset : last + 1]
        waso = int((period == WAKE).sum()) * epoch_min
        awakenings = _runs(period == WAKE)
        rem_epochs = np.flatnonzero(stages == rem) if rem is not None else np.array([], dtype=np.int64)
        rem_latency = (int(rem_epochs[0]) - onset) * epoch_min if len(rem_epochs) else None
        onset_latency: float | None = onset * epoch_min
    else:
        waso, awakenings, rem_latency, onset_latency = 0.0, 0, None, None
    minutes = {name: int((stages == index).sum()) * epoch_min for index, name in enumerate(class_names)}
    percent = {name: (100.0 * minutes[name] / tst if tst else 0.0) for index, name in enumerate(class_names) if index != WAKE}
    return SleepSummary(
        time_in_bed_min=tib,
        total_sleep_time_min=tst,
        sleep_efficiency_pct=100.0 * tst / tib if tib else 0.0,
        sleep_onset_latency_min=onset_latency,
        rem_latency_min=rem_latency,
        waso_min=waso,
        awakenings=awakenings,
        unscored_min=int((stages == UNSCORED).sum()) * epoch_min,
        stage_minutes=minutes,
        stage_percent_of_sleep=percent,
    )


def _runs(mask: np.ndarray) -> int:
    """Number of runs of True in a boolean array."""
    if not mask.size:
        return 0
    return int(mask[0]) + int(np.count_nonzero(mask[1:] & ~mask[:-1]))
