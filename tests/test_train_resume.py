"""Exact resume: a run killed with SIGKILL after a checkpoint and resumed ends bit-identical to one that was
never interrupted; checkpoint files are written atomically and pruned."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_train_world import recipe_dict, run_world

from negkit.train.checkpoint import atomic_save, latest_checkpoint, prune, read_checkpoint, rng_state, set_rng_state

TESTS = Path(__file__).resolve().parent


def test_atomic_save_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "ckpt" / "step-1.pt"
    atomic_save({"a": torch.ones(3)}, target)
    assert torch.equal(read_checkpoint(target)["a"], torch.ones(3))

    def broken_save(obj, fh):  # a crash half-way through writing
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        atomic_save({"a": torch.zeros(3)}, target)
    assert torch.equal(read_checkpoint(target)["a"], torch.ones(3))  # the old file is intact
    # no temp file is left, and the checksum still describes the old file
    assert sorted(p.name for p in target.parent.iterdir()) == ["step-1.pt", "step-1.pt.checksum.json"]
    assert read_checkpoint(target) is not None


def test_prune_keeps_the_newest_and_the_final(tmp_path):
    for step in (2, 4, 6, 10):
        (tmp_path / f"step-{step}.pt").write_bytes(b"x")
    (tmp_path / "final.pt").write_bytes(b"x")
    prune(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final.pt", "step-10.pt", "step-6.pt"]
    assert latest_checkpoint(tmp_path).name == "final.pt"
    (tmp_path / "final.pt").unlink()
    assert latest_checkpoint(tmp_path).name == "step-10.pt"


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    import random

    import numpy as np

    state = rng_state()
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    atomic_save({"rng": state}, tmp_path / "rng.pt")
    set_rng_state(read_checkpoint(tmp_path / "rng.pt")["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def _start(recipe: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS.parent)}
    return subprocess.Popen([sys.executable, str(TESTS / "test_train_world.py"), str(recipe), str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


@pytest.mark.slow
def test_sigkill_and_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    # dropout-free tiny model, per-sample seeded augmentation, 3 epochs so that the resume crosses epochs
    raw = recipe_dict(data={"n": 24}, train={"epochs": 3, "checkpoint_every": 2, "keep_checkpoints": 5,
                                             "num_workers": 0}, eval=[])
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(raw))
    ckpts = tmp_path / "killed" / "tiny" / "checkpoints"

    proc = _start(recipe, tmp_path / "killed")
    deadline = time.time() + 300
    while not (ckpts / "step-2.pt").exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (ckpts / "final.pt").exists(), "the run finished before it could be killed"
    steps_done = read_checkpoint(latest_checkpoint(ckpts))["negkit"]["step"]
    assert steps_done < 9

    resumed = _start(recipe, tmp_path / "killed", "--resume")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err.decode()[-2000:]

    # the uninterrupted reference run, with the same thread count as the subprocesses
    torch.set_num_threads(1)
    try:
        run_world(raw, tmp_path / "straight")
    finally:
        torch.set_num_threads(os.cpu_count() or 1)
    a = read_checkpoint(ckpts / "final.pt")
    b = read_checkpoint(tmp_path / "straight" / "tiny" / "checkpoints" / "final.pt")
    assert a["negkit"]["step"] == b["negkit"]["step"] == 9
    assert set(a["state_dict"]) == set(b["state_dict"])
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    log = [json.loads(line)["step"] for line in (ckpts.parent / "log.jsonl").read_text().splitlines()]
    assert log == list(range(1, 10))  # every step logged once, none twice after the resume
