"""The training loop end to end on the in-test colour world: run directory, losses, bad input, resume rules."""

from __future__ import annotations

import json
import math

import open_clip
import pytest
import torch
from test_train_world import ColourRetrieval, ColourSwap, ColourWorld, make_recipe, recipe_dict, run_world

from negkit.errors import NegkitError, TrainingError
from negkit.losses.base import Loss, LossInputs
from negkit.recipe import ModelConfig
from negkit.testing import registered_components
from negkit.train.checkpoint import read_checkpoint
from negkit.train.loop import BadImageWarning, WeightedLoss, combine_losses, forward_loss, resolve_precision
from negkit.train.model import create_model


def _initial_weights(seed: int = 0) -> dict[str, torch.Tensor]:
    return create_model(ModelConfig(name="negkit-tiny"), "cpu", seed=seed).model.state_dict()


def _final_weights(run_dir) -> dict[str, torch.Tensor]:
    return read_checkpoint(run_dir / "checkpoints" / "final.pt")["state_dict"]


def test_run_writes_the_run_directory(tmp_path):
    raw = recipe_dict(data={"n": 32}, report={"plots": True, "headline": ["test-retrieval/swap/acc"]},
                      train={"checkpoint_every": 2, "keep_checkpoints": 1})
    result = run_world(raw, tmp_path)
    run_dir = tmp_path / "tiny"
    assert result.run_dir == run_dir
    for name in ("recipe.json", "plugins.json", "env.json", "log.jsonl", "metrics.json", "report.md"):
        assert (run_dir / name).is_file(), name
    recipe = json.loads((run_dir / "recipe.json").read_text())
    assert recipe["train"]["batch_size"] == 8 and recipe["model"]["name"] == "negkit-tiny"
    assert "test-components" in {p["name"] for p in json.loads((run_dir / "plugins.json").read_text())}
    env = json.loads((run_dir / "env.json").read_text())
    assert env["torch"] == torch.__version__ and env["open_clip_torch"] and env["device"] == "cpu"
    reference = json.loads((run_dir / "reference" / "metrics.json").read_text())  # the step-0 evaluation
    assert reference["run"]["step"] == 0 and set(reference["metrics"]) == set(result.metrics)
    headline = (run_dir / "report.md").read_text().split("## Run")[0]
    assert "before its first training step" in headline and "| test-retrieval/swap/acc |" in headline
    from negkit.lexicon.spacy_pipeline import installed_english_pipelines

    assert env["spacy_pipeline"] in installed_english_pipelines()  # the pipeline a miner naming none uses

    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    for key in ("loss", "infonce/contrastive_loss", "infonce/grad_share_hard", "lr", "samples_per_s",
                "logit_scale", "grad_norm", "epoch"):
        assert key in log[-1], key
    assert log[-1]["epoch"] == 1.0 and log[0]["lr"] > log[-1]["lr"]
    assert math.isclose(log[0]["loss"], log[0]["infonce/contrastive_loss"], rel_tol=1e-6)

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["run"]["name"] == "tiny" and metrics["run"]["steps"] == 4 and metrics["run"]["samples"] == 32
    assert set(metrics["metrics"]) == {"test-retrieval/i2t/r1", "test-retrieval/swap/acc"}
    assert metrics["metrics"] == result.metrics

    report = (run_dir / "report.md").read_text()
    assert "| test-retrieval/i2t/r1 |" in report and "![losses](plots/losses.png)" in report
    assert (run_dir / "plots" / "losses.png").stat().st_size > 1000
    assert (run_dir / "plots" / "diagnostics.png").is_file()

    ckpts = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    # keep_checkpoints = 1; step 4 is the final one; each with the checksum recorded when it was written
    assert ckpts == ["final.pt", "final.pt.checksum.json", "step-2.pt", "step-2.pt.checksum.json"]
    final = read_checkpoint(run_dir / "checkpoints" / "final.pt")
    assert final["negkit"]["step"] == 4 and final["negkit"]["model"] == "negkit-tiny"
    model = open_clip.create_model("negkit-tiny")  # a negkit checkpoint is an open_clip checkpoint too
    open_clip.load_checkpoint(model, str(run_dir / "checkpoints" / "final.pt"))
    assert torch.equal(model.state_dict()["logit_scale"], final["state_dict"]["logit_scale"])
    init = _initial_weights()
    assert not torch.equal(init["visual.conv1.weight"], final["state_dict"]["visual.conv1.weight"])


