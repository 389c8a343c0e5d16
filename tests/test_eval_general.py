"""retrieval, zero-shot and linear-probe on any data source: shapes, and a small source of image files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from negkit.data.base import DataSource
from negkit.data.shapes import ShapesWorld
from negkit.errors import DataError, RecipeError
from negkit.eval.base import EvalContext
from negkit.eval.linear_probe import LinearProbe
from negkit.eval.retrieval import Retrieval
from negkit.eval.zero_shot import ZeroShot
from negkit.plugins import get_component


@pytest.fixture(scope="module")
def world() -> ShapesWorld:
    return ShapesWorld(train_size=50, test_size=200, single_size=300)


def record_lookup(world: ShapesWorld, *splits: str) -> dict[bytes, dict]:
    out = {}
    for split in splits:
        records = world.records(split)
        for i in range(len(records)):
            rec = records[i]
            out[rec["image"].tobytes()] = rec
    return out


def one_hot(index: int, n: int = 64) -> torch.Tensor:
    v = torch.zeros(n)
    v[index % n] = 1.0
    return v


def pixels(images) -> torch.Tensor:
    """Frozen features for the probes: a 4x4x4 colour histogram (where an object is does not matter)."""
    feats = []
    for im in images:
        q = np.asarray(im, dtype=np.int64) // 64
        feats.append(np.bincount((q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]).ravel(), minlength=64) ** 0.5)
    return torch.tensor(np.stack(feats), dtype=torch.float32)


def random_features(images) -> torch.Tensor:
    return torch.tensor(np.stack([np.random.default_rng(abs(hash(im.tobytes())) % 2**32).normal(size=64)
                                  for im in images]), dtype=torch.float32)


def test_registered():
    assert get_component("evaluators", "retrieval") is Retrieval
    assert get_component("evaluators", "zero-shot") is ZeroShot
    assert get_component("evaluators", "linear-probe") is LinearProbe


# -- retrieval --------------------------------------------------------------------------------------


def test_retrieval_oracle_is_perfect_even_with_shared_captions():
    world = ShapesWorld(single_size=200, p_colour=0.2, p_size=0.0)  # terse captions: some repeat
    lookup = record_lookup(world, "test-single")
    captions = sorted({r["caption"] for r in lookup.values()})
    assert len(captions) < 190  # scenes sharing a caption: the metric must count every one of them correct
    ids = {c: i for i, c in enumerate(captions)}
    ctx = EvalContext(lambda ims: torch.stack([one_hot(ids[lookup[im.tobytes()]["caption"]], 256) for im in ims]),
                      lambda texts: torch.stack([one_hot(ids[t], 256) for t in texts]), data=world)
    out = Retrieval(split="test-single", limit=0).evaluate(ctx)
    assert out["i2t/R@1"] == out["t2i/R@1"] == out["mean/R"] == 1.0
    assert out["images"] == 200 and out["texts"] == len(captions)


def test_retrieval_of_a_wrong_model_is_low(world):
    lookup = record_lookup(world, "test")
    captions = sorted({r["caption"] for r in lookup.values()})
    ids = {c: i for i, c in enumerate(captions)}
    ctx = EvalContext(lambda ims: torch.stack([one_hot(ids[lookup[im.tobytes()]["caption"]] + 1, 256) for im in ims]),
                      lambda texts: torch.stack([one_hot(ids[t], 256) for t in texts]), data=world)
    out = Retrieval(limit=0).evaluate(ctx)
    assert out["i2t/R@1"] < 0.05 and out["t2i/R@1"] < 0.05


class FileSource(DataSource):
    """Images on disk, one record per caption (COCO style): an image path repeats; int labels."""

    name = "files-for-test"

    def __init__(self, root, n: int = 12) -> None:
        self.rows = []
        for i in range(n):
            path = root / f"{i}.png"
            colour = [i, i, i]
            colour[i % 3] = 200 + i  # the brightest channel gives the class, its value the image
            Image.new("RGB", (16, 16), tuple(colour)).save(path)
            for j in range(2):
                self.rows.append({"image": str(path), "caption": f"picture {i} caption {j}", "label": i % 3,
                                  "tags": [i % 3, (i + 1) % 3]})

    def splits(self):
        return ("test",)

    def records(self, split="test"):
        return self.rows


def test_retrieval_merges_repeated_image_paths(tmp_path):
    source = FileSource(tmp_path)
    encoded_images = []

    def encode_images(ims):
        encoded_images.extend(ims)
        return torch.stack([one_hot(int(np.asarray(im)[0, 0].max()) - 200) for im in ims])

    def encode_texts(texts):
        return torch.stack([one_hot(int(t.split()[1])) for t in texts])

    out = Retrieval(limit=0).evaluate(EvalContext(encode_images, encode_texts, data=source))
    assert len(encoded_images) == 12 and out["images"] == 12 and out["texts"] == 24
    assert out["i2t/R@1"] == out["t2i/R@1"] == 1.0

    def encode_class(ims):  # only the class: every image ties with the other three of its class
        return torch.stack([one_hot(int(np.asarray(im)[0, 0].argmax())) for im in ims])

    out = Retrieval(limit=0).evaluate(EvalContext(encode_class, lambda texts: torch.stack(
        [one_hot(int(t.split()[1]) % 3) for t in texts]), data=source))
    assert out["i2t/R@1"] == out["t2i/R@1"] == 0.0  # ties count against the query
    assert out["t2i/R@5"] == 1.0 and out["i2t/R@5"] == 0.0 and out["i2t/R@10"] == 1.0


# -- zero-shot ------------------------------------------------------------------------------------


def test_zero_shot_oracle_on_shapes_and_colours(world):
    lookup = record_lookup(world, "test-single", "test")
    shapes, colours = list(world.shapes), list(world.colours)

    def encode_images(ims):
        recs = [lookup[im.tobytes()] for im in ims]
        return torch.stack([sum(one_hot(shapes.index(s)) for s in r["shapes"]) +
                            sum(one_hot(32 + colours.index(c)) for c in r["colours"]) for r in recs])

    def encode_texts(texts):
        return torch.stack([sum(one_hot(shapes.index(w)) if w in shapes else one_hot(32 + colours.index(w))
                                for w in t.split() if w in shapes or w in colours) for t in texts])

    ctx = EvalContext(encode_images, encode_texts, data=world)
    out = ZeroShot(label="shape", split="test-single").evaluate(ctx)
    assert out["shape/acc"] == 1.0 and out["shape/balanced-acc"] == 1.0 and out["shape/n"] == 300
    assert ctx.meta["zero-shot/shape"]["templates"] == world.templates("shape")
    out = ZeroShot(label="colour", split="test-single", templates=["the colour {}"]).evaluate(ctx)
    assert out["colour/acc"] == 1.0
    multi = ZeroShot(label="colours", split="test").evaluate(ctx)  # multi-label: mAP
    assert multi["colours/mAP"] == 1.0
    # multi-object scenes have no single "shape": they are skipped, not miscounted
    assert ZeroShot(label="shape", split="test").evaluate(ctx)["shape/n"] < 200


def test_zero_shot_with_int_labels_needs_class_names(tmp_path):
    source = FileSource(tmp_path)
    ctx = EvalContext(lambda ims: torch.stack([one_hot(int(np.asarray(im)[0, 0].argmax())) for im in ims]),
                      lambda texts: torch.stack([one_hot(["red", "green", "blue"].index(t.split()[-1]))
                                                 for t in texts]), data=source)
    with pytest.raises(DataError, match="set `class_names`"):
        ZeroShot(label="label").evaluate(ctx)
    out = ZeroShot(label="label", class_names=["red", "green", "blue"], templates=["{}"]).evaluate(ctx)
    assert out["label/acc"] == 1.0 and out["label/n"] == 24


def test_zero_shot_bad_settings(world):
    with pytest.raises(ValueError, match="^templates: "):
        ZeroShot(templates=["a photo"])
    with pytest.raises(DataError, match="records have no key 'species'"):
        ZeroShot(label="species").evaluate(EvalContext(pixels, pixels, data=world))


# -- linear probe -------------------------------------------------------------------------------------


def test_linear_probe_single_label_learns_colour_from_pixels(world):
    good = LinearProbe(label="colour", split="test-single").evaluate(EvalContext(pixels, pixels, data=world))
    chance = LinearProbe(label="colour", split="test-single").evaluate(
        EvalContext(random_features, random_features, data=world))
    assert good["colour/acc"] > 0.8 and good["colour/n"] == 150 and good["colour/n-train"] == 150
    assert chance["colour/acc"] < 0.35


def test_linear_probe_multi_label_map(world):
    good = LinearProbe(label="colours", split="test", train_split="train-single",
                       train_limit=300).evaluate(EvalContext(pixels, pixels, data=world))
    chance = LinearProbe(label="colours", split="test", train_split="train-single",
                         train_limit=300).evaluate(EvalContext(random_features, random_features, data=world))
    assert good["colours/mAP"] > chance["colours/mAP"] + 0.2
    assert good["colours/n"] == 200 and good["colours/n-train"] == 300


def test_linear_probe_on_a_named_source_built_at_construction():
    probe = LinearProbe(label="colour", split="test-single", limit=200, source="shapes",
                        data={"single_size": 400, "train_size": 1})
    out = probe.evaluate(EvalContext(pixels, pixels))  # the run's own data is not needed
    assert out["colour/acc"] > 0.8 and out["colour/n"] == 100


@pytest.mark.parametrize("kwargs, error, match", [
    ({"source": "shapes", "data": {"image_size": 8}}, RecipeError, "image_size"),
    ({"source": "no-such-source"}, Exception, "unknown dataset 'no-such-source'"),
    ({"source": "shapes", "split": "dev"}, DataError, "split 'dev' is not a split of 'shapes'"),
    ({"data": {"image_size": 64}}, ValueError, "^data: given without source"),
    ({"test_fraction": 1.0}, ValueError, "^test_fraction: "),
])
def test_linear_probe_bad_settings_fail_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        LinearProbe(**kwargs)
