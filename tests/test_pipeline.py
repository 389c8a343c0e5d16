"""The commands around the engine: ``negkit eval``, ``negkit run`` errors, ``negkit bench step``; resume rules."""

from __future__ import annotations

import json

import pytest
import torch
from test_train_world import registered_world

from negkit.cli import main
from negkit.pipeline import flatten, recipe_differences
from negkit.recipe import ModelConfig
from negkit.train.checkpoint import atomic_save
from negkit.train.model import create_model

RECIPE = """
# a tiny recipe on the in-test colour world
[run]
name = "cli"
device = "cpu"

[data]
source = "test-colours"
n = 16

[model]
name = "negkit-tiny"
pretrained = ""
precision = "fp32"

[mining]
k = 1

[[miners]]
name = "test-colour-swap"

[[losses]]
name = "infonce"

[train]
batch_size = 8
max_steps = 1

[[eval]]
name = "test-retrieval"
limit = 8
"""


def test_recipe_differences_name_changed_keys_and_ignore_safe_ones():
    saved = {"train": {"lr": 1e-3, "num_workers": 0}, "losses": [{"name": "clip", "weight": 1.0}],
             "eval": [{"name": "a"}], "report": {"plots": True}}
    current = {"train": {"lr": 2e-3, "num_workers": 4}, "losses": [{"name": "cement", "weight": 1.0}],
               "eval": [{"name": "b"}], "report": {"plots": False}}
    assert recipe_differences(saved, current) == ["losses[0].name", "train.lr"]
    assert flatten({"a": {"b": [1, 2]}}) == {"a.b": [1, 2]}


def test_eval_command_scores_a_checkpoint(tmp_path, capsys):
    recipe = tmp_path / "cli.toml"
    recipe.write_text(RECIPE)
    clip = create_model(ModelConfig(name="negkit-tiny"), "cpu", seed=5)
    ckpt = tmp_path / "weights.pt"
    atomic_save({"state_dict": clip.model.state_dict(), "negkit": {"model": "negkit-tiny"}}, ckpt)
    out = tmp_path / "metrics.json"
    with registered_world():
        main(["eval", str(recipe), "--checkpoint", str(ckpt), "--output", str(out)])
        printed = capsys.readouterr().out
        assert "test-retrieval/swap/acc" in printed
        metrics = json.loads(out.read_text())["metrics"]
        assert set(metrics) == {"test-retrieval/i2t/r1", "test-retrieval/swap/acc"}
        # the same weights evaluated twice give the same numbers; other weights give other similarities
        main(["eval", str(recipe), "--checkpoint", str(ckpt), "--output", str(tmp_path / "again.json")])
        assert json.loads((tmp_path / "again.json").read_text())["metrics"] == metrics
        small = create_model(ModelConfig(name="negkit-small"), "cpu")
        torch.save(small.model.state_dict(), tmp_path / "small.pt")
        with pytest.raises(SystemExit) as exit_info:
            main(["eval", str(recipe), "--checkpoint", str(tmp_path / "small.pt")])
        assert exit_info.value.code == 1
        err = capsys.readouterr().err
        assert "does not fit model 'negkit-tiny'" in err and "Traceback" not in err


def test_run_command_errors_are_one_line(tmp_path, capsys):
    recipe = tmp_path / "cli.toml"
    recipe.write_text(RECIPE)
    with registered_world():
        with pytest.raises(SystemExit):
            main(["run", str(recipe), "--out", str(tmp_path), "--set", "model.name=ViT-B-32-quickgelux"])
        err = capsys.readouterr().err
        assert "unknown open_clip model 'ViT-B-32-quickgelux'" in err and "ViT-B-32-quickgelu" in err
        with pytest.raises(SystemExit):
            main(["run", str(recipe), "--out", str(tmp_path), "--set", "train.batch_size=64"])
        assert "fewer than one step" in capsys.readouterr().err


def test_run_command_trains_and_reports(tmp_path, capsys):
    recipe = tmp_path / "cli.toml"
    recipe.write_text(RECIPE)
    cache = f"mining.cache_dir={tmp_path / 'cache'}"
    with registered_world():
        main(["run", str(recipe), "--out", str(tmp_path), "--set", cache])
        out = capsys.readouterr().out
        assert "cli: results" in out and "test-retrieval/i2t/r1" in out and "report:" in out
        assert "mining: negatives for 16/16 captions (k = 1), mined in" in out
        assert json.loads((tmp_path / "cli" / "metrics.json").read_text())["run"]["recipe"] == str(recipe)
        main(["run", str(recipe), "--out", str(tmp_path / "again"), "--set", cache])
        assert "(k = 1), reused from the cache" in capsys.readouterr().out


def test_bench_step_compares_with_plain_open_clip(tmp_path, capsys):
    from negkit.train.bench import bench_step

    res = bench_step("negkit-tiny", batch_size=4, negatives=1, steps=1, warmup=1)
    assert res.text_tokens_plain == 32 and res.text_tokens_negkit < res.text_tokens_plain
    assert res.negkit_img_s > 0 and res.plain_img_s > 0
    assert res.ratio == pytest.approx(res.plain_step_s / res.negkit_step_s)
    assert res.negkit_tflop_per_step < res.plain_tflop_per_step  # trimmed padding does less work
    main(["bench", "step", "--batch-size", "4", "--steps", "1", "--warmup", "0", "--json", str(tmp_path / "b.json")])
    assert "ratio negkit / plain:" in capsys.readouterr().out
    assert json.loads((tmp_path / "b.json").read_text())["batch_size"] == 4
