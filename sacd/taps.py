"""Forward hooks that collect intermediate feature maps by module path.

Distillers ask for feature maps by dotted path (as in ``named_modules()``), so adding a method that
needs hints or attention maps never requires editing the networks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn


def resolve_module(root: nn.Module, path: str) -> nn.Module:
    """Return the submodule at a dotted path, with an error that lists the valid paths."""
    modules = dict(root.named_modules())
    if path not in modules:
        suggested = getattr(root, "feature_paths", None) or [name for name in modules if name][:40]
        raise ValueError(
            f"{type(root).__name__} has no module at path {path!r}. "
            f"Use one of: {', '.join(suggested)}"
        )
    return modules[path]


@contextmanager
def feature_taps(root: nn.Module, paths: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Collect the outputs of the modules at ``paths`` during the forward passes inside the block.

    Yields a dict filled by the hooks (path -> output tensor); hooks are removed on exit.
    """
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for path in dict.fromkeys(paths):
        module = resolve_module(root, path)

        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor, key: str = path) -> None:
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"module {key!r} returned {type(output).__name__}, not a tensor")
            captured[key] = output

        handles.append(module.register_forward_hook(hook))
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()
