"""The scene a negative caption describes (negkit.sweep.visual): every shapes caption reads back into its plan,
a positive describes its own scene, and each of the world's rendered image negatives is exactly the scene its
true caption describes, drawn pixel for pixel."""

from __future__ import annotations

from negkit.data.shapes.captions import text
from negkit.data.shapes.world import ShapesWorld
from negkit.sweep.visual import Row, described_scene, filler_only, parse, pixel_difference, summarise


def test_every_caption_reads_back_and_describes_its_own_scene():
    world = ShapesWorld(train_size=300, seed=3)
    for i in range(300):
        scene, plan = world.scene("train", i), world.plan("train", i)
        back = parse(text(plan))
        assert back is not None and text(back) == text(plan), text(plan)
        assert (back.mentions, back.relation, back.prefix, back.suffix) == (plan.mentions, plan.relation,
                                                                            plan.prefix, plan.suffix)
        assert described_scene(scene, plan) == scene


def test_a_rendered_image_negative_is_the_scene_its_caption_describes():
    world = ShapesWorld(train_size=200, seed=1)
    checked = set()
    for i in range(200):
        scene = world.scene("train", i)
        for kind, edited, plan in world.image_negatives("train", i, 6):
            described = described_scene(scene, parse(text(plan)))
            assert described is not None, (kind, text(plan))
            assert pixel_difference(world.render(described), world.render(edited)) == 0.0, (kind, text(plan))
            checked.add(kind)
    assert {"colour", "shape", "relation", "swap-colour"} <= checked


def test_words_and_orders_the_world_has_not_are_not_drawn():
    assert parse("a red planet above a blue square") is None
    assert parse("a square red above a blue circle") is None
    assert parse("a red circle above") is None
    world = ShapesWorld(train_size=50, seed=0)
    scene = next(world.scene("train", i) for i in range(50) if len(world.scene("train", i).objects) == 2)
    plan = parse(text(world.plan("train", 0)))
    assert plan is not None
    one = plan.__class__(plan.mentions[:1], None, 0, "", "")
    assert described_scene(scene, one) is None  # a caption naming fewer objects than the scene has


def test_summary_counts_same_scene_and_not_drawable():
    rows = [Row("a", 0, "p", "n1", "k", 4.5, True, False, 10.0, 0.2),
            Row("a", 0, "p", "n2", "k", 2.0, True, True, 0.0, 0.0),
            Row("a", 1, "p", "n3", "k", 4.0, False, False, float("nan"), float("nan")),
            Row("a", 2, "p", "n4", "k", 5.0, True, False, 12.0, 0.3)]
    (s,) = summarise(rows)
    assert s["negatives"] == 4 and s["drawable"] == 0.75 and s["same_scene"] == 0.25
    assert s["pixels"] == (10 + 0 + 12) / 3
    assert s["rho_pixels"] == 1.0  # concreteness 2 < 4.5 < 5, pixels 0 < 10 < 12


def test_a_filler_only_edit_describes_the_positive_scene():
    world = ShapesWorld(train_size=50, seed=0)
    i = next(i for i in range(50) if world.plan("train", i).prefix == "an idea of ")
    plan = world.plan("train", i)
    caption = text(plan)
    assert filler_only(plan, caption.replace("an idea of", "a notion of"))  # a word the world has not, in filler
    assert filler_only(plan, "in essence, " + caption.removeprefix("an idea of "))
    assert not filler_only(plan, caption.replace("an idea of", "a red idea of"))  # a world word in the filler
    shape = plan.mentions[0].shape
    other = next(s for s in world.shapes if s != shape)
    assert not filler_only(plan, caption.replace(shape, other, 1))  # the concrete part changed
