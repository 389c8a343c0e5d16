"""Training on shapes teaches composition: after a short run the compositional accuracy is clearly above
the untrained model's (the quickstart's claim, at a budget a test can afford)."""

from __future__ import annotations

import json

import pytest

MICRO_MODEL = {  # a smaller sibling of negkit-tiny, so that the test trains enough steps in about a minute
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}


def recipe(tmp_path, epochs: int) -> dict:
    return {
        "run": {"name": f"shapes-e{epochs}", "seed": 0, "device": "cpu"},
        "data": {"source": "shapes", "image_size": 32, "grid": 2, "colours": ["red", "green", "blue", "yellow"],
                 "train_size": 3000, "test_size": 200},
        "model": {"name": "negkit-test-micro", "pretrained": "", "precision": "fp32", "config_dir": str(tmp_path)},
        "train": {"epochs": epochs, "batch_size": 64, "lr": 3e-3, "warmup_steps": 10, "checkpoint_every": 0},
        "losses": [{"name": "clip"}],
        "eval": [{"name": "shapes-compositional", "limit": 200,
                  "categories": ["replace-obj", "replace-att", "add-obj", "add-att"]}],
        "report": {"plots": False},
    }


@pytest.mark.slow
def test_trained_model_beats_the_untrained_one_on_shapes_compositional(tmp_path):
    from negkit.pipeline import run
    from negkit.recipe import recipe_from_dict

    (tmp_path / "negkit-test-micro.json").write_text(json.dumps(MICRO_MODEL))
    out = tmp_path / "runs"
    untrained = run(recipe_from_dict(recipe(tmp_path, 0)), out=out).metrics
    trained = run(recipe_from_dict(recipe(tmp_path, 6)), out=out).metrics
    key = "shapes-compositional/micro/acc"
    assert 0.3 < untrained[key] < 0.7  # an untrained model is near chance
    assert trained[key] > untrained[key] + 0.1, (untrained, trained)
    assert trained["shapes-compositional/replace-att/acc"] > 0.7  # colour binding, the first thing learnt
    saved = json.loads((out / "shapes-e6" / "metrics.json").read_text())
    assert saved["metrics"][key] == trained[key]
