"""The shapes world: determinism, splits, held-out combinations, captions, rendering and bad settings."""

from __future__ import annotations

import re

import numpy as np
import pytest

from negkit.data.shapes import CATEGORIES, ShapesWorld, negative
from negkit.data.shapes.captions import FILLER_WORDS, PREFIXES, RELATION_PHRASES, SUFFIXES, text
from negkit.data.shapes.scene import COLOURS, holds
from negkit.errors import DataError, RecipeError
from negkit.plugins import get_component
from negkit.recipe import validate_recipe_file


@pytest.fixture(scope="module")
def world() -> ShapesWorld:
    return ShapesWorld(train_size=400, val_size=50, test_size=300, single_size=200)


def test_registered_under_its_recipe_name():
    assert get_component("datasets", "shapes") is ShapesWorld


def test_deterministic_per_seed_and_index(world):
    again = ShapesWorld(train_size=400, val_size=50, test_size=300, single_size=200)
    for i in (0, 7, 399):
        a, b = world.records("train")[i], again.records("train")[i]
        assert a["caption"] == b["caption"]
        assert a["image"].tobytes() == b["image"].tobytes()
    other = ShapesWorld(train_size=400, seed=1)
    assert [other.records("train")[i]["caption"] for i in range(20)] != [world.records("train")[i]["caption"]
                                                                        for i in range(20)]


def test_random_access_does_not_depend_on_order(world):
    records = world.records("test")
    forward = [records[i]["caption"] for i in range(30)]
    backward = [records[i]["caption"] for i in reversed(range(30))][::-1]
    assert forward == backward == world.captions("test")[:30]


def test_splits_sizes_and_disjoint_streams(world):
    assert set(world.splits()) == {"train", "val", "test", "train-single", "test-single"}
    assert len(world.records("train")) == 400 and len(world.records("test")) == 300
    assert world.captions("train")[:50] != world.captions("test")[:50]
    with pytest.raises(DataError, match="no split 'dev'"):
        world.records("dev")


def test_held_out_combinations_never_in_training_but_in_test(world):
    assert world.holdout  # the default holds one colour out per shape
    for split in ("train", "train-single"):
        for i in range(len(world.records(split))):
            assert not (world.scene(split, i).combos & world.holdout)
    novel = sum(world.records("test")[i]["novel"] for i in range(300))
    assert novel > 20


def test_object_counts_and_single_splits(world):
    counts = {world.scene("test", i).objects.__len__() for i in range(300)}
    assert counts == {1, 2, 3}
    rec = world.records("test-single")[3]
    assert rec["n_objects"] == 1 and rec["shape"] in world.shapes and rec["colour"] in world.colours
    assert rec["shapes"] == [rec["shape"]] and rec["colours"] == [rec["colour"]]
    multi = next(world.records("test")[i] for i in range(300) if world.scene("test", i).objects.__len__() == 3)
    assert multi["shape"] is None and 1 <= len(multi["colours"]) <= 3


def test_captions_mix_concrete_words_and_abstract_filler(world):
    captions = world.captions("train")
    with_filler = [c for c in captions if any(w in FILLER_WORDS for w in c.replace(",", "").split())
                   and not c.startswith(("a ", "an "))]
    assert len(with_filler) > len(captions) // 3
    assert any("idea" in c for c in captions) and any("moment" in c for c in captions)
    for i, caption in enumerate(captions[:100]):
        scene = world.scene("train", i)
        for obj in scene.objects:
            assert obj.shape in caption


# An independent reading of a caption: strip the filler, split on the relation phrase and "and".
_PHRASES = sorted(((p, r) for r, ps in RELATION_PHRASES.items() for p in ps), key=lambda x: -len(x[0]))


def _parse(caption: str):
    for prefix in sorted(PREFIXES, key=len, reverse=True):
        if prefix and caption.startswith(prefix):
            caption = caption[len(prefix):]
            break
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if suffix and caption.endswith(suffix):
            caption = caption[: -len(suffix)]
            break
    relation = None
    for phrase, rel in _PHRASES:
        if f" {phrase} " in caption:
            caption = caption.replace(f" {phrase} ", " and ", 1)
            relation = rel
            break
    mentions = []
    for np_ in caption.split(" and "):
        words = np_.split()[1:]  # drop the article
        mentions.append({"shape": words[-1],
                         "colour": next((w for w in words if w in COLOURS), None),
                         "size": next((w for w in words if w in ("small", "large")), None)})
    return mentions, relation


