"""Rendered image negatives of the shapes world are false by construction and differ only by their edit."""

from __future__ import annotations

import numpy as np
import pytest

from negkit.data.shapes.captions import possibly_true, text
from negkit.data.shapes.world import ShapesWorld

CHANGED = {"colour": {"colour"}, "shape": {"shape"}, "size": {"size"}, "swap-colour": {"colour"},
           "swap-shape": {"shape"}, "relation": {"row", "col"}}


def _diff(a, b):
    return {(i, f) for i, (x, y) in enumerate(zip(a.objects, b.objects))
            for f in ("shape", "colour", "size", "row", "col") if getattr(x, f) != getattr(y, f)}


def test_each_negative_makes_the_caption_false_and_changes_only_its_edit():
    world = ShapesWorld(train_size=60, render_negatives=3)
    kinds, with_any = set(), 0
    for i in range(60):
        scene, plan = world.scene("train", i), world.plan("train", i)
        negs = world.image_negatives("train", i, 3)
        with_any += bool(negs)
        assert len({kind for kind, _, _ in negs}) == len(negs)  # each of a different kind
        for kind, new_scene, new_plan in negs:
            kinds.add(kind)
            assert not possibly_true(plan, new_scene), (kind, text(plan))
            assert possibly_true(new_plan, new_scene)
            changed = _diff(scene, new_scene)
            assert changed and {f for _, f in changed} <= CHANGED[kind]
            assert len({o for o, _ in changed}) == (1 if kind in ("colour", "shape", "size") else 2)
            assert not new_scene.combos & world.holdout  # training never shows a held-out combination
            assert (scene.background, scene.texture, scene.jitter, scene.tint) == \
                (new_scene.background, new_scene.texture, new_scene.jitter, new_scene.tint)
            if kind in ("colour", "shape", "size"):  # the pixels change only inside the edited object's cell
                (o, _), *_ = changed
                diff = np.abs(np.asarray(world.render(new_scene), dtype=np.int16) -
                              np.asarray(world.render(scene), dtype=np.int16)).max(axis=2) > 0
                rows, cols = np.nonzero(diff)
                cell = world.image_size / world.grid
                obj = scene.objects[o]
                assert rows.size and rows.min() >= int(obj.row * cell) - 1 and rows.max() <= (obj.row + 1) * cell + 1
                assert cols.min() >= int(obj.col * cell) - 1 and cols.max() <= (obj.col + 1) * cell + 1
    assert with_any >= 55 and kinds == set(CHANGED)


def test_records_carry_the_rendered_negatives_and_their_captions():
    world = ShapesWorld(train_size=8, render_negatives=2)
    record = world.records("train")[3]
    again = ShapesWorld(train_size=8, render_negatives=2).records("train")[3]
    assert len(record["neg_images"]) == len(record["neg_captions"]) == len(record["neg_edits"]) >= 1
    positive = np.asarray(record["image"], dtype=np.int16)
    for image, same, caption in zip(record["neg_images"], again["neg_images"], record["neg_captions"]):
        pixels = np.asarray(image, dtype=np.int16)
        assert pixels.shape == positive.shape and np.abs(pixels - positive).max() > 40
        assert np.array_equal(pixels, np.asarray(same, dtype=np.int16))  # deterministic
        assert caption != record["caption"]
    assert "neg_images" not in world.records("test")[0]
    assert "neg_images" not in ShapesWorld(train_size=8).records("train")[0]


def test_render_negatives_is_checked():
    with pytest.raises(ValueError, match="render_negatives"):
        ShapesWorld(render_negatives=-1)
