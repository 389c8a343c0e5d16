"""The recipe -> component path (negkit.factory): each component built once and typed, errors naming the file
and the key before anything touches the disk, and mining fingerprints that existing caches still match."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from test_train_world import recipe_dict, registered_world

from negkit.data.base import DataSource
from negkit.errors import RecipeError
from negkit.factory import Components, build_components, build_evaluators, evaluators_from_tables, mining_plan
from negkit.mining.base import Miner, Negative
from negkit.mining.stage import MiningPlan, WeightedMiner, mining_fingerprint
from negkit.recipe import recipe_from_dict
from negkit.testing import registered_components
from negkit.train.evaluate import NamedEvaluator
from negkit.train.loop import WeightedLoss
from negkit.train.samplers import BatchSampler


class PinMiner(Miner):
    """A miner whose signature never changes: the fingerprints below depend on it.

    Parameters:
        suffix: unused.
        repeat: unused.
        note: unused.
    """

    name = "pin-suffix"

    def __init__(self, suffix: str = "!", repeat: int = 1, note: str | None = None) -> None:
        self.suffix = suffix

    def mine(self, captions: Sequence[str], *, k: int, seed: int) -> list[list[Negative]]:
        return [[] for _ in captions]


class PinSource(DataSource):
    name = "pin-captions"

    def records(self, split: str = "train"):
        return []


# Computed with the code before the factory existed (mining_fingerprint(recipe, captions), commit 31d3454), with
# negkit's version pinned: the same recipe must keep its cache folder, or every user's mined negatives are lost.
# Recomputed once when the key began to read the miners' source (2026-12-06), with that digest pinned too: only
# a change of the miners' code may move a table.
PINNED = [
    ({"run": {"seed": 7}, "data": {"source": "pin-captions"}, "mining": {"k": 2, "cache_dir": "/nonexistent"},
      "miners": [{"name": "pin-suffix", "suffix": "?"}, {"name": "pin-suffix", "weight": 0.5, "repeat": 3}]},
     ["a red cube", "two blue spheres", ""], "2c62f5ee8aea0dacac215224f5dbbd02"),
    ({"run": {"seed": 7}, "data": {"source": "pin-captions"},
      "mining": {"k": 1, "select": "hardest", "candidates": 3, "seed": 11, "cache_dir": "/nonexistent"},
      "miners": [{"name": "pin-suffix"}]}, ["a red cube"], "51c558be9d79521eec04f3043b514461"),
]


@pytest.mark.parametrize(("raw", "captions", "expected"), PINNED)
def test_the_mining_fingerprint_of_a_recipe_is_what_it_was(monkeypatch, raw, captions, expected):
    monkeypatch.setattr("negkit.version.__version__", "0.0.0-pin")
    monkeypatch.setattr("negkit.mining.stage.source_digest", lambda packages, modules=(): "pinned-code")
    with registered_components(miners=[PinMiner], datasets=[PinSource]):
        assert mining_fingerprint(mining_plan(recipe_from_dict(raw)), captions) == expected


def test_components_are_built_once_and_typed():
    raw = recipe_dict(losses=[{"name": "infonce"}, {"name": "infonce", "weight": 0.5}, {"name": "cement"}],
                      eval=[{"name": "test-retrieval", "limit": 4}, {"name": "test-retrieval"}],
                      mining={"k": 2, "seed": 9})
    with registered_world():
        built = build_components(recipe_from_dict(raw))
    assert isinstance(built, Components) and isinstance(built.sampler, BatchSampler)
    assert built.data.name == "test-colours"
    assert all(isinstance(wl, WeightedLoss) for wl in built.losses)
    assert [(wl.key, wl.weight) for wl in built.losses] == [("infonce[0]", 1.0), ("infonce[1]", 0.5),
                                                            ("cement", 1.0)]
    assert all(isinstance(e, NamedEvaluator) for e in built.evaluators)
    assert [e.prefix for e in built.evaluators] == ["test-retrieval[0]", "test-retrieval[1]"]
    assert [e.evaluator.limit for e in built.evaluators] == [4, 24]
    plan = built.mining
    assert isinstance(plan, MiningPlan) and plan.k == 2 and plan.seed == 9
    (miner,) = plan.miners
    assert isinstance(miner, WeightedMiner) and miner.name == "test-colour-swap" and miner.weight == 1.0
    assert miner.plugin == "test-components"


@pytest.mark.parametrize(("section", "table", "key", "message"), [
    ("losses", [{"name": "cement", "c_min": 3, "c_max": 2}], "losses[0]", "cement: "),
    ("miners", [{"name": "test-colour-swap"}, {"name": "ngram-shuffle", "n": 0}], "miners[1]", "n must be >= 1"),
    ("eval", [{"name": "compositional-suite", "limit": -1}], "eval[0]", "limit: must be >= 0"),
])
def test_a_component_that_refuses_its_arguments_is_one_line_naming_file_and_key(tmp_path, section, table, key,
                                                                                 message):
    path = tmp_path / "bad.toml"
    with registered_world(), pytest.raises(RecipeError) as info:
        build_components(recipe_from_dict(recipe_dict(**{section: table}), path=path))
    text = str(info.value)
    assert str(path) in text and key in text and message in text and "\n" not in text


def test_a_bad_evaluator_stops_the_run_before_the_run_directory_exists(tmp_path):
    """Evaluators are built with everything else, before the run directory changes (not after training)."""
    from test_train_world import run_world

    with pytest.raises(RecipeError, match=r"eval\[0\].*limit: must be >= 0"):
        run_world(recipe_dict(eval=[{"name": "compositional-suite", "limit": -1}]), tmp_path)
    assert not (tmp_path / "tiny").exists()


def test_evaluators_from_tables_and_from_a_recipe_agree():
    with registered_world():
        from_recipe = build_evaluators(recipe_from_dict(recipe_dict(eval=[{"name": "test-retrieval", "limit": 3}])))
        from_tables = evaluators_from_tables([{"name": "test-retrieval", "limit": 3}])
    assert [(e.name, e.prefix, e.evaluator.limit) for e in from_recipe] == \
        [(e.name, e.prefix, e.evaluator.limit) for e in from_tables] == [("test-retrieval", "test-retrieval", 3)]
