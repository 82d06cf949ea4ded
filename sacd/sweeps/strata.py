"""A sweep's shared grid as strata: each value of a key that every method ran at is its own comparison.

A grid over the setting (``data.init_args.scored_fraction: [0.1, 0.25, 1.0]``) asks how each method
fares at each value. Pairing a method at one value with the baseline at another would compare
settings, not methods, so the report splits the runs by the shared grid's values, names each method
by its own parameters inside a stratum, and pairs, ranks and plots within it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sacd.sweeps.results import RunResult


def stratum_keys(runs: Sequence[RunResult]) -> list[str]:
    """The grid keys every run has and that take two or more values: a sweep-wide grid (sorted)."""
    if not runs:
        return []
    common = set(runs[0].params).intersection(*(run.params for run in runs[1:]))
    return sorted(key for key in common if len({_key(run.params[key]) for run in runs}) > 1)


def _key(value: Any) -> Any:
    """A sortable, hashable stand-in for a grid value (numbers by value before text)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, repr(value))


def split_by_stratum(runs: Sequence[RunResult], keys: Sequence[str]) -> dict[tuple, list[RunResult]]:
    """Runs per tuple of ``keys``' values (in value order), each relabelled by its other parameters only."""
    from sacd.sweeps.results import method_label  # results imports this module

    strata: dict[tuple, list[RunResult]] = {}
    for run in runs:
        values = tuple(run.params[key] for key in keys)
        own = {key: value for key, value in run.params.items() if key not in keys}
        strata.setdefault(values, []).append(dataclasses.replace(run, method=method_label(run.name, own)))
    return dict(sorted(strata.items(), key=lambda item: tuple(_key(value) for value in item[0])))


def stratum_methods(strata: dict[tuple, list[RunResult]]) -> list[str]:
    """Every method label of the strata, in first-seen order."""
    return list(dict.fromkeys(run.method for members in strata.values() for run in members))


def short_name(key: str) -> str:
    """``scored_fraction`` for ``data.init_args.scored_fraction``."""
    return key.rsplit(".", 1)[-1]


def stratum_title(keys: Sequence[str], values: tuple) -> str:
    """``scored_fraction = 0.1`` (several keys joined by commas)."""
    return ", ".join(f"{short_name(key)} = {value}" for key, value in zip(keys, values))


def stratum_slug(keys: Sequence[str], values: tuple) -> str:
    """A folder name for a stratum's figures: ``scored_fraction-0.1``."""
    return "_".join(f"{short_name(key)}-{value}" for key, value in zip(keys, values)).replace("/", "-")


def numeric_axis(values: Sequence[tuple]) -> list[float] | None:
    """The strata's positions on a number line, or None unless there is one key and every value is a number."""
    if any(len(value) != 1 for value in values):
        return None
    numbers = [value[0] for value in values]
    if not all(isinstance(n, (int, float)) and not isinstance(n, bool) and math.isfinite(n) for n in numbers):
        return None
    return [float(n) for n in numbers]
