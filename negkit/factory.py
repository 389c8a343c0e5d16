"""The recipe -> component path: every component a recipe names, built once, typed, for the rooms below.

``negkit.recipe`` turns TOML into validated sections and ``ComponentSpec`` tables; this module builds the
tables into the objects the stages take: the data source, the batch sampler, the mining plan (the
``[mining]`` section, the mining seed and the built miners with their weights and resolved parameters), the
weighted losses and the evaluators with their metric prefixes. ``mining``, ``train`` and ``eval`` then take
these objects and the typed sections (``negkit.sections``), never the recipe.

Every error is a one-line ``RecipeError`` naming the recipe file and the table's key, raised while building,
which the pipeline does before anything touches the disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from negkit.components import ComponentSpec
from negkit.errors import RecipeError
from negkit.recipe import Recipe

if TYPE_CHECKING:
    from negkit.data.base import DataSource
    from negkit.mining.stage import MiningPlan
    from negkit.train.evaluate import NamedEvaluator
    from negkit.train.loop import WeightedLoss
    from negkit.train.samplers import BatchSampler


@dataclass(frozen=True)
class Components:
    """A recipe's components, built: what ``negkit run`` trains and evaluates with."""

    data: DataSource
    sampler: BatchSampler
    mining: MiningPlan
    losses: tuple[WeightedLoss, ...]
    evaluators: tuple[NamedEvaluator, ...]


def where(recipe: Recipe) -> str | None:
    """The recipe file errors name (None for a recipe made from a dict)."""
    return str(recipe.path) if recipe.path else None


def build_components(recipe: Recipe) -> Components:
    """Build every component of ``recipe`` (losses, sampler, data source, miners, evaluators, in that order)."""
    losses = build_losses(recipe)
    sampler = recipe.sampler.build(where=where(recipe))
    data = build_data(recipe)
    return Components(data, sampler, mining_plan(recipe), losses, build_evaluators(recipe))


def build_data(recipe: Recipe) -> DataSource:
    return recipe.data.build(where=where(recipe))


def mining_plan(recipe: Recipe) -> MiningPlan:
    """The ``[mining]`` section, the mining seed and the ``[[miners]]``, built: what the mining stage takes."""
    from negkit.mining.stage import MiningPlan, WeightedMiner

    return MiningPlan(recipe.mining, recipe.mining_seed,
                      tuple(WeightedMiner.build(spec, where(recipe)) for spec in recipe.miners))


def build_losses(recipe: Recipe) -> tuple[WeightedLoss, ...]:
    """The ``[[losses]]`` with their weights, each keyed by its name (``name[i]`` when a name repeats)."""
    from negkit.train.loop import WeightedLoss

    specs = recipe.losses
    if not specs:
        raise RecipeError("no [[losses]] table: add one, e.g. [[losses]] name = \"infonce\"", path=where(recipe),
                          key="losses")
    names = [s.name for s in specs]
    return tuple(WeightedLoss(s.name if names.count(s.name) == 1 else f"{s.name}[{i}]",
                              s.build(where=where(recipe)), s.weight) for i, s in enumerate(specs))


def build_evaluators(recipe: Recipe) -> tuple[NamedEvaluator, ...]:
    """The ``[[eval]]`` evaluators, each with the prefix of its metrics."""
    return evaluators_from_specs(recipe.eval, where(recipe))


def evaluators_from_specs(specs: Sequence[ComponentSpec], where: str | None = None) -> tuple[NamedEvaluator, ...]:
    from negkit.train.evaluate import named_evaluators

    return tuple(named_evaluators([(spec.name, spec.build(where=where)) for spec in specs]))


def evaluators_from_tables(tables: Sequence[dict[str, Any]], where: str | None = None
                           ) -> tuple[NamedEvaluator, ...]:
    """Evaluators from ``[[eval]]``-style tables (``{"name": ..., **arguments}``), keyed ``eval[i]`` in errors."""
    return evaluators_from_specs([ComponentSpec("evaluators", t["name"], f"eval[{i}]",
                                                {k: v for k, v in t.items() if k != "name"})
                                  for i, t in enumerate(tables)], where)
