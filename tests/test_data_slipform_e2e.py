"""The flagship recipe end to end on a CPU: recipes/slipform.toml with --set overrides pointing every
section at small local fixtures (a COCO-format training set, every benchmark's file format) and the small
model config, so the path a real Slipform run takes (mining with concrete-plant, cement, every evaluator)
runs in CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures import realdata as fx

REPO = Path(__file__).resolve().parent.parent


def _overrides(tmp: Path, sugarcrepe_dir: Path) -> list[str]:
    ann = fx.coco_official(tmp / "coco", n_images=8, per_image=2)
    fx.sugarcrepe_images(sugarcrepe_dir, tmp / "val2017", ["swap_obj", "add_att"], 4)
    vg = fx.aro_vg(tmp / "aro")
    order = fx.blip_test(tmp / "order", n_images=2)
    flickr = fx.blip_test(tmp / "flickr", n_images=2, folder="flickr30k-images", name="flickr30k_test.json")
    wino = fx.winoground(tmp / "wino", n=3)
    valse = fx.valse(tmp / "valse", {f: 4 for f in fx.VALSE_FILES})
    retrieval = fx.blip_test(tmp / "ret", n_images=3)
    fx.imagefolder(tmp / "imagenet")
    voc = fx.voc2007(tmp / "voc")
    train_inst, train_dir = fx.coco_instances(tmp / "cocolab", "train")
    test_inst, test_dir = fx.coco_instances(tmp / "cocolab", "val")

    def q(p: Path | str) -> str:
        return json.dumps(str(p))

    return [
        "run.device=cpu",
        f"data.annotations={{train = {q(ann)}}}", f"data.image_root={q(tmp / 'coco')}",
        "model.name=negkit-tiny", 'model.pretrained=""', "model.precision=fp32",
        f"mining.cache_dir={q(tmp / 'cache')}",
        "train.epochs=1", "train.batch_size=8", "train.warmup_steps=1", "train.checkpoint_every=0",
        f"eval.0.data_dir={q(sugarcrepe_dir)}", f"eval.0.image_dir={q(tmp / 'val2017')}",
        'eval.0.subsets=["swap_obj", "add_att"]', "eval.0.limit=4",
        f"eval.1.relation_file={q(vg['relation'])}", f"eval.1.attribution_file={q(vg['attribution'])}",
        f"eval.1.vg_image_dir={q(vg['images'])}", f"eval.1.coco_file={q(order)}",
        f"eval.1.coco_image_root={q(tmp / 'order')}", f"eval.1.flickr_file={q(flickr)}",
        f"eval.1.flickr_image_root={q(tmp / 'flickr')}",
        f"eval.2.examples_file={q(wino)}", f"eval.2.image_dir={q(tmp / 'wino' / 'images')}",
        f"eval.3.data_dir={q(valse)}", f"eval.3.image_dir={q(tmp / 'valse' / 'images')}", "eval.3.image_dirs={}",
        f"eval.4.data={{annotations = {{test = {q(retrieval)}}}, image_root = {q(tmp / 'ret')}}}",
        f"eval.5.data={{annotations = {{test = {q(flickr)}}}, image_root = {q(tmp / 'flickr')}}}",
        f"eval.6.data={{root = {q(tmp / 'imagenet')}, split_dirs = {{test = \"val\"}}, "
        f"class_names_file = {q(tmp / 'imagenet' / 'classnames.txt')}}}",
        f"eval.7.data={{root = {q(voc)}}}",
        f"eval.8.data={{annotations = {{train = {q(train_inst)}, test = {q(test_inst)}}}, "
        f"image_dirs = {{train = {q(train_dir)}, test = {q(test_dir)}}}}}",
    ]


@pytest.mark.slow
def test_slipform_recipe_end_to_end_on_cpu(tmp_path, sugarcrepe_dir):
    from negkit.cli import main

    overrides = _overrides(tmp_path / "data", sugarcrepe_dir)
    main(["run", str(REPO / "recipes" / "slipform.toml"), "--out", str(tmp_path / "runs"),
          *[arg for item in overrides for arg in ("--set", item)]])
    run_dir = tmp_path / "runs" / "slipform"
    m = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    for key in ("sugarcrepe/macro/acc", "sugarcrepe/micro/acc", "aro/vg-relation/macro-acc",
                "aro/vg-attribution/macro-acc", "aro/coco-order/acc", "aro/flickr-order/acc", "aro/coco-order/seed",
                "winoground/group", "valse/macro/acc", "retrieval[0]/i2t/R@1", "retrieval[1]/t2i/R@1",
                "zero-shot/label/acc", "linear-probe[0]/labels/mAP", "linear-probe[1]/labels/mAP"):
        assert key in m, f"{key} missing from {sorted(m)}"
    assert m["sugarcrepe/swap-obj/n"] == 4 and m["winoground/n"] == 3
    meta = json.loads((run_dir / "eval_meta.json").read_text())
    assert "strictly higher" in meta["sugarcrepe"]["tie_rule"] and meta["aro"]["coco-order"]["seed"] == 0
    recipe = json.loads((run_dir / "recipe.json").read_text())
    assert [m["name"] for m in recipe["miners"]] == ["concrete-plant"]
    assert recipe["losses"][0]["name"] == "cement" and recipe["losses"][0]["mode"] == "adaptive"
    assert recipe["model"]["name"] == "negkit-tiny" and recipe["train"]["lr"] == 5e-6
