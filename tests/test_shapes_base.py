"""The shapes base recipes: stage 2 (base.toml) continues from stage 1 (base-shape.toml), both plain CLIP on
single objects; a short run of stage 1 (its curriculum, model and lr, fewer steps) puts zero-shot shape on
single-object test scenes clearly above chance (1/6)."""

from __future__ import annotations

from pathlib import Path

import pytest

BASE = Path(__file__).resolve().parent.parent / "recipes" / "shapes" / "base.toml"
SHAPE_FIRST = BASE.with_name("base-shape.toml")


def test_base_recipes_are_plain_clip_on_single_objects_shape_first():
    from negkit.base_stage import init_path
    from negkit.recipe import load_recipe

    stage1, stage2 = load_recipe(SHAPE_FIRST), load_recipe(BASE)
    for recipe in (stage1, stage2):
        assert [loss.name for loss in recipe.losses] == ["clip"] and not recipe.miners
        assert recipe.data.args["max_objects"] == 1
    assert init_path(stage2) == SHAPE_FIRST and init_path(stage1) is None
    # the curriculum: stage 1 seldom names the colour (shape must separate the captions), stage 2 names it more
    assert stage1.data.args["p_colour"] < 0.5 < stage2.data.args["p_colour"]


@pytest.mark.slow
def test_a_short_base_run_learns_shape_above_chance(tmp_path):
    from negkit.pipeline import run
    from negkit.recipe import load_recipe

    recipe = load_recipe(SHAPE_FIRST, overrides=["data.train_size=9600", "eval.0.limit=300", "eval.1.limit=300",
                                                 "run.name=base-short"])
    metrics = run(recipe, out=tmp_path).metrics
    # chance is 1/6; with 300 scenes its standard error is about 0.02, so 0.25 is four of them above chance
    assert metrics["zero-shot[0]/shape/acc"] > 0.25, metrics
