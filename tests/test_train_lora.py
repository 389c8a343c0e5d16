"""LoRA with peft: only the adapters train, checkpoints hold merged weights plus adapters, resume is exact."""

from __future__ import annotations

import shutil

import open_clip
import pytest
import torch
from test_train_world import make_recipe, recipe_dict, run_world

from negkit.errors import RecipeError
from negkit.recipe import LoraSettings, ModelConfig
from negkit.train.checkpoint import read_checkpoint
from negkit.train.lora import apply_lora
from negkit.train.model import TwoTower, create_model

pytest.importorskip("peft")

LORA = {"r": 2, "alpha": 4, "targets": ["c_fc", "out_proj"]}


def test_only_adapters_train_and_frozen_weights_stay():
    clip = create_model(ModelConfig(name="negkit-tiny"), "cpu", seed=0)
    before = {k: v.clone() for k, v in clip.model.state_dict().items()}
    lora = apply_lora(clip.model, LoraSettings(**LORA))
    trainable = {n: p for n, p in clip.model.named_parameters() if p.requires_grad}
    assert set(trainable) == set(lora.adapter_names()) and trainable
    adapted = [m for n, m in clip.model.named_modules() if n.endswith(("c_fc", "out_proj")) and hasattr(m, "lora_A")]
    expected = sum(2 * (m.in_features + m.out_features) for m in adapted)  # r x in (A) + out x r (B), r = 2
    assert sum(p.numel() for p in trainable.values()) == expected

    opt = torch.optim.AdamW(trainable.values(), lr=0.1)
    img, txt, scale, _ = TwoTower(clip.model)(torch.randn(4, 3, 64, 64), clip.tokenize(["a", "b", "c", "d"]))
    for _ in range(2):
        opt.zero_grad()
        (scale * img @ txt.T).logsumexp(1).mean().backward()
        opt.step()
        img, txt, scale, _ = TwoTower(clip.model)(torch.randn(4, 3, 64, 64), clip.tokenize(["a", "b", "c", "d"]))
    after = clip.model.state_dict()
    for key, value in before.items():  # the base weights live on, renamed, inside peft's layers
        base = key.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        got = after[key] if key in after else after[base]
        assert torch.equal(got, value), key
    assert any(not torch.equal(lora.adapter_state()[n], torch.zeros_like(p)) for n, p in trainable.items()
               if "lora_B" in n)  # B starts at zero: it moved


def test_targets_that_match_nothing_list_the_layer_names():
    clip = create_model(ModelConfig(name="negkit-tiny"), "cpu", seed=0)
    with pytest.raises(RecipeError, match=r"'q_proj' match no module.*named: attn, c_fc, c_proj, conv1, out_proj"):
        apply_lora(clip.model, LoraSettings(targets=["c_fc", "q_proj"]))


def test_recipe_validates_lora():
    with pytest.raises(RecipeError, match="lora"):
        make_recipe(recipe_dict(model={"name": "negkit-tiny", "pretrained": "", "precision": "fp32",
                                       "lora": {"r": 0}}))


def _lora_recipe(**train):
    return recipe_dict(model={"name": "negkit-tiny", "pretrained": "", "precision": "fp32", "lora": LORA},
                       train={"max_steps": 4, "checkpoint_every": 2, "lr": 1e-2, **train}, eval=[])


def test_lora_run_checkpoints_merged_weights_and_resumes_exactly(tmp_path):
    run_world(_lora_recipe(), tmp_path / "full")
    run_dir = tmp_path / "full" / "tiny"
    final = read_checkpoint(run_dir / "checkpoints" / "final.pt")
    init = create_model(ModelConfig(name="negkit-tiny"), "cpu", seed=0).model.state_dict()
    assert set(final["state_dict"]) == set(init)  # merged: a plain open_clip model
    changed = {k for k in init if not torch.equal(init[k], final["state_dict"][k])}
    assert changed and all(k.endswith(("c_fc.weight", "out_proj.weight")) for k in changed)
    assert final["lora"]["r"] == 2 and all(".lora_" in k for k in final["lora"]["adapter"])
    model = open_clip.create_model("negkit-tiny")  # what negkit eval and [model] pretrained load
    open_clip.load_checkpoint(model, str(run_dir / "checkpoints" / "final.pt"))

    # resume from step 2 of a copy: the same adapters and merged weights, bit for bit
    shutil.copytree(run_dir, tmp_path / "resumed" / "tiny")
    (tmp_path / "resumed" / "tiny" / "checkpoints" / "final.pt").unlink()
    run_world(_lora_recipe(), tmp_path / "resumed", resume=True)
    again = read_checkpoint(tmp_path / "resumed" / "tiny" / "checkpoints" / "final.pt")
    assert again["negkit"]["step"] == 4
    for key, value in final["lora"]["adapter"].items():
        assert torch.equal(again["lora"]["adapter"][key], value), key
    for key, value in final["state_dict"].items():
        assert torch.equal(again["state_dict"][key], value), key


def test_wise_ft_mixes_the_merged_model(tmp_path):
    run_world(_lora_recipe(max_steps=2, checkpoint_every=0, wise_ft=0.0), tmp_path)
    mixed = read_checkpoint(tmp_path / "tiny" / "checkpoints" / "final.pt")["state_dict"]
    init = create_model(ModelConfig(name="negkit-tiny"), "cpu", seed=0).model.state_dict()
    assert all(torch.equal(init[k], mixed[k]) for k in init)  # alpha 0: the initial model, adapters gone
