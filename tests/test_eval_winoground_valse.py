"""Winoground's three scores and VALSE's annotator filter, on fixture files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures import realdata as fx

from negkit import get_component
from negkit.errors import DataError


def test_winoground_scores_are_strict(tmp_path):
    path = fx.winoground(tmp_path / "wino", n=6)
    ctx = fx.fake_context()
    out = get_component("evaluators", "winoground")(examples_file=str(path)).evaluate(ctx)
    # recompute the rules from the fixed vectors
    text = image = group = 0
    for line in path.read_text().splitlines():
        it = json.loads(line)
        from PIL import Image

        i0, i1 = (fx.vector_for(fx.image_key(Image.open(tmp_path / "wino" / "images" / f"{it[k]}.png")))
                  for k in ("image_0", "image_1"))
        c0, c1 = fx.vector_for(it["caption_0"].encode()), fx.vector_for(it["caption_1"].encode())
        t = fx.cos(c0, i0) > fx.cos(c1, i0) and fx.cos(c1, i1) > fx.cos(c0, i1)
        i = fx.cos(c0, i0) > fx.cos(c0, i1) and fx.cos(c1, i1) > fx.cos(c1, i0)
        text, image, group = text + t, image + i, group + (t and i)
    assert out["n"] == 6
    assert (out["text"], out["image"], out["group"]) == pytest.approx((text / 6, image / 6, group / 6))
    assert {"object/text", "relation/group", "both/image"} <= set(out)
    # identical captions: every inequality ties, so nothing is right
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    for it in lines:
        it["caption_1"] = it["caption_0"]
    path.write_text("\n".join(json.dumps(x) for x in lines))
    out = get_component("evaluators", "winoground")(examples_file=str(path)).evaluate(fx.fake_context())
    assert out["text"] == 0 and out["group"] == 0


def test_winoground_bad_files(tmp_path):
    path = fx.winoground(tmp_path, n=2)
    path.write_text(path.read_text() + '{"id": 9, "image_0": "a"}\n')
    with pytest.raises(DataError, match="line 3: lacks image_1, caption_0, caption_1"):
        get_component("evaluators", "winoground")(examples_file=str(path)).evaluate(fx.fake_context())


def test_valse_keeps_validated_items(tmp_path):
    data = fx.valse(tmp_path, {"existence.json": 8, "actant-swap.json": 6})
    ctx = fx.fake_context()
    ev = get_component("evaluators", "valse")(data_dir=str(data), image_dir=str(tmp_path / "images"),
                                              pieces=["existence", "actant-swap"])
    out = ev.evaluate(ctx)
    # mturk.caption = i % 4: kept are i % 4 in {2, 3}
    assert out["existence/n"] == 4 and out["existence/n-total"] == 8
    assert out["actant-swap/n"] == 2 and out["actant-swap/n-total"] == 6
    assert "mturk.caption >= 2" in ctx.meta["valse"]["filter"]
    assert out["macro/acc"] == pytest.approx((out["existence/acc"] + out["actant-swap/acc"]) / 2)
    assert out["instrument/actions/acc"] == out["actant-swap/acc"]
    # pairwise accuracy recomputed by hand
    items = [v for v in json.loads((data / "existence.json").read_text()).values() if v["mturk"]["caption"] >= 2]
    from PIL import Image

    right = [fx.cos(fx.vector_for(fx.image_key(Image.open(tmp_path / "images" / it["image_file"]))),
                    fx.vector_for(it["caption"].encode()))
             > fx.cos(fx.vector_for(fx.image_key(Image.open(tmp_path / "images" / it["image_file"]))),
                      fx.vector_for(it["foil"].encode())) for it in items]
    assert out["existence/acc"] == pytest.approx(np.mean(right))


def test_valse_missing_piece_and_images(tmp_path):
    data = fx.valse(tmp_path, {"existence.json": 4})
    with pytest.raises(DataError, match="has no plurals.json"):
        get_component("evaluators", "valse")(data_dir=str(data), image_dir=str(tmp_path / "images"),
                                             pieces=["plurals"]).evaluate(fx.fake_context())
    missing = "images referenced by piece 'existence' are missing under 'image_dirs.visual7w'"
    with pytest.raises(DataError, match=missing):
        get_component("evaluators", "valse")(data_dir=str(data), image_dirs={"visual7w": str(tmp_path)},
                                             pieces=["existence"]).evaluate(fx.fake_context())


def test_valse_file_of_another_piece_is_flagged(tmp_path):
    data = fx.valse(tmp_path, {"existence.json": 4})
    items = json.loads((data / "existence.json").read_text())
    for it in items.values():
        it["linguistic_phenomena"] = "counting"
    (data / "existence.json").write_text(json.dumps(items))
    with pytest.warns(UserWarning, match="linguistic_phenomena is 'counting'; is it the right file"):
        get_component("evaluators", "valse")(data_dir=str(data), image_dir=str(tmp_path / "images"),
                                             pieces=["existence"]).evaluate(fx.fake_context())
