"""CREPE, EqBen, ImageCoDe, SVO-Probes, VL-CheckList, What'sUp and SPEC on fixtures in their official formats:
each rule recomputed item by item in plain Python from fixed random embeddings (as the official loops do),
each image and text encoded once, bad input answered with one line naming the key."""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path
from statistics import mean

import numpy as np
import pytest
from fixtures import compo
from fixtures import realdata as fx
from PIL import Image

from negkit import get_component
from negkit.errors import DataError
from negkit.eval.tasks.common import npy_or_image

ENCODERS = {"plain": lambda t: t.encode(), "bag-of-words": fx.bag_of_words}


def img(path: Path, box=None) -> np.ndarray:
    im = npy_or_image(path) if path.suffix == ".npy" else Image.open(path).convert("RGB")
    if box is not None:
        x, y, w, h = box
        im = im.crop((x, y, x + w, y + h))
    return fx.vector_for(fx.image_key(im))


def txt(text: str, key=ENCODERS["plain"]) -> np.ndarray:
    return fx.vector_for(key(text))


def run(name: str, params: dict, key=ENCODERS["plain"]):
    ctx = fx.fake_context(key)
    out = get_component("evaluators", name)(**params).evaluate(ctx)
    return out, ctx


def assert_encoded_once(ctx) -> None:
    assert len(ctx.calls["images"]) == len(set(ctx.calls["images"]))
    assert len(ctx.calls["texts"]) == len(set(ctx.calls["texts"]))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_crepe_parity(tmp_path, encoder):
    key = ENCODERS[encoder]
    p = compo.crepe(tmp_path)
    out, ctx = run("crepe", p, key)
    by_type: dict[str, list[bool]] = {}
    for kind in ("atom", "swap", "negate"):
        for c in p["complexities"]:
            with open(Path(p["data_dir"]) / kind / f"prod_vg_hard_negs_{kind}_complexity_{c}.csv") as f:
                for row in csv.DictReader(f):
                    sub = "VG_100K" if int(row["image_id"]) < 102 else "VG_100K_2"
                    box = tuple(float(row[k]) for k in ("x", "y", "width", "height"))
                    v = img(tmp_path / "vg" / sub / f"{row['image_id']}.jpg", box)
                    options = [row["caption"], *ast.literal_eval(row["hard_negs"])]
                    sims = [fx.cos(v, txt(o, key)) for o in options]
                    by_type.setdefault(kind, []).append(sims[0] > max(sims[1:]))  # rank 0, ties wrong
    for kind, right in by_type.items():
        assert out[f"{kind}/r1"] == pytest.approx(mean(right), abs=1e-12)
    assert out["avg"] == pytest.approx(mean(mean(v) for v in by_type.values()), abs=1e-12)
    assert_encoded_once(ctx)
    assert "tie" in ctx.meta["crepe"]["tie_rule"]
    assert set(ctx.items) == {"atom", "swap", "negate"}