def test_weighted_losses_sum_terms_ending_in_loss():
    from negkit.plugins import get_component

    torch.manual_seed(0)
    b, k, d = 6, 2, 16
    norm = torch.nn.functional.normalize
    inputs = LossInputs(norm(torch.randn(b, d), dim=-1), norm(torch.randn(b, d), dim=-1),
                        norm(torch.randn(b, k, d), dim=-1), torch.rand(b, k) > 0.3, torch.full((b, k), 4.0),
                        torch.tensor(10.0))
    clip_loss, infonce = get_component("losses", "clip")(), get_component("losses", "infonce")()
    total, terms = combine_losses([WeightedLoss("clip", clip_loss, 0.5), WeightedLoss("infonce", infonce, 2.0)],
                                  inputs)
    a = sum(v for n, v in clip_loss(inputs).items() if n.endswith("loss"))
    c = sum(v for n, v in infonce(inputs).items() if n.endswith("loss"))
    torch.testing.assert_close(total, 0.5 * a + 2.0 * c)
    assert terms["loss"] == total.detach()
    assert any(key.startswith("infonce/") and not key.endswith("loss") for key in terms)
    assert all(not v.requires_grad for v in terms.values())


def test_amp_bf16_runs_on_cpu():
    from negkit.train.batch import Collator
    from negkit.train.model import TwoTower

    clip = create_model(ModelConfig(name="negkit-tiny"), "cpu")
    items = [{"index": i, "caption": f"a red square number {i}", "image": torch.randn(3, 64, 64),
              "negatives": (("a blue square", 4.0, 0),)} for i in range(4)]
    batch = Collator(clip.tokenize, 1)(items)
    from negkit.plugins import get_component

    losses = [WeightedLoss("infonce", get_component("losses", "infonce")(), 1.0)]
    total, terms = forward_loss(TwoTower(clip.model), batch, losses, resolve_precision("amp_bf16", torch.device("cpu")))
    assert math.isfinite(float(total.detach())) and total.dtype == torch.float32
    total.backward()
    assert clip.model.visual.conv1.weight.grad is not None
    with pytest.warns(UserWarning, match="needs CUDA"):
        assert resolve_precision("amp", torch.device("cpu")).dtype is None


def test_bad_images_are_skipped_and_counted_then_fail_past_the_limit(tmp_path):
    raw = recipe_dict(data={"n": 16, "image_dir": str(tmp_path / "img"), "bad": [3]},
                      train={"max_bad_image_fraction": 0.1}, eval=[])
    with pytest.warns(BadImageWarning, match="skipped a training image"):
        result = run_world(raw, tmp_path / "ok")
    assert result.run["bad_images"] == 1 and result.run["samples"] == 15
    raw = recipe_dict(data={"n": 32, "image_dir": str(tmp_path / "img2"), "bad": [0, 1, 2, 4, 5, 6, 7, 8]},
                      train={"max_bad_image_fraction": 0.1}, eval=[])
    with pytest.warns(BadImageWarning), pytest.raises(TrainingError, match="max_bad_image_fraction = 0.1 of 32"):
        run_world(raw, tmp_path / "bad")


class NaNAfter(Loss):
    """InfoNCE-shaped loss that turns NaN on its ``after``-th call (to test the loop's guard).

    Parameters:
        after: calls that stay finite.
    """

    name = "test-nan-after"
    calls = 0

    def __init__(self, after: int = 2) -> None:
        super().__init__()
        self.after = after

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        NaNAfter.calls += 1
        loss = -(inputs.image * inputs.text).sum(-1).mean()
        if NaNAfter.calls > self.after:
            loss = loss * float("nan")
        return {"sim_loss": loss}


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    NaNAfter.calls = 0
    raw = recipe_dict(losses=[{"name": "test-nan-after", "after": 2}], train={"checkpoint_every": 1}, eval=[])
    with registered_components(datasets=[ColourWorld], miners=[ColourSwap], losses=[NaNAfter]):
        from negkit.pipeline import run

        with pytest.raises(TrainingError, match=r"non-finite loss at step 3 .*test-nan-after/sim_loss=nan"):
            run(make_recipe(raw), out=tmp_path)
    ckpts = tmp_path / "tiny" / "checkpoints"
    assert not (ckpts / "final.pt").exists()
    assert read_checkpoint(ckpts / "step-2.pt")["negkit"]["step"] == 2
    assert all(math.isfinite(v.float().sum()) for v in read_checkpoint(ckpts / "step-2.pt")["state_dict"].values())


