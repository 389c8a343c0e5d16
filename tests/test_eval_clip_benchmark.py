"""The clip-benchmark wrapper on local datasets in formats its builders read (ImageNet as an ImageFolder with
custom class names and templates, a Flickr30k caption file); skipped when the optional package is absent."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures import realdata as fx
from PIL import Image

from negkit import get_component
from negkit.errors import DataError

pytest.importorskip("clip_benchmark")

CLASSES = ["tench", "goldfish", "shark"]
TEMPLATES = ["a photo of a {c}.", "a {c} in the water."]


@pytest.fixture
def root(tmp_path):
    for name in ("n01", "n02", "n03"):  # ImageFolder sorts the folders: the k-th is CLASSES[k]
        for i in range(3):
            fx.write_image(tmp_path / "imagenet1k-unverified" / "val" / name / f"{i}.jpg", name=f"{name}{i}")
    (tmp_path / "classes.json").write_text(json.dumps({"imagenet1k-unverified": CLASSES}))
    (tmp_path / "templates.json").write_text(json.dumps({"imagenet1k-unverified": TEMPLATES}))
    lines = ["image,caption"]
    for i in range(4):
        fx.write_image(tmp_path / "flickr30k" / f"{i}.jpg", name=f"flickr{i}")
        lines += [f"{i}.jpg,a dog number {i} runs", f"{i}.jpg,a dog {i}, with a comma"]
    (tmp_path / "flickr_test.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_classification_and_retrieval_match_a_reimplementation(root):
    ev = get_component("evaluators", "clip-benchmark")(
        datasets=["imagenet1k-unverified", "flickr30k"], dataset_root=str(root),
        annotation_files={"flickr30k": str(root / "flickr_test.txt")},
        custom_classname_file=str(root / "classes.json"), custom_template_file=str(root / "templates.json"))
    ctx = fx.fake_context()
    out = ev.evaluate(ctx)
    # classification: class vector = normalised mean of normalised prompt vectors; argmax of cosine
    weights = []
    for c in CLASSES:
        vs = [fx.vector_for(t.format(c=c).encode()) for t in TEMPLATES]
        m = np.mean([v / np.linalg.norm(v) for v in vs], axis=0)
        weights.append(m / np.linalg.norm(m))
    right = []
    for k, name in enumerate(("n01", "n02", "n03")):
        for i in range(3):
            v = fx.vector_for(fx.image_key(Image.open(root / "imagenet1k-unverified" / "val" / name / f"{i}.jpg")))
            right.append(int(np.argmax([w @ v for w in weights])) == k)
    assert out["imagenet1k-unverified/acc1"] == pytest.approx(np.mean(right))
    assert out["imagenet1k-unverified/acc5"] == 1.0  # three classes
    assert out["imagenet1k-unverified/n"] == 9
    # retrieval: text-to-image R@1 over the 8 captions
    imgs = [fx.vector_for(fx.image_key(Image.open(root / "flickr30k" / f"{i}.jpg"))) for i in range(4)]
    hits = []
    for i in range(4):
        for cap in (f"a dog number {i} runs", f"a dog {i}, with a comma"):
            t = fx.vector_for(cap.encode())
            hits.append(int(np.argmax([fx.cos(t, v) for v in imgs])) == i)
    assert out["flickr30k/text-to-image/r@1"] == pytest.approx(np.mean(hits))
    assert "zero-shot/avg" in out and "retrieval/avg-r1" in out
    assert len(ctx.calls["texts"]) == len(set(ctx.calls["texts"]))
    assert "clip-benchmark" in ctx.meta["clip-benchmark"]["package"]
    assert len(ctx.items["imagenet1k-unverified/acc1"][0]) == 9
    assert np.mean(ctx.items["flickr30k/text-to-image/r@1"][1]) == pytest.approx(np.mean(hits))


def test_missing_dataset_folder_never_downloads(tmp_path):
    ev = get_component("evaluators", "clip-benchmark")(datasets=["cifar10"], dataset_root=str(tmp_path))
    with pytest.raises(DataError, match="no folder .*cifar10.*'dataset_root'"):
        ev.evaluate(fx.fake_context())
    (tmp_path / "flickr30k").mkdir()
    ev = get_component("evaluators", "clip-benchmark")(datasets=["flickr30k"], dataset_root=str(tmp_path))
    with pytest.raises(DataError, match="annotation_files.flickr30k is not set"):
        ev.evaluate(fx.fake_context())
