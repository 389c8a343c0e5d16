"""The evaluation speed benchmark: both loops score the same SugarCrepe-format files identically."""

from __future__ import annotations

import json

import torch

from negkit.eval.bench import bench_sugarcrepe, write_sugarcrepe_fixture
from negkit.eval.tasks.sugarcrepe import SUBSETS
from negkit.recipe import ModelConfig
from negkit.train.evaluate import eval_context
from negkit.train.loop import resolve_precision
from negkit.train.model import create_model


def test_batched_and_official_loops_agree(tmp_path):
    root = write_sugarcrepe_fixture(tmp_path, n_images=6, scale=0.004)
    counts = {s: len(json.loads((root / "sugarcrepe" / f"{s}.json").read_text())) for s in SUBSETS}
    assert counts["add_obj"] == 8 and counts["swap_obj"] == 1  # the official counts, scaled
    device = torch.device("cpu")
    clip = create_model(ModelConfig(name="negkit-tiny", precision="fp32"), device, seed=0)
    clip.model.eval()
    autocast = resolve_precision("fp32", device).autocast
    res = bench_sugarcrepe(clip.model, clip.preprocess_val, clip.tokenizer,
                           lambda: eval_context(clip, device, autocast, batch_size=8), root, rounds=1)
    assert res.same_accuracies
    assert res.items == sum(counts.values()) and res.images <= 6
    assert res.ratio > 0 and len(res.official_s) == len(res.negkit_s) == 1
