"""Losses: the Loss contract, LossInputs, the built-in losses and their shared logits. Knows only torch.

The names are imported on first access, so that looking a loss module up (the plugin registry reads
lazily registered classes from source) does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from negkit.losses.base import Loss, LossInputs

__all__ = ["Loss", "LossInputs"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("negkit.losses.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
