"""shapes-compositional: one provably false negative per category, scored with ties counted wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from negkit.data.shapes import ShapesWorld
from negkit.data.shapes.scene import COLOURS, SHAPES, SIZES
from negkit.eval.base import EvalContext
from negkit.eval.compositional import ShapesCompositional
from negkit.plugins import get_component

VOCAB = list(SHAPES) + list(COLOURS) + list(SIZES) + ["left", "right", "above", "over", "below", "under"]


def bag_of_words(text: str) -> torch.Tensor:
    """Counts of the concrete words: a model that knows every word and nothing about order or binding."""
    words = text.replace(",", "").split()
    return torch.tensor([float(words.count(w)) for w in VOCAB]) + 1e-6


def oracle_context(world: ShapesWorld, split: str) -> EvalContext:
    """Images encoded as the bag of words of their own (true) caption."""
    caption_of = {}
    for i in range(len(world.records(split))):
        rec = world.records(split)[i]
        caption_of[rec["image"].tobytes()] = rec["caption"]
    return EvalContext(
        encode_image_batch=lambda ims: torch.stack([bag_of_words(caption_of[im.tobytes()]) for im in ims]),
        encode_text_batch=lambda texts: torch.stack([bag_of_words(t) for t in texts]),
        data=world,
    )


@pytest.fixture(scope="module")
def world() -> ShapesWorld:
    return ShapesWorld(test_size=200, train_size=10)


def test_registered():
    assert get_component("evaluators", "shapes-compositional") is ShapesCompositional


def test_bag_of_words_model_gets_replacements_right_and_swaps_wrong_by_the_tie_rule(world):
    ctx = oracle_context(world, "test")
    out = ShapesCompositional(limit=150).evaluate(ctx)
    right = ("replace-obj", "replace-att", "replace-rel", "add-obj", "add-att", "replace-size")
    for category in right:
        assert out[f"{category}/acc"] == 1.0, category
    swapped = ("swap-obj", "swap-att", "shuffle", "bind-colour")
    for category in swapped:  # same words: equal scores, which count wrong
        assert out[f"{category}/acc"] == 0.0, category
    swaps = sum(out[f"{c}/n"] for c in swapped)
    assert out["ties"] == swaps
    n = {c: out[f"{c}/n"] for c in right + swapped}
    assert out["macro/acc"] == pytest.approx(6 / 10)
    micro = sum(n[c] for c in right) / sum(n.values())
    assert out["micro/acc"] == pytest.approx(micro)
    # binding = the swaps, word order and relations: the relation words alone get replace-rel right
    assert out["binding/acc"] == pytest.approx(1 / 5)
    assert out["concepts/acc"] == pytest.approx(1.0)
    assert 0 <= out["novel/acc"] <= 1
    assert "tie counts as wrong" in ctx.meta["shapes-compositional"]["tie_rule"]


def test_random_model_is_near_chance_and_items_are_fixed(world):
    rng = np.random.default_rng(0)
    table: dict = {}

    def encode(keys):
        return torch.tensor(np.stack([table.setdefault(k, rng.normal(size=32)) for k in keys]), dtype=torch.float32)

    ctx = EvalContext(encode_image_batch=lambda ims: encode([im.tobytes() for im in ims]),
                      encode_text_batch=encode, data=world)
    evaluator = ShapesCompositional(limit=200)
    out = evaluator.evaluate(ctx)
    assert 0.35 < out["micro/acc"] < 0.65
    assert evaluator.items(world) == ShapesCompositional(limit=200).items(world)


def test_categories_and_limit(world):
    evaluator = ShapesCompositional(limit=40, categories=["replace-rel", "swap-att"])
    items = evaluator.items(world)
    assert {it["category"] for it in items} == {"replace-rel", "swap-att"}
    assert len({it["row"] for it in items}) <= 40


def test_own_world_from_data_when_the_run_is_not_on_shapes():
    evaluator = ShapesCompositional(limit=30, data={"test_size": 60, "image_size": 48})
    world = evaluator.world
    ctx = oracle_context(world, "test")
    ctx.data = None
    out = evaluator.evaluate(ctx)
    assert out["replace-obj/acc"] == 1.0 and out["replace-obj/n"] == 30


@pytest.mark.parametrize("kwargs, key", [({"categories": ["swap-everything"]}, "categories"),
                                         ({"split": "dev"}, "split"), ({"limit": -1}, "limit"),
                                         ({"data": {"colours": []}}, "colours")])
def test_bad_settings_fail_in_the_constructor(kwargs, key):
    with pytest.raises(ValueError, match=rf"^{key}: "):
        ShapesCompositional(**kwargs)