def test_existing_run_and_changed_recipe_need_resume_or_force(tmp_path):
    raw = recipe_dict(train={"max_steps": 1}, eval=[])
    run_world(raw, tmp_path)
    with pytest.raises(NegkitError, match="already holds a run: add --resume"):
        run_world(raw, tmp_path)
    changed = recipe_dict(train={"max_steps": 1, "lr": 5e-4, "log_every": 3}, mining={"k": 2}, eval=[])
    with pytest.raises(NegkitError, match=r"recipe differs .* at mining\.k, train\.lr;"):
        run_world(changed, tmp_path, resume=True)
    result = run_world(changed, tmp_path, resume=True, force=True)  # resumes from final.pt: nothing left to do
    assert result.run["steps"] == 1
    with pytest.raises(NegkitError, match="holds no run"):
        run_world(raw, tmp_path / "elsewhere", resume=True)
    run_world(raw, tmp_path, force=True)  # start over
    assert len((tmp_path / "tiny" / "log.jsonl").read_text().splitlines()) == 1


def test_lock_image_tower_and_wise_ft(tmp_path):
    init = _initial_weights()
    run_world(recipe_dict(train={"max_steps": 2, "lock_image": True}, eval=[]), tmp_path / "lock")
    final = _final_weights(tmp_path / "lock" / "tiny")
    assert all(torch.equal(init[k], final[k]) for k in init if k.startswith("visual."))
    assert not torch.equal(init["token_embedding.weight"], final["token_embedding.weight"])
    run_world(recipe_dict(train={"max_steps": 2, "wise_ft": 0.0}, eval=[]), tmp_path / "wise")
    mixed = _final_weights(tmp_path / "wise" / "tiny")
    assert all(torch.equal(init[k], mixed[k]) for k in init)


def test_gradient_accumulation_counts_steps_and_samples(tmp_path):
    result = run_world(recipe_dict(data={"n": 20}, train={"batch_size": 4, "accum_steps": 2}, eval=[]), tmp_path)
    assert result.run["steps"] == 2 and result.run["samples"] == 16  # 5 batches: the 5th cannot fill a step
    assert len((tmp_path / "tiny" / "log.jsonl").read_text().splitlines()) == 2


def test_no_training_steps_evaluates_the_initial_model(tmp_path):
    result = run_world(recipe_dict(train={"epochs": 0}), tmp_path)
    assert result.run["steps"] == 0 and set(result.metrics) == {"test-retrieval/i2t/r1", "test-retrieval/swap/acc"}
    assert not (tmp_path / "tiny" / "checkpoints").exists()


def test_evaluator_sees_the_trained_model_through_eval_context():
    from negkit.train.evaluate import eval_context

    clip = create_model(ModelConfig(name="negkit-tiny"), "cpu")
    ctx = eval_context(clip, torch.device("cpu"), resolve_precision("fp32", torch.device("cpu")).autocast,
                       data=ColourWorld(n=8), batch_size=3)
    metrics = ColourRetrieval(limit=8).evaluate(ctx)
    assert 0.0 <= metrics["i2t/r1"] <= 1.0
    texts = ["a red square on a blue background", "a green square"]
    clip.model.eval()
    with torch.no_grad():
        expected = clip.model.encode_text(clip.tokenize(texts), normalize=True)
    torch.testing.assert_close(ctx.encode_texts(texts), expected, rtol=1e-5, atol=1e-6)


def test_dataloader_workers_do_not_change_the_result(tmp_path):
    raw = recipe_dict(data={"n": 16}, eval=[])
    run_world(raw, tmp_path / "w0")
    run_world(recipe_dict(data={"n": 16}, train={"num_workers": 2}, eval=[]), tmp_path / "w2")
    a, b = _final_weights(tmp_path / "w0" / "tiny"), _final_weights(tmp_path / "w2" / "tiny")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_before_the_first_checkpoint_starts_over(tmp_path):
    import shutil

    raw = recipe_dict(train={"max_steps": 1}, eval=[])
    run_world(raw, tmp_path)
    run_dir = tmp_path / "tiny"
    shutil.rmtree(run_dir / "checkpoints")  # as if killed before any checkpoint was written
    with open(run_dir / "log.jsonl", "a") as fh:
        fh.write('{"step": 7, "loss": 1.0}\n')
    result = run_world(raw, tmp_path, resume=True)
    assert result.run["steps"] == 1
    assert [json.loads(line)["step"] for line in (run_dir / "log.jsonl").read_text().splitlines()] == [1]


class OutOfMemory(Loss):
    """Raises CUDA's out-of-memory error (to test the loop's message)."""

    name = "test-oom"

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_names_the_batch_size(tmp_path):
    raw = recipe_dict(losses=[{"name": "test-oom"}], eval=[])
    with registered_components(datasets=[ColourWorld], miners=[ColourSwap], losses=[OutOfMemory]):
        from negkit.pipeline import run

        with pytest.raises(TrainingError, match=r"out of memory on cpu at batch_size 8 \(8 per process\) with up to "
                                                r"1 negatives.*accum_steps"):
            run(make_recipe(raw), out=tmp_path)
