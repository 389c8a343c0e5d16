"""Parity: the SugarCrepe and ARO rules computed independently, item by item in plain Python, on fixed
random embeddings, against the evaluators' batched results. A bag-of-words text encoder makes the
swap items tie, so the tie rules are part of what is compared."""

from __future__ import annotations

import json
from statistics import mean

import pytest
from fixtures import realdata as fx
from PIL import Image

from negkit import get_component
from negkit.eval.tasks.aro import ARO_EXCLUDED_RELATIONS

SUBSETS = ["add_obj", "replace_att", "swap_att", "swap_obj"]
LIMIT = 15
ENCODERS = {"plain": lambda t: t.encode(), "bag-of-words": fx.bag_of_words}


def image_vec(path, box=None):
    with Image.open(path) as im:
        im = im.convert("RGB")
        if box is not None:
            x, y, w, h = box
            im = im.crop((x, y, x + w, y + h))
        return fx.vector_for(fx.image_key(im))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_sugarcrepe_parity(tmp_path, sugarcrepe_dir, encoder):
    key = ENCODERS[encoder]
    images = tmp_path / "val2017"
    fx.sugarcrepe_images(sugarcrepe_dir, images, SUBSETS, LIMIT)
    expected, ties = {}, 0
    for subset in SUBSETS:
        items = list(json.loads((sugarcrepe_dir / f"{subset}.json").read_text()).values())[:LIMIT]
        right = []
        for it in items:
            v = image_vec(images / it["filename"])
            pos = fx.cos(v, fx.vector_for(key(it["caption"])))
            neg = fx.cos(v, fx.vector_for(key(it["negative_caption"])))
            right.append(pos > neg)  # strictly higher; a tie is wrong
            ties += pos == neg
        expected[subset] = right
    out = get_component("evaluators", "sugarcrepe")(data_dir=str(sugarcrepe_dir), image_dir=str(images),
                                                    subsets=SUBSETS, limit=LIMIT).evaluate(fx.fake_context(key))
    for subset, right in expected.items():
        assert out[f"{subset.replace('_', '-')}/acc"] == pytest.approx(mean(right), abs=1e-12)
    assert out["micro/acc"] == pytest.approx(mean(r for v in expected.values() for r in v), abs=1e-12)
    assert out["macro/acc"] == pytest.approx(mean(mean(v) for v in expected.values()), abs=1e-12)
    assert out["ties"] == ties
    if encoder == "bag-of-words":
        assert ties > 0  # swap items tie under a bag of words: the rule is exercised


@pytest.mark.parametrize("encoder", ENCODERS)
def test_aro_vg_parity(tmp_path, encoder):
    key = ENCODERS[encoder]
    vg = fx.aro_vg(tmp_path, n_rel=16)
    results = {}
    for task, file in (("vg-relation", vg["relation"]), ("vg-attribution", vg["attribution"])):
        groups: dict[str, list[bool]] = {}
        for it in json.loads(file.read_text()):
            v = image_vec(vg["images"] / it["image_path"], (it["bbox_x"], it["bbox_y"], it["bbox_w"], it["bbox_h"]))
            t = fx.cos(v, fx.vector_for(key(it["true_caption"])))
            f = fx.cos(v, fx.vector_for(key(it["false_caption"])))
            g = it["relation_name"] if task == "vg-relation" else "_".join(it["attributes"])
            groups.setdefault(g, []).append(t > f)  # ties go to the false caption
        if task == "vg-relation":
            kept = [mean(v) for g, v in groups.items() if g not in ARO_EXCLUDED_RELATIONS]
        else:
            kept = [mean(v) for v in groups.values() if len(v) >= 25]
        results[task] = (mean(kept), mean(r for v in groups.values() for r in v))
    out = get_component("evaluators", "aro")(relation_file=str(vg["relation"]), attribution_file=str(vg["attribution"]),
                                             vg_image_dir=str(vg["images"]),
                                             tasks=["vg-relation", "vg-attribution"]).evaluate(fx.fake_context(key))
    for task, (macro, micro) in results.items():
        assert out[f"{task}/macro-acc"] == pytest.approx(macro, abs=1e-12)
        assert out[f"{task}/micro-acc"] == pytest.approx(micro, abs=1e-12)
    if encoder == "bag-of-words":  # every VG caption pair is a word swap: all ties, all wrong
        assert out["vg-relation/micro-acc"] == 0 and out["vg-attribution/micro-acc"] == 0


def test_aro_order_parity(tmp_path):
    test = fx.blip_test(tmp_path, n_images=3)
    ev = get_component("evaluators", "aro")(coco_file=str(test), coco_image_root=str(tmp_path),
                                            tasks=["coco-order"], order_seed=7)
    items, _ = ev.order_items("coco-order")
    right = []
    for it in items:
        v = image_vec(it["image"])
        scores = [fx.cos(v, fx.vector_for(o.encode())) for o in it["options"]]
        right.append(scores.index(max(scores)) == 0)  # ARO's argmax, true caption first
    out = ev.evaluate(fx.fake_context())
    assert out["coco-order/acc"] == pytest.approx(mean(right), abs=1e-12)
