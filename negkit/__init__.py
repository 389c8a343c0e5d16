"""negkit: hard-negative mining for contrastive vision-language training.

Names that need torch (``Loss``, ``LossInputs``, ``run``) are imported on first access, so that
``import negkit`` (and the CLI's ``--help``, ``validate`` and ``list-plugins``) stay fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from negkit.data.base import DataSource
from negkit.eval.base import EvalContext, Evaluator
from negkit.hookspecs import hookimpl
from negkit.mining.base import Edit, Miner, Negative
from negkit.plugins import get_component
from negkit.recipe import Recipe, load_recipe
from negkit.version import __version__

__all__ = [
    "BatchSampler",
    "DataSource",
    "Edit",
    "EvalContext",
    "Evaluator",
    "Loss",
    "LossInputs",
    "Miner",
    "Negative",
    "Recipe",
    "__version__",
    "get_component",
    "hookimpl",
    "load_recipe",
    "run",
]

_LAZY = {
    "BatchSampler": "negkit.train.samplers",
    "Loss": "negkit.losses.base",
    "LossInputs": "negkit.losses.base",
    "run": "negkit.pipeline",
}

if TYPE_CHECKING:
    from negkit.losses.base import Loss, LossInputs
    from negkit.pipeline import run
    from negkit.train.samplers import BatchSampler


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'negkit' has no attribute {name!r}")