def _true_of(caption: str, scene, *, strict: bool) -> bool:
    """strict: the relation must certainly hold; else it must merely not be certainly false."""
    import itertools

    mentions, relation = _parse(caption)
    objs = scene.objects
    for perm in itertools.permutations(range(len(objs)), len(mentions)):
        if all(m["shape"] == objs[j].shape and m["colour"] in (None, objs[j].colour)
               and m["size"] in (None, objs[j].size) for m, j in zip(mentions, perm)):
            if relation is None or len(perm) < 2:
                return True
            a, b = objs[perm[0]], objs[perm[1]]
            opposite = {"left": "right", "right": "left", "above": "below", "below": "above"}[relation]
            if holds(relation, a, b) if strict else not holds(opposite, a, b):
                return True
    return False


def test_positive_captions_are_true_of_their_scene(world):
    for i in range(300):
        assert _true_of(world.captions("test")[i], world.scene("test", i), strict=True)


def test_every_negative_is_false_of_its_scene(world):
    import random

    made = {c: 0 for c in CATEGORIES}
    for i in range(300):
        scene = world.scene("test", i)
        plan = world.plan("test", i, scene)
        for category in CATEGORIES:
            neg = negative(category, plan, scene, random.Random(i), shapes=world.shapes, colours=world.colours)
            if neg is None:
                continue
            made[category] += 1
            assert neg != text(plan)
            if category == "shuffle":
                assert sorted(neg.split()) == sorted(text(plan).split())
            else:
                assert not _true_of(neg, scene, strict=False), (category, text(plan), neg, scene)
    assert all(n >= 100 for n in made.values()), made


def test_rendered_objects_sit_where_the_relation_says(world):
    checked = 0
    for i in range(300):
        scene = world.scene("test", i)
        objs = scene.objects
        if len(objs) != 2 or objs[0].colour == objs[1].colour:
            continue
        img = np.asarray(world.render(scene), dtype=float)
        centres = []
        for obj in objs:
            dist = np.abs(img - np.array(COLOURS[obj.colour])).sum(axis=2)
            ys, xs = np.nonzero(dist < 60)
            assert len(xs) > 10, f"{obj.colour} {obj.shape} not visible in test scene {i}"
            centres.append((xs.mean(), ys.mean()))
        (x0, y0), (x1, y1) = centres
        assert {"left": x0 < x1, "right": x0 > x1, "above": y0 < y1, "below": y0 > y1}[scene.relation]
        checked += 1
    assert checked > 30


def test_sizes_differ_visibly(world):
    areas = {"small": [], "large": []}
    for i in range(200):
        scene = world.scene("test-single", i)
        obj = scene.objects[0]
        img = np.asarray(world.render(scene), dtype=float)
        areas[obj.size].append(int((np.abs(img - np.array(COLOURS[obj.colour])).sum(axis=2) < 60).sum()))
    assert np.median(areas["large"]) > 2 * np.median(areas["small"])


def test_image_size_is_configurable():
    img = ShapesWorld(image_size=96, train_size=2).records("train")[0]["image"]
    assert img.size == (96, 96) and img.mode == "RGB"


@pytest.mark.parametrize("kwargs, key", [
    ({"image_size": 16}, "image_size"),
    ({"colours": []}, "colours"),
    ({"colours": ["red"]}, "colours"),
    ({"colours": ["red", "mauve"]}, "colours"),
    ({"shapes": ["circle", "blob"]}, "shapes"),
    ({"max_objects": 10}, "max_objects"),
    ({"grid": 5, "image_size": 32}, "grid"),
    ({"min_objects": 3, "max_objects": 2}, "max_objects"),
    ({"holdout": ["red circle", "green circle"], "colours": ["red", "green"]}, "holdout"),
    ({"holdout": ["circle red"]}, "holdout"),
])
def test_impossible_worlds_fail_in_the_constructor_naming_the_key(kwargs, key):
    with pytest.raises(ValueError, match=rf"^{key}: "):
        ShapesWorld(**kwargs)


def test_impossible_world_fails_at_validation(tmp_path):
    recipe = tmp_path / "bad.toml"
    recipe.write_text('[data]\nsource = "shapes"\nmax_objects = 12\n')
    with pytest.raises(RecipeError, match=re.escape("[data]") + ".*max_objects: 12 objects do not fit"):
        validate_recipe_file(recipe)


def test_world_pickles_without_its_renderer(world):
    import pickle

    world.records("train")[0]
    clone = pickle.loads(pickle.dumps(world))
    assert clone.records("train")[5]["image"].tobytes() == world.records("train")[5]["image"].tobytes()
