"""End to end on the shapes world: the neighbours sampler, rendered image negatives and hardest-of-K in one
run; the run report says which loss ignores the image negatives."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_train_world import recipe_dict, run_world


@pytest.mark.slow
def test_run_with_neighbours_image_negatives_and_hardest_of_k(tmp_path):
    np.save(tmp_path / "emb.npy", np.random.default_rng(0).normal(size=(32, 8)).astype(np.float32))
    raw = recipe_dict(
        mining={"k": 1, "select": "hardest", "candidates": 2, "image_negatives": 1},
        miners=[{"name": "test-colour-swap"}],
        sampler={"name": "neighbours", "k": 1, "embeddings": str(tmp_path / "emb.npy")},
        losses=[{"name": "infonce"}, {"name": "hinge", "weight": 0.1}],
        train={"max_steps": 2}, eval=[])
    raw["data"] = {"source": "shapes", "train_size": 32, "image_size": 32, "grid": 2, "render_negatives": 1}
    result = run_world(raw, tmp_path / "runs")
    log = [json.loads(line) for line in (result.run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    assert 0 <= log[-1]["infonce/grad_share_hard_image"] <= 1
    run = json.loads((result.run_dir / "metrics.json").read_text())["run"]
    assert run["image_negatives"] == 1 and run["losses_ignoring_image_negatives"] == ["hinge"]
    assert run["sampler"]["name"] == "neighbours" and run["sampler"]["neighbours_skipped"] == 0
    report = (result.run_dir / "report.md").read_text()
    assert "losses that ignore image negatives: hinge" in report
    assert "hardest 1 of 2 candidates" in report and "neighbours(k=1" in report
