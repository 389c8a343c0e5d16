"""SugarCrepe on its real caption files with stand-in images."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from fixtures import realdata as fx

from negkit import get_component
from negkit.errors import DataError
from negkit.eval.metrics import TIE_RULE

SUBSETS = ["swap_obj", "add_att", "replace_rel"]
LIMIT = 12


@pytest.fixture
def images(tmp_path, sugarcrepe_dir):
    root = tmp_path / "val2017"
    fx.sugarcrepe_images(sugarcrepe_dir, root, SUBSETS, LIMIT)
    return root


def make(**kw):
    return get_component("evaluators", "sugarcrepe")(**kw)


def test_sugarcrepe_outputs_every_rule(sugarcrepe_dir, images):
    ctx = fx.fake_context()
    out = make(data_dir=str(sugarcrepe_dir), image_dir=str(images), subsets=SUBSETS, limit=LIMIT).evaluate(ctx)
    for s in ("swap-obj", "add-att", "replace-rel"):
        assert out[f"{s}/n"] == LIMIT and 0 <= out[f"{s}/acc"] <= 1
    accs = [out[f"{s}/acc"] for s in ("swap-obj", "add-att", "replace-rel")]
    assert out["macro/acc"] == pytest.approx(np.mean(accs))
    assert out["micro/acc"] == pytest.approx(np.mean(accs))  # equal subset sizes here
    meta = ctx.meta["sugarcrepe"]
    assert meta["tie_rule"] == TIE_RULE and meta["files"]["swap_obj"]["official"] is True
    # each distinct image and text went through the encoders once
    assert len(ctx.calls["images"]) == len(set(ctx.calls["images"]))
    assert len(ctx.calls["texts"]) == len(set(ctx.calls["texts"]))


def test_sugarcrepe_keys_are_opaque_and_ties_are_wrong(tmp_path):
    data = tmp_path / "sc"
    data.mkdir()
    fx.write_images(tmp_path / "img", ["a.jpg", "b.jpg"])
    # keys that are not numbers in order; one item whose negative equals its caption (a tie)
    items = {"zeta": {"filename": "a.jpg", "caption": "a cat on a mat", "negative_caption": "a cat on a mat"},
             "007": {"filename": "b.jpg", "caption": "a dog", "negative_caption": "a dog"},
             "x-1": {"filename": "a.jpg", "caption": "a cat", "negative_caption": "a cat"}}
    (data / "replace_obj.json").write_text(json.dumps(items))
    ctx = fx.fake_context()
    with pytest.warns(UserWarning, match="not the official replace_obj.json"):
        out = make(data_dir=str(data), image_dir=str(tmp_path / "img"), subsets=["replace-obj"]).evaluate(ctx)
    assert out["replace-obj/acc"] == 0.0 and out["ties"] == 3  # a tie never counts as right
    assert ctx.items["replace-obj"] == (["zeta", "007", "x-1"], [0.0, 0.0, 0.0])  # per item, by its own key
    assert ctx.meta["sugarcrepe"]["files"]["replace_obj"]["official"] is False
    with pytest.raises(DataError, match="require_official"):
        make(data_dir=str(data), image_dir=str(tmp_path / "img"), subsets=["replace_obj"],
             require_official=True).evaluate(fx.fake_context())


def test_wrong_subset_file_is_detected(tmp_path, sugarcrepe_dir, images):
    data = tmp_path / "mixed"
    data.mkdir()
    shutil.copy(sugarcrepe_dir / "swap_obj.json", data / "swap_att.json")  # an official file under another name
    with pytest.raises(DataError, match="is the official swap_obj.json, not swap_att.json"):
        make(data_dir=str(data), image_dir=str(images), subsets=["swap_att"]).evaluate(fx.fake_context())
    # a shortened swap file posing as an add file: the edits give it away
    swap = json.loads((sugarcrepe_dir / "swap_att.json").read_text())
    (data / "add_obj.json").write_text(json.dumps(dict(list(swap.items())[:40])))
    with pytest.raises(DataError, match="look like swap edits, but add_obj holds add edits"):
        make(data_dir=str(data), image_dir=str(images), subsets=["add_obj"]).evaluate(fx.fake_context())


def test_missing_images_fail_or_are_counted(sugarcrepe_dir, images):
    victim = json.loads((sugarcrepe_dir / "swap_obj.json").read_text())["0"]["filename"]
    (images / victim).unlink()
    with pytest.raises(DataError, match="1 of .* images referenced by the SugarCrepe files are missing under "
                                        "'image_dir'.*skip_missing"):
        make(data_dir=str(sugarcrepe_dir), image_dir=str(images), subsets=SUBSETS, limit=LIMIT).evaluate(
            fx.fake_context())
    out = make(data_dir=str(sugarcrepe_dir), image_dir=str(images), subsets=SUBSETS, limit=LIMIT,
               skip_missing=True).evaluate(fx.fake_context())
    assert out["missing-images"] == 1 and out["swap-obj/n"] < LIMIT


def test_bad_settings_and_paths():
    with pytest.raises(ValueError, match="unknown subset 'swap_color'"):
        make(subsets=["swap_color"])
    with pytest.raises(DataError, match="'image_dir' is not set"):
        make(data_dir="x").evaluate(fx.fake_context())
    with pytest.raises(DataError, match="'data_dir' = '/nonexistent': not found"):
        make(data_dir="/nonexistent", image_dir="/").evaluate(fx.fake_context())


def test_undecodable_image_is_a_clear_error(sugarcrepe_dir, images):
    victim = json.loads((sugarcrepe_dir / "add_att.json").read_text())["0"]["filename"]
    (images / victim).write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=f"cannot be decoded: .*{victim}"):
        make(data_dir=str(sugarcrepe_dir), image_dir=str(images), subsets=SUBSETS, limit=LIMIT).evaluate(
            fx.fake_context())


def test_the_real_files_are_the_official_benchmark(sugarcrepe_dir):
    ev = make(data_dir=str(sugarcrepe_dir), image_dir="unused")
    loaded = [ev.load_subset(s) for s in ev.subsets]
    assert len(ev.subsets) == 7
    assert sum(len(items) for items, _ in loaded) == 7511
    assert len({it["filename"] for items, _ in loaded for it in items}) == 1560
    assert all(facts["official"] for _, facts in loaded)
