"""The evaluators that run on any data source record per-item results that make up their metrics, under
stable item keys, so that two runs can be compared pairwise on the same items."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_eval_general import pixels, random_features

from negkit.data.shapes import ShapesWorld
from negkit.eval.base import EvalContext
from negkit.eval.compositional import ShapesCompositional
from negkit.eval.linear_probe import LinearProbe
from negkit.eval.retrieval import Retrieval
from negkit.eval.zero_shot import ZeroShot


def text_features(texts) -> torch.Tensor:
    return torch.tensor(np.stack([np.random.default_rng(sum(map(ord, t))).normal(size=64) for t in texts]),
                        dtype=torch.float32)


@pytest.fixture(scope="module")
def world() -> ShapesWorld:
    return ShapesWorld(train_size=20, test_size=40, single_size=60)


def context(world, images=random_features) -> EvalContext:
    return EvalContext(encode_image_batch=images, encode_text_batch=text_features, data=world)


@pytest.mark.parametrize("evaluator, groups", [
    (ShapesCompositional(limit=30), {"swap-att": "swap-att/acc", "micro": "micro/acc", "novel": "novel/acc"}),
    (Retrieval(limit=30, ks=[1, 5]), {"i2t/R@1": "i2t/R@1", "t2i/R@5": "t2i/R@5"}),
    (ZeroShot(label="shape", split="test-single", limit=40), {"shape": "shape/acc"}),
    (LinearProbe(label="colour", split="test-single", limit=60), {"colour": "colour/acc"}),
])
def test_items_make_up_the_metric_and_keep_their_keys(world, evaluator, groups):
    images = pixels if isinstance(evaluator, LinearProbe) else random_features
    ctx = context(world, images)
    metrics = evaluator.evaluate(ctx)
    for group, metric in groups.items():
        ids, values = ctx.items[group]
        assert len(ids) == len(set(ids)) > 0
        assert set(values) <= {0.0, 1.0}
        assert np.mean(values) == pytest.approx(metrics[metric])
    again = context(world, images)
    evaluator.evaluate(again)
    assert again.items == ctx.items  # same data and seed: the same items under the same keys
