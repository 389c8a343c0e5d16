"""Evaluation images through the DataLoader: the same results with and without workers, each image and text
encoded once per benchmark, unreadable images answered the same way in a worker as in-process, and features
never shared between two benchmarks or two states of the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures import compo
from fixtures import realdata as fx
from PIL import Image

from negkit import get_component
from negkit.errors import DataError
from negkit.eval.loading import default_workers, image_batches, weights_version
from negkit.eval.tasks.suite import BENCHMARKS
from negkit.recipe import ModelConfig
from negkit.train.evaluate import eval_context
from negkit.train.loop import resolve_precision
from negkit.train.model import create_model


def suite(root, workers: int):
    settings = compo.suite_root(root)
    ctx = fx.fake_context(workers=workers, batch_size=3)  # several batches, so that workers really run
    scopes: list[tuple[str, str, bytes | str]] = []
    images, texts = ctx.encode_image_batch, ctx.encode_text_batch

    def log_images(batch):
        scopes.extend(("image", ctx.scope, fx.image_key(im)) for im in batch)
        return images(batch)

    def log_texts(batch):
        scopes.extend(("text", ctx.scope, t) for t in batch)
        return texts(batch)

    ctx.encode_image_batch, ctx.encode_text_batch = log_images, log_texts
    out = get_component("evaluators", "compositional-suite")(data_root=str(root), settings=settings).evaluate(ctx)
    return out, ctx, scopes


def test_suite_same_with_workers_and_each_input_encoded_once_per_benchmark(tmp_path):
    out0, ctx0, scopes0 = suite(tmp_path / "a", workers=0)
    out2, ctx2, scopes2 = suite(tmp_path / "b", workers=2)
    assert out0.keys() == out2.keys()
    assert all(out0[k] == out2[k] or (np.isnan(out0[k]) and np.isnan(out2[k])) for k in out0)
    assert ctx0.items == ctx2.items
    for scopes in (scopes0, scopes2):
        assert len(scopes) == len(set(scopes))  # each image and text once within its benchmark
        assert {s for _, s, _ in scopes} == set(BENCHMARKS)  # every benchmark in a scope of its own
    assert scopes0 == scopes2  # same order of encoding, workers or not


def test_repeated_calls_in_one_benchmark_hit_the_cache(tmp_path):
    fx.write_images(tmp_path, ["a.jpg", "b.jpg", "c.jpg"])
    paths = [tmp_path / n for n in ("a.jpg", "b.jpg", "c.jpg")]
    ctx = fx.fake_context(batch_size=2, workers=2)
    with ctx.benchmark("one"):
        first = ctx.encode_images(paths[:2])
        again = ctx.encode_images([paths[1], paths[2], paths[0]])
        ctx.encode_texts(["a cat", "a dog"])
        ctx.encode_texts(["a dog", "a bird", "a cat"])
    assert len(ctx.calls["images"]) == 3 and len(ctx.calls["texts"]) == 3
    torch.testing.assert_close(again[2], first[0])
    with ctx.benchmark("two"):  # another benchmark encodes its own
        ctx.encode_images(paths[:1])
    assert len(ctx.calls["images"]) == 4


def test_two_benchmarks_never_share_features_of_the_same_key(tmp_path):
    ctx = fx.fake_context()
    red, blue = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))
    with ctx.benchmark("a"):
        fa = ctx.encode_images(["img/1.jpg"], load=lambda _: red)
    with ctx.benchmark("b"):  # the same key means other pixels in another benchmark
        fb = ctx.encode_images(["img/1.jpg"], load=lambda _: blue)
    assert not torch.allclose(fa, fb)
    assert np.allclose(fb[0].numpy(), fx.vector_for(fx.image_key(blue)) / np.linalg.norm(
        fx.vector_for(fx.image_key(blue))), atol=1e-6)


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unreadable_image_is_the_same_one_line_error_in_a_worker(tmp_path, workers):
    fx.write_images(tmp_path, [f"{i}.jpg" for i in range(6)])
    (tmp_path / "3.jpg").write_bytes(b"not a jpeg at all")
    ctx = fx.fake_context(batch_size=2, workers=workers)
    with pytest.raises(DataError) as err:
        ctx.encode_images([tmp_path / f"{i}.jpg" for i in range(6)])
    message = str(err.value)
    assert "\n" not in message and "3.jpg" in message and "cannot be decoded" in message
    assert "Traceback" not in message and "worker" not in message


def test_missing_images_still_follow_skip_missing_with_workers(tmp_path):
    p = compo.svo_probes(tmp_path)
    missing = next((tmp_path / "svo-probes" / "images").glob("*.jpg"))
    missing.unlink()
    ctx = fx.fake_context(batch_size=2, workers=2)
    with pytest.raises(DataError, match="skip_missing"):
        get_component("evaluators", "svo-probes")(**p).evaluate(ctx)
    out = get_component("evaluators", "svo-probes")(**p, skip_missing=True).evaluate(ctx)
    assert out["missing-images"] == 1


def test_batches_keep_their_order_with_workers():
    items = list(range(23))
    load = lambda i: Image.new("RGB", (4, 4), (i, 0, 0))  # noqa: E731
    got = [int(np.asarray(im)[0, 0, 0]) for b in image_batches(items, load=load, batch_size=4, workers=2) for im in b]
    assert got == items
    assert default_workers() >= 0


def test_two_model_states_never_share_cached_features(tmp_path):
    fx.write_images(tmp_path, ["a.jpg", "b.jpg", "c.jpg"])
    paths = [tmp_path / n for n in ("a.jpg", "b.jpg", "c.jpg")]
    clip = create_model(ModelConfig(name="negkit-tiny"), "cpu", seed=0)
    clip.model.eval()
    calls = []
    encode_image = clip.model.encode_image

    def counting(pixels, **kw):
        calls.append(len(pixels))
        return encode_image(pixels, **kw)

    clip.model.encode_image = counting
    cpu = torch.device("cpu")
    ctx = eval_context(clip, cpu, resolve_precision("fp32", cpu).autocast, batch_size=2, workers=1)
    before = ctx.encode_images(paths)
    ctx.encode_images(paths)
    assert sum(calls) == 3  # same weights: the second call is served from the cache
    state = {k: v.clone() for k, v in clip.model.state_dict().items()}
    token = weights_version(clip.model)
    with torch.no_grad():  # a training step in miniature: weights change in place
        for p in clip.model.visual.parameters():
            p.add_(0.05 * torch.randn_like(p))
    assert weights_version(clip.model) != token
    after = ctx.encode_images(paths)
    assert sum(calls) == 6 and not torch.allclose(before, after)
    clip.model.load_state_dict(state)  # a checkpoint loaded into the same model is another state again
    restored = ctx.encode_images(paths)
    assert sum(calls) == 9
    torch.testing.assert_close(restored, before, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        pixels = torch.stack([clip.preprocess_val(Image.open(p).convert("RGB")) for p in paths])
        expected = torch.nn.functional.normalize(encode_image(pixels), dim=-1)
    torch.testing.assert_close(restored, expected, rtol=1e-5, atol=1e-6)


def test_a_worker_killed_is_one_line_naming_the_way_out():
    import os
    import signal

    def load(i):
        if i == 5:
            os.kill(os.getpid(), signal.SIGKILL)
        return Image.new("RGB", (4, 4))

    with pytest.raises(DataError) as err:
        list(image_batches(list(range(12)), load=load, batch_size=2, workers=2))
    assert "worker died" in str(err.value) and "--workers 0" in str(err.value) and "\n" not in str(err.value)