@pytest.mark.parametrize("encoder", ENCODERS)
def test_eqben_parity(tmp_path, encoder):
    key = ENCODERS[encoder]
    p = compo.eqben(tmp_path)
    out, ctx = run("eqben", p, key)
    groups = {}
    for subset in ("eqbenag", "eqbengebc", "eqbenyoucook2", "eqbenkubric_loc", "eqbenkubric_cnt",
                   "eqbenkubric_attr", "eqbensd"):
        data = json.loads((Path(p["data_dir"]) / f"{subset}.json").read_text())
        if subset == "eqbenag":
            pairs = [x for v in data.values() for s in v.values() for x in s]
        elif isinstance(data, dict):
            pairs = [x for v in data.values() for x in v]
        else:
            pairs = data
        t_all, g_all = [], []
        for pr in pairs:
            c0 = pr["caption0"][0] if isinstance(pr["caption0"], list) else pr["caption0"]
            c1 = pr["caption1"][0] if isinstance(pr["caption1"], list) else pr["caption1"]
            i0, i1 = img(Path(p["image_dir"]) / pr["image0"]), img(Path(p["image_dir"]) / pr["image1"])
            s = {(a, b): fx.cos(txt(c, key), i) for a, c in ((0, c0), (1, c1)) for b, i in ((0, i0), (1, i1))}
            t = s[0, 0] > s[1, 0] and s[1, 1] > s[0, 1]
            i = s[0, 0] > s[0, 1] and s[1, 1] > s[1, 0]
            t_all.append(t)
            g_all.append(t and i)
        assert out[f"{subset}/text"] == pytest.approx(mean(t_all), abs=1e-12)
        groups[subset] = mean(g_all)
    kubric = mean(groups[s] for s in ("eqbenkubric_loc", "eqbenkubric_cnt", "eqbenkubric_attr"))
    headline = mean([groups["eqbenag"], groups["eqbengebc"], groups["eqbenyoucook2"], kubric, groups["eqbensd"]])
    assert out["avg"] == pytest.approx(headline, abs=1e-12)
    assert_encoded_once(ctx)


def test_imagecode_parity(tmp_path):
    p = compo.imagecode(tmp_path)
    out, ctx = run("imagecode", p)
    right = {"video": [], "static": []}
    for name, entries in json.loads(Path(p["data_file"]).read_text()).items():
        files = sorted((Path(p["image_dir"]) / name).glob("*.jpg"), key=lambda f: int(f.stem[3:]))
        for index, text in entries.items():
            sims = np.array([fx.cos(img(f), txt(text.strip())) for f in files])
            right["static" if "open-images" in name else "video"].append(int(np.argsort(-sims)[0]) == int(index))
    assert out["video/acc"] == pytest.approx(mean(right["video"]))
    assert out["static/acc"] == pytest.approx(mean(right["static"]))
    assert out["acc"] == pytest.approx(mean(right["video"] + right["static"]))
    assert out["n"] == len(right["video"]) + len(right["static"])
    assert_encoded_once(ctx)


def test_svo_probes_parity(tmp_path):
    p = compo.svo_probes(tmp_path)
    out, ctx = run("svo-probes", p)
    kinds: dict[str, list[bool]] = {}
    with open(p["data_file"]) as f:
        for row in csv.DictReader(f):
            kind = next(k for k in ("subj_neg", "verb_neg", "obj_neg") if row[k] == "True")
            t = txt(row["sentence"])
            pos = fx.cos(img(Path(p["image_dir"]) / f"{row['pos_image_id']}.jpg"), t)
            neg = fx.cos(img(Path(p["image_dir"]) / f"{row['neg_image_id']}.jpg"), t)
            kinds.setdefault(kind, []).append(pos > neg)
    for kind, right in kinds.items():
        assert out[f"{kind.replace('_', '-')}/acc"] == pytest.approx(mean(right))
    assert out["avg"] == pytest.approx(mean(mean(v) for v in kinds.values()))
    assert_encoded_once(ctx)
    assert ctx.items["verb-neg"][0] == ["1", "4", "7", "10"]  # the file's own index column


