"""ARO: VG-Relation / VG-Attribution from fixture files, COCO-Order built from captions at run time."""

from __future__ import annotations

import json

import pytest
from fixtures import realdata as fx

from negkit import get_component
from negkit.errors import DataError
from negkit.eval.tasks.aro import ORDER_PERTURBATIONS, order_perturbations, pre_caption


def make(**kw):
    return get_component("evaluators", "aro")(**kw)


@pytest.fixture
def vg(tmp_path):
    return fx.aro_vg(tmp_path / "aro")


def test_vg_tasks_macro_rules(vg):
    ctx = fx.fake_context()
    out = make(relation_file=str(vg["relation"]), attribution_file=str(vg["attribution"]),
               vg_image_dir=str(vg["images"]), tasks=["vg-relation", "vg-attribution"]).evaluate(ctx)
    assert out["vg-relation/n"] == 8 and out["vg-relation/groups"] == 3  # "near" is excluded
    assert "near" not in ctx.meta["aro"]["vg-relation"]["per_group"]
    assert out["vg-attribution/n"] == 60 and out["vg-attribution/groups"] == 2  # the 5-item pair is left out
    assert set(ctx.meta["aro"]["vg-attribution"]["per_group"]) == {"red_large", "wooden_white"}
    assert out["avg"] == pytest.approx((out["vg-relation/macro-acc"] + out["vg-attribution/macro-acc"]) / 2)
    assert "false caption" in ctx.meta["aro"]["vg-relation"]["tie_rule"]


def test_vg_crops_each_box_once(vg):
    ctx = fx.fake_context()
    make(relation_file=str(vg["relation"]), vg_image_dir=str(vg["images"]), tasks=["vg-relation"]).evaluate(ctx)
    items = json.loads(vg["relation"].read_text())
    boxes = {(it["image_path"], it["bbox_x"], it["bbox_y"], it["bbox_w"], it["bbox_h"]) for it in items}
    assert len(ctx.calls["images"]) == len(boxes)
    sizes = {eval(k.split(b")")[0].decode() + ")") for k in ctx.calls["images"]}  # noqa: S307 - our own repr
    assert sizes <= {(12, 10 + i) for i in range(5)}  # crops, not whole 32x28 images


def test_ties_go_to_the_false_caption(vg):
    items = json.loads(vg["relation"].read_text())
    for it in items:
        it["false_caption"] = it["true_caption"]
    vg["relation"].write_text(json.dumps(items))
    out = make(relation_file=str(vg["relation"]), vg_image_dir=str(vg["images"]), tasks=["vg-relation"]).evaluate(
        fx.fake_context())
    assert out["vg-relation/micro-acc"] == 0.0 and out["vg-relation/ties"] == 8


def test_wrong_vg_file_is_detected(vg):
    with pytest.raises(DataError, match="holds 'attributes' items: it is the attribution file"):
        make(relation_file=str(vg["attribution"]), vg_image_dir=str(vg["images"]),
             tasks=["vg-relation"]).evaluate(fx.fake_context())


def test_order_built_at_run_time_with_recorded_seed(tmp_path):
    test = fx.blip_test(tmp_path, n_images=3)
    ev = make(coco_file=str(test), coco_image_root=str(tmp_path), tasks=["coco-order"], order_seed=3)
    items, _ = ev.order_items("coco-order")
    assert len(items) == 6 and all(len(it["options"]) == 5 for it in items)
    assert items[0]["options"][0] == pre_caption(fx.CAPTIONS[0])
    for it in items:  # every shuffle keeps the words
        assert all(sorted(o.split()) == sorted(it["options"][0].split()) for o in it["options"][1:])
    again, _ = make(coco_file=str(test), coco_image_root=str(tmp_path), tasks=["coco-order"],
                    order_seed=3).order_items("coco-order")
    other, _ = make(coco_file=str(test), coco_image_root=str(tmp_path), tasks=["coco-order"],
                    order_seed=4).order_items("coco-order")
    assert [it["options"] for it in again] == [it["options"] for it in items]
    assert [it["options"] for it in other] != [it["options"] for it in items]
    ctx = fx.fake_context()
    out = ev.evaluate(ctx)
    assert out["coco-order/n"] == 6 and out["coco-order/seed"] == 3 and ctx.meta["aro"]["coco-order"]["seed"] == 3


def test_order_perturbations_follow_aro():
    tokens = ["a", "red", "car", "near", "a", "blue", "house"]
    tags = ["DT", "JJ", "NN", "IN", "DT", "JJ", "NN"]
    nouns_adjs, rest, within, trigrams = order_perturbations(tokens, tags, "x", seed=1)
    words = nouns_adjs.split()
    assert [words[i] for i in (0, 3, 4)] == ["a", "near", "a"]  # only nouns and adjectives moved
    assert sorted(words[i] for i in (2, 6)) == ["car", "house"] and sorted(words[i] for i in (1, 5)) == ["blue", "red"]
    words = rest.split()
    assert [words[i] for i in (1, 2, 5, 6)] == ["red", "car", "blue", "house"]
    grams = [tokens[i:i + 3] for i in range(0, 7, 3)]
    w = within.split()
    assert [sorted(w[i:i + 3]) for i in range(0, 7, 3)] == [sorted(g) for g in grams]
    from itertools import permutations

    assert trigrams in {" ".join(w for g in order for w in g) for order in permutations(grams)}
    assert len(ORDER_PERTURBATIONS) == 4


def test_missing_files_name_keys(tmp_path):
    with pytest.raises(DataError, match="'relation_file' is not set"):
        make(tasks=["vg-relation"]).evaluate(fx.fake_context())
    with pytest.raises(DataError, match="'flickr_file' = .*not found"):
        make(flickr_file=str(tmp_path / "f.json"), tasks=["flickr-order"]).evaluate(fx.fake_context())
    with pytest.raises(ValueError, match="unknown task"):
        make(tasks=["vg-relations"])
