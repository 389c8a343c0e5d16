"""DDP on the CPU (gloo, 2 processes): one step's loss and gradients equal the single-process step on the same
global batch; and ``torchrun ... negkit run`` end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ddp_check import WORLD, assert_ddp_step_equals_single_process

GLOBAL = 8
TESTS = Path(__file__).resolve().parent


def _items() -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    colours = ["red", "green", "blue", "yellow", "white", "black"]
    items = []
    for i in range(GLOBAL):
        a, b = colours[i % 6], colours[(i + 2) % 6]
        negs = ((f"a {b} square on a {a} background", 4.5, 0),) if i % 3 else ()  # some rows without negatives
        items.append({"index": i, "caption": f"a {a} square on a {b} background" + " today" * (i % 4),
                      "image": torch.randn(3, 64, 64, generator=gen), "negatives": negs})
    return items


def _step(rank: int, world: int) -> tuple[float, dict[str, torch.Tensor]]:
    from negkit.plugins import get_component
    from negkit.recipe import ModelConfig
    from negkit.train.batch import Collator
    from negkit.train.loop import WeightedLoss, forward_loss, resolve_precision
    from negkit.train.model import TwoTower, create_model

    clip = create_model(ModelConfig(name="negkit-tiny", precision="fp32"), "cpu", seed=0)
    local = GLOBAL // world
    batch = Collator(clip.tokenize, 1)(_items()[rank * local:(rank + 1) * local])
    net: torch.nn.Module = TwoTower(clip.model)
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(net)
    losses = [WeightedLoss("infonce", get_component("losses", "infonce")(), 1.0),
              WeightedLoss("cement", get_component("losses", "cement")(), 0.5)]
    total, _ = forward_loss(net, batch, losses, resolve_precision("fp32", torch.device("cpu")), ("swap",), world)
    (total * world).backward()  # what the loop does: DDP's mean over ranks then gives the global gradient
    grads = {n: p.grad.detach().clone() for n, p in clip.model.named_parameters() if p.grad is not None}
    return float(total.detach()), grads


@pytest.mark.slow
def test_ddp_step_equals_single_process_step(tmp_path):
    grads = assert_ddp_step_equals_single_process(_step, tmp_path)
    assert grads["logit_scale"].abs() > 0 and grads["visual.conv1.weight"].abs().sum() > 0


@pytest.mark.slow
def test_torchrun_runs_the_pipeline_on_two_processes(tmp_path):
    from test_train_world import recipe_dict, run_world

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun not installed")
    raw = recipe_dict(data={"n": 16}, train={"max_steps": 2, "log_every": 1}, eval=[])
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS.parent)}
    proc = subprocess.run([torchrun, "--nproc_per_node", str(WORLD), "--master_port", "29517",
                           str(TESTS / "test_train_world.py"), str(recipe), str(tmp_path / "ddp")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "ddp" / "tiny"
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]  # rank 0 alone writes
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["run"]["processes"] == WORLD and metrics["run"]["samples"] == 16
    assert (run_dir / "checkpoints" / "final.pt").is_file()
    single = run_world(raw, tmp_path / "single")
    single_log = [json.loads(line) for line in (single.run_dir / "log.jsonl").read_text().splitlines()]
    # same global batches, same initial weights: the first step's loss matches
    assert log[0]["loss"] == pytest.approx(single_log[0]["loss"], rel=1e-4)