def test_vl_checklist_parity(tmp_path):
    p = compo.vl_checklist(tmp_path)
    out, ctx = run("vl-checklist", p)
    base = Path(p["root"])
    subsets: dict[str, list[bool]] = {}
    import yaml

    for yml in sorted((base / "corpus").rglob("*.yaml")):
        spec = yaml.safe_load(yml.read_text())
        subset = str(yml.parent.relative_to(base / "corpus"))
        for image, texts in json.loads((base / spec["ANNO_PATH"]).read_text()):
            v = img(base / spec["IMG_ROOT"] / image)
            subsets.setdefault(subset, []).append(fx.cos(v, txt(texts["POS"][0])) > fx.cos(v, txt(texts["NEG"][0])))
    cats = {c: mean(mean(v) for s, v in subsets.items() if s.startswith(c)) for c in ("Object", "Attribute",
                                                                                        "Relation")}
    assert out["attribute-color/acc"] == pytest.approx(mean(subsets["Attribute/color"]))
    assert out["avg"] == pytest.approx(mean(cats.values()))
    assert_encoded_once(ctx)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_whatsup_parity(tmp_path, encoder):
    key = ENCODERS[encoder]
    p = compo.whatsup(tmp_path)
    out, ctx = run("whatsup", p, key)
    base = Path(p["data_dir"])
    accs = []
    for file, subset in (("controlled_images_dataset.json", "controlled-a"),
                         ("controlled_clevr_dataset.json", "controlled-b"), ("coco_qa_one_obj.json", "coco-qa-one"),
                         ("coco_qa_two_obj.json", "coco-qa-two"), ("vg_qa_one_obj.json", "vg-qa-one"),
                         ("vg_qa_two_obj.json", "vg-qa-two")):
        right = []
        for it in json.loads((base / file).read_text()):
            if isinstance(it, dict):
                folder = it["image_path"].split("/")[1]
                v, options = img(base / folder / it["image_path"].split("/")[-1]), it["caption_options"]
            else:
                name = f"{it[0]:012d}.jpg" if "coco" in file else f"{it[0]}.jpg"
                v, options = img(base / ("val2017" if "coco" in file else "vg_images") / name), it[1:]
            right.append(int(np.argmax([fx.cos(v, txt(o, key)) for o in options])) == 0)
        assert out[f"{subset}/acc"] == pytest.approx(mean(right))
        accs.append(mean(right))
    assert out["avg"] == pytest.approx(mean(accs))
    assert_encoded_once(ctx)  # the two COCO subsets share images: encoded once


def test_spec_parity(tmp_path):
    p = compo.spec(tmp_path)
    out, ctx = run("spec", p)
    per = {"i2t": [], "t2i": []}
    for subset in ("absolute_size", "relative_size", "absolute_spatial", "relative_spatial", "existence", "count"):
        folder = Path(p["data_dir"]) / subset
        for direction, file in (("i2t", "image2text.json"), ("t2i", "text2image.json")):
            right = []
            for it in json.loads((folder / file).read_text()):
                if direction == "i2t":
                    sims = [fx.cos(img(folder / it["query"]), txt(k)) for k in it["keys"]]
                else:
                    sims = [fx.cos(img(folder / k), txt(it["query"])) for k in it["keys"]]
                right.append(int(np.argmax(sims)) == it["label"])
            assert out[f"{subset}/{direction}"] == pytest.approx(mean(right))
            per[direction].append(mean(right))
    assert out["i2t"] == pytest.approx(mean(per["i2t"]))
    assert out["avg"] == pytest.approx((mean(per["i2t"]) + mean(per["t2i"])) / 2)
    assert_encoded_once(ctx)


# -- bad input --------------------------------------------------------------------------------------------

def test_missing_folders_name_the_key(tmp_path):
    cases = {"crepe": ({"data_dir": str(tmp_path / "nope"), "image_dir": str(tmp_path)}, "data_dir"),
             "eqben": ({"data_dir": str(tmp_path), "image_dir": str(tmp_path / "nope")}, "image_dir"),
             "imagecode": ({"data_file": str(tmp_path / "x.json"), "image_dir": str(tmp_path)}, "data_file"),
             "svo-probes": ({"data_file": str(tmp_path / "x.csv"), "image_dir": str(tmp_path)}, "data_file"),
             "vl-checklist": ({"corpus_dir": str(tmp_path / "nope")}, "corpus_dir"),
             "whatsup": ({"data_dir": str(tmp_path), "image_root": str(tmp_path / "nope")}, "image_root"),
             "spec": ({"data_dir": str(tmp_path / "nope")}, "data_dir")}
    for name, (params, key) in cases.items():
        with pytest.raises(DataError, match=f"{name}.*'?{key}'?"):
            run(name, params)


