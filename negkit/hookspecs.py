"""The plugin contract of negkit.

A plugin is a module (or package) with functions decorated by ``negkit.hookimpl`` whose names are the
hooks below. negkit finds third-party plugins through the ``negkit`` entry-point group::

    [project.entry-points.negkit]
    my_plugin = "my_plugin_module"

Every hook takes one argument, ``register``: a callback to call once per component class the plugin
provides. A component class has a class attribute ``name`` (kebab-case, unique within its kind; two
plugins registering the same name is an error naming both). Recipe keys of a component table other than
``name`` and ``weight`` become keyword arguments of the class's constructor; negkit checks them against
the constructor's signature (and its type hints) before anything runs.

``register`` also accepts an import path string ``"package.module:ClassName"``. The class is then only
imported when a recipe uses it, which keeps ``negkit list-plugins`` and ``negkit validate`` fast for
components that import heavy libraries such as torch; negkit reads its ``name`` and constructor signature
from the module's source without importing it.

Built-in components are registered through exactly these hooks, from ``negkit.builtins``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("negkit")
hookimpl = pluggy.HookimplMarker("negkit")

Register = Callable[[Any], None]


@hookspec
def register_miners(register: Register) -> None:
    """Register hard-negative miners: subclasses of ``negkit.Miner``.

    A miner turns captions into negative captions. ``Miner.mine(captions, *, k, seed)`` returns, for
    each caption, up to ``k`` ``negkit.Negative`` objects. It must be deterministic in (caption, seed)
    whatever the batch it arrives in, never return the caption itself or duplicates, and never raise on
    odd text (return an empty list instead). Miners run in worker processes during the cached mining
    stage, so they must be picklable and must not import torch.
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register training losses: subclasses of ``negkit.Loss`` (a ``torch.nn.Module``).

    ``Loss.forward(inputs: negkit.LossInputs) -> dict[str, Tensor]`` returns named scalar terms. Keys
    ending in ``"loss"`` are multiplied by the recipe's ``weight`` and summed into the objective; other
    keys are detached diagnostics that are logged (for example the hard-negative gradient share).
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Register data sources: subclasses of ``negkit.DataSource``.

    ``DataSource.records(split)`` returns a random-access table of ``{"image", "caption"}`` records
    (a ``datasets.Dataset`` with those columns qualifies); ``image`` is a PIL image or a file path.
    The recipe's ``[data] source`` names the class; the other ``[data]`` keys are its constructor
    arguments.
    """


@hookspec
def register_evaluators(register: Register) -> None:
    """Register evaluators: subclasses of ``negkit.Evaluator``.

    ``Evaluator.evaluate(ctx: negkit.EvalContext) -> dict[str, float]`` returns flat metric keys such
    as ``"swap-att/acc"``; negkit prefixes them with the evaluator's name in ``metrics.json``. An
    evaluator reaches the model only through the context's batched, de-duplicating
    ``encode_images`` / ``encode_texts``.
    """


@hookspec
def register_samplers(register: Register) -> None:
    """Register batch samplers: subclasses of ``negkit.BatchSampler``, which decide which records share a batch.

    The recipe's ``[sampler]`` table names one (default ``random``); its other keys are constructor
    arguments. ``BatchSampler.setup(records, *, batch_size, world, seed)`` runs once before training and
    must reject bad data there (neighbour indices out of range, too few records to fill a batch) with a
    ``NegkitError`` naming the batch size and the count. ``BatchSampler.batches(epoch)`` returns the
    epoch's ``len(records) // batch_size`` global batches, each a list of groups of record indices
    (``batch_size`` indices in all). It must be deterministic in (seed, epoch) and the same on every
    process. Under DDP process ``r`` takes records ``r * local .. (r + 1) * local`` of each batch
    (``local = batch_size // world``); a group (for example an image and its nearest neighbours) never
    crosses one of those boundaries, so it is never split across processes. negkit checks every batch
    against this contract before it is used.
    """
