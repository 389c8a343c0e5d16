"""The open_clip adapter: trimmed text encoding, model names, weights loading, optimiser groups, schedule."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import open_clip
import pytest
import torch

from negkit.errors import RecipeError, TrainingError
from negkit.recipe import ModelConfig, TrainConfig
from negkit.train.checkpoint import atomic_save
from negkit.train.model import CONFIG_DIR, create_model, encode_text, register_model_configs, text_tower, trim_padding
from negkit.train.optim import build_optimizer, cosine_factor, param_groups

TEXTS = ["a red square on a blue background", "dog", "two small green circles to the left of a yellow triangle "
         "under a big white cloud", ""]


@pytest.fixture(scope="module")
def tiny():
    return create_model(ModelConfig(name="negkit-tiny", precision="fp32"), "cpu", seed=0)


def test_trimmed_text_features_equal_full_context(tiny):
    model = tiny.model.eval()
    full = tiny.tokenize(TEXTS)
    trimmed = trim_padding(full)
    assert full.shape[1] == tiny.context_length == 32
    assert trimmed.shape[1] < full.shape[1]
    assert text_tower(model) is not None
    with torch.no_grad():
        expected = model.encode_text(full, normalize=True)
        got = encode_text(model, trimmed)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_trimmed_text_features_equal_full_context_custom_text_tower():
    register_model_configs()
    torch.manual_seed(0)
    model = open_clip.create_model("negkit-tiny", force_custom_text=True).eval()
    assert hasattr(model, "text") and text_tower(model) is not None
    tokens = open_clip.get_tokenizer("negkit-tiny")(TEXTS)
    with torch.no_grad():
        torch.testing.assert_close(encode_text(model, trim_padding(tokens)), model.encode_text(tokens, normalize=True),
                                   rtol=1e-5, atol=1e-6)


def test_trim_padding_keeps_the_longest_text():
    tokens = torch.tensor([[5, 6, 0, 0], [5, 6, 7, 0]])
    assert trim_padding(tokens).tolist() == [[5, 6, 0], [5, 6, 7]]
    assert trim_padding(torch.zeros(2, 4, dtype=torch.long)).shape == (2, 1)


def test_random_init_is_seeded():
    a = create_model(ModelConfig(name="negkit-tiny"), "cpu", seed=3).model.state_dict()
    b = create_model(ModelConfig(name="negkit-tiny"), "cpu", seed=3).model.state_dict()
    c = create_model(ModelConfig(name="negkit-tiny"), "cpu", seed=4).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["visual.conv1.weight"], c["visual.conv1.weight"])


def test_unknown_model_name_suggests_close_matches():
    with pytest.raises(RecipeError, match="negkit-tiny") as err:
        create_model(ModelConfig(name="negkit-tinny"), "cpu")
    assert "unknown open_clip model 'negkit-tinny'" in str(err.value)
    with pytest.raises(RecipeError, match="ViT-B-32"):
        create_model(ModelConfig(name="ViT-B/32x"), "cpu")


def test_missing_pretrained_file_is_a_recipe_error(tmp_path):
    with pytest.raises(RecipeError, match="not found"):
        create_model(ModelConfig(name="negkit-tiny", pretrained=str(tmp_path / "nope.pt")), "cpu")


def test_local_weights_load_and_openai_file_warns_about_quickgelu(tiny, tmp_path):
    path = tmp_path / "openai-negkit-tiny.pt"
    torch.save({"state_dict": tiny.model.state_dict()}, path)
    with pytest.warns(UserWarning, match="QuickGELU"):
        loaded = create_model(ModelConfig(name="negkit-tiny", pretrained=str(path)), "cpu", seed=99)
    a, b = tiny.model.state_dict(), loaded.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    plain = tmp_path / "mine.pt"
    torch.save(tiny.model.state_dict(), plain)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create_model(ModelConfig(name="negkit-tiny", pretrained=str(plain)), "cpu")


def test_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    small = create_model(ModelConfig(name="negkit-small"), "cpu")
    path = tmp_path / "small.pt"
    torch.save(small.model.state_dict(), path)
    with pytest.raises(TrainingError, match="does not fit model 'negkit-tiny'"):
        create_model(ModelConfig(name="negkit-tiny", pretrained=str(path)), "cpu")
    tagged = tmp_path / "tagged.pt"
    atomic_save({"state_dict": small.model.state_dict(), "negkit": {"model": "negkit-small"}}, tagged)
    with pytest.raises(TrainingError, match="saved from model 'negkit-small'"):
        create_model(ModelConfig(name="negkit-tiny", pretrained=str(tagged)), "cpu")


def test_corrupt_checkpoint_and_unsafe_pickle_are_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(TrainingError, match="cannot read checkpoint"):
        create_model(ModelConfig(name="negkit-tiny", pretrained=str(bad)), "cpu")

    unsafe = tmp_path / "unsafe.pt"  # any pickled class outside torch's allow-list could run code on load
    torch.save({"state_dict": {}, "obj": Fraction(1, 3)}, unsafe)
    with pytest.raises(TrainingError, match="weights"):  # weights_only=True refuses arbitrary objects
        create_model(ModelConfig(name="negkit-tiny", pretrained=str(unsafe)), "cpu")


def test_param_groups_follow_open_clip(tiny):
    groups = param_groups(tiny.model, 0.1)
    names = {id(p): n for n, p in tiny.model.named_parameters()}
    plain = {names[id(p)] for p in groups[0]["params"]}
    decay = {names[id(p)] for p in groups[1]["params"]}
    assert groups[0]["weight_decay"] == 0.0 and groups[1]["weight_decay"] == 0.1
    assert "logit_scale" in plain and "ln_final.weight" in plain and "visual.conv1.weight" in decay
    assert all(n.endswith("bias") or "ln" in n or n == "logit_scale" or tiny.model.get_parameter(n).ndim < 2
               for n in plain)
    assert plain.isdisjoint(decay) and plain | decay == set(names.values())


def test_locked_tower_has_no_trainable_params(tiny):
    clip = create_model(ModelConfig(name="negkit-tiny"), "cpu")
    clip.model.lock_image_tower()
    opt = build_optimizer(clip.model, TrainConfig())
    trained = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not any(id(p) in trained for p in clip.model.visual.parameters())


def test_cosine_schedule_with_warmup():
    assert cosine_factor(0, 4, 20) == pytest.approx(0.25)
    assert cosine_factor(3, 4, 20) == pytest.approx(1.0)
    assert cosine_factor(12, 4, 20) == pytest.approx(0.5)
    assert cosine_factor(20, 4, 20) == pytest.approx(0.0, abs=1e-12)
    values = [cosine_factor(s, 4, 20) for s in range(4, 21)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert math.isfinite(cosine_factor(0, 0, 0))


def test_config_dir_adds_models_and_untrimmable_towers_fall_back_to_full_context(tmp_path):
    import json

    config = json.loads((CONFIG_DIR / "negkit-tiny.json").read_text())
    config["text_cfg"]["pool_type"] = "last"  # pooling on the last position: trimming would change features
    (tmp_path / "my-last-pool.json").write_text(json.dumps(config))
    clip = create_model(ModelConfig(name="my-last-pool", config_dir=str(tmp_path)), "cpu")
    model = clip.model.eval()
    assert text_tower(model) is None and clip.info["trimmed_text"] is False
    tokens = clip.tokenize(TEXTS)
    with torch.no_grad():
        torch.testing.assert_close(encode_text(model, trim_padding(tokens)), model.encode_text(tokens, normalize=True))
    with pytest.raises(RecipeError, match="model config folder not found"):
        create_model(ModelConfig(name="negkit-tiny", config_dir=str(tmp_path / "missing")), "cpu")


def test_trim_to_a_multiple_keeps_features(tiny):
    tokens = tiny.tokenize(TEXTS)
    padded = trim_padding(tokens, multiple=8)
    assert padded.shape[1] % 8 == 0 and padded.shape[1] >= trim_padding(tokens).shape[1]
    assert trim_padding(tokens, multiple=64).shape[1] == tokens.shape[1]  # never past the context
    with torch.no_grad():
        torch.testing.assert_close(encode_text(tiny.model.eval(), padded), encode_text(tiny.model, tokens))