def test_corrupt_annotations_name_the_line_or_item(tmp_path):
    p = compo.crepe(tmp_path)
    f = Path(p["data_dir"]) / "swap" / "prod_vg_hard_negs_swap_complexity_4.csv"
    f.write_text(f.read_text() + '7,0,0,5,5,a caption,"[unclosed"\n')
    with pytest.raises(DataError, match="line 6: unreadable box or hard_negs"):
        run("crepe", p)
    p = compo.spec(tmp_path)
    f = Path(p["data_dir"]) / "count" / "text2image.json"
    f.write_text(json.dumps([{"query": "x", "keys": ["a.jpg"], "label": 3}]))
    with pytest.raises(DataError, match="item 0 needs query, keys and a label"):
        run("spec", p)
    p = compo.svo_probes(tmp_path)
    Path(p["data_file"]).write_text("sentence,pos_image_id\nx,y\n")
    with pytest.raises(DataError, match="no column neg_image_id"):
        run("svo-probes", p)
    p = compo.whatsup(tmp_path)
    (Path(p["data_dir"]) / "vg_qa_two_obj.json").write_text(json.dumps([[1, "only one caption"]]))
    with pytest.raises(DataError, match="vg_qa_two_obj.json'?: item 0 is not"):
        run("whatsup", p)


def test_missing_images_counted_or_refused(tmp_path):
    p = compo.whatsup(tmp_path)
    (Path(p["image_root"]) / "vg_images" / "139.jpg").unlink()
    with pytest.raises(DataError, match="missing under 'image_root'.*skip_missing"):
        run("whatsup", p)
    out, ctx = run("whatsup", {**p, "skip_missing": True})
    assert out["missing-images"] == 1
    assert ctx.meta["whatsup"]["missing_images"] == 1
    assert out["vg-qa-one/n"] < 4
    p = compo.imagecode(tmp_path)
    (Path(p["image_dir"]) / "open-images-0_abc" / "img9.jpg").unlink()
    with pytest.raises(DataError, match="image sets are missing or incomplete"):
        run("imagecode", p)
    out, _ = run("imagecode", {**p, "skip_missing": True})
    assert out["missing-sets"] == 1


def test_bad_parameters_fail_when_built():
    with pytest.raises(ValueError, match="subsets: unknown subset"):
        get_component("evaluators", "spec")(subsets=["colour"])
    with pytest.raises(ValueError, match="complexities"):
        get_component("evaluators", "crepe")(complexities=[3])
    with pytest.raises(ValueError, match="files: unknown subset"):
        get_component("evaluators", "eqben")(files={"eqbenx": "a.json"})


def test_aro_winoground_valse_record_items_that_make_up_their_metrics(tmp_path):
    vg = fx.aro_vg(tmp_path / "aro", n_rel=12)
    out, ctx = run("aro", {"relation_file": str(vg["relation"]), "attribution_file": str(vg["attribution"]),
                           "vg_image_dir": str(vg["images"]), "tasks": ["vg-relation", "vg-attribution"]})
    for task in ("vg-relation", "vg-attribution"):
        ids, values = ctx.items[task]
        assert len(ids) == len(set(ids)) == out[f"{task}/n"]
        assert mean(values) == pytest.approx(out[f"{task}/micro-acc"])
    path = fx.winoground(tmp_path / "wino", n=6)
    out, ctx = run("winoground", {"examples_file": str(path)})
    for score in ("text", "image", "group"):
        assert ctx.items[score][0] == [str(i) for i in range(6)]
        assert mean(ctx.items[score][1]) == pytest.approx(out[score])
    data = fx.valse(tmp_path / "valse", {"existence.json": 8})
    out, ctx = run("valse", {"data_dir": str(data), "image_dir": str(tmp_path / "valse" / "images"),
                             "pieces": ["existence"]})
    assert mean(ctx.items["existence"][1]) == pytest.approx(out["existence/acc"])
    assert all(i.startswith("existence.json_") for i in ctx.items["existence"][0])  # VALSE's own item keys
