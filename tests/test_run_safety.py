"""Nothing lost, nothing silent (issue 18), for runs: the run-directory lock, what --force and --resume check
before they touch anything, resumed optimiser settings, checkpoint checksums, temp-file sweeps, a full disk,
torn logs and preemption by SIGTERM."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from test_train_world import recipe_dict, run_world

from negkit import rundir as rd
from negkit.atomic import atomic_write, sweep_temp, temp_path
from negkit.errors import DiskFullError, IntegrityError, NegkitError, RunLockedError, TrainingError
from negkit.locks import DirectoryLock, owner_alive
from negkit.train.checkpoint import atomic_save, read_checkpoint
from negkit.train.feedback import truncate_log
from negkit.train.optim import cosine_factor

TESTS = Path(__file__).resolve().parent


def small(**train):
    return recipe_dict(data={"n": 16}, train={"epochs": 20, "checkpoint_every": 2, "keep_checkpoints": 5,
                                              "num_workers": 0, "warmup_steps": 1, **train}, eval=[])


def start_world(raw: dict, out: Path, tmp: Path, *extra: str) -> subprocess.Popen:
    recipe = tmp / f"recipe-{time.monotonic_ns()}.json"
    recipe.write_text(json.dumps(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS.parent)}
    return subprocess.Popen([sys.executable, str(TESTS / "test_train_world.py"), str(recipe), str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.stderr.read().decode()[-2000:]}")
        assert time.time() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def _finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished")
    run_world(small(max_steps=4), out)
    return out


@pytest.fixture
def finished(_finished, tmp_path):
    """A copy of one finished 4-step run (checkpoints at steps 2 and 4) in ``tmp_path / "tiny"``."""
    shutil.copytree(_finished / "tiny", tmp_path / "tiny")
    return tmp_path


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- 1. one run per directory -------------------------------------------------------------------------------


def test_a_second_run_cannot_take_a_live_run_directory_even_with_force(tmp_path):
    first = start_world(small(epochs=200), tmp_path / "out", tmp_path)
    run_dir = tmp_path / "out" / "tiny"
    try:
        wait_for(lambda: (run_dir / rd.RECIPE).is_file(), first, "the first run to start")
        with pytest.raises(RunLockedError, match=f"in use by process {first.pid} on host"):
            run_world(small(max_steps=2), tmp_path / "out", force=True)
        assert first.poll() is None  # the first run goes on, its files untouched
        assert json.loads((run_dir / rd.RECIPE).read_text())["train"]["epochs"] == 200
    finally:
        first.kill()
        first.wait()
    # its owner is dead (kill -9): the lock is free again
    result = run_world(small(max_steps=2), tmp_path / "out", force=True)
    assert result.run["steps"] == 2


def test_directory_lock_is_exclusive_and_released_by_death(tmp_path):
    code = ("import sys, time; from negkit.locks import DirectoryLock; DirectoryLock(sys.argv[1]).acquire(); "
            "print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(TESTS.parent)})
    assert holder.stdout.readline().strip() == b"held"
    with pytest.raises(RunLockedError, match=str(holder.pid)):
        DirectoryLock(tmp_path).acquire()
    holder.kill()
    holder.wait()
    with DirectoryLock(tmp_path):
        pass


def test_owner_alive_knows_the_dead_the_living_and_other_hosts():
    assert owner_alive(os.getpid())
    assert not owner_alive(dead_pid())
    assert owner_alive(dead_pid(), host="another-host.example")  # cannot tell: never swept
    assert not owner_alive(os.getpid(), start="0")  # a recycled PID is not the owner


# -- 2. --resume --force trains with the new optimiser settings ---------------------------------------------


def test_resume_force_applies_the_new_lr_betas_and_weight_decay(finished):
    tmp_path = finished
    changed = small(max_steps=6, lr=4e-4, beta1=0.8, weight_decay=0.05)
    run_world(changed, tmp_path, resume=True, force=True)
    state = read_checkpoint(tmp_path / "tiny" / "checkpoints" / "final.pt")
    groups = state["optimizer"]["param_groups"]
    assert {g["initial_lr"] for g in groups} == {4e-4}
    assert {g["betas"][0] for g in groups} == {0.8}
    assert sorted(g["weight_decay"] for g in groups) == [0.0, 0.05]
    assert state["scheduler"]["base_lrs"] == [4e-4] * len(groups)
    lr_at = {r["step"]: r["lr"] for r in rd.read_log(tmp_path / "tiny")}
    assert lr_at[6] == pytest.approx(4e-4 * cosine_factor(6, 1, 6))  # the logged lr is the one used
    assert lr_at[5] == pytest.approx(4e-4 * cosine_factor(5, 1, 6))
    changes = [json.loads(line) for line in (tmp_path / "tiny" / "resumes.jsonl").read_text().splitlines()]
    assert "train.lr" in changes[-1]["recipe"]


# -- 5. checksums and non-finite weights --------------------------------------------------------------------


def flip_tensor_bytes(path: Path) -> None:
    """Damage the bytes of the largest tensor inside a torch zip checkpoint (the zip still opens)."""
    with zipfile.ZipFile(path) as zf:
        info = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
        raw = bytearray(path.read_bytes())
        name_len, extra_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little"), \
            int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
        start = info.header_offset + 30 + name_len + extra_len
    for i in range(start + 8, start + 40):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_a_damaged_checkpoint_is_refused_not_resumed(finished):
    tmp_path = finished
    final = tmp_path / "tiny" / "checkpoints" / "final.pt"
    flip_tensor_bytes(final)
    with pytest.raises(IntegrityError, match="final.pt is damaged"):
        run_world(small(max_steps=6), tmp_path, resume=True, force=True)
    with pytest.raises(IntegrityError):
        read_checkpoint(final)


def test_non_finite_weights_stop_training_naming_the_step(tmp_path, monkeypatch):
    import negkit.train.loop as loop

    real = loop.optimizer_step

    def poisoned(optimizer, scheduler, model, *args, **kwargs):
        norm = real(optimizer, scheduler, model, *args, **kwargs)
        with torch.no_grad():
            next(p for p in model.parameters() if p.ndim == 2).fill_(float("nan"))
        return norm

    monkeypatch.setattr(loop, "optimizer_step", poisoned)
    with pytest.raises(TrainingError, match="non-finite weights after step 1"):
        run_world(small(max_steps=1), tmp_path)
    assert not (tmp_path / "tiny" / "checkpoints" / "final.pt").exists()


# -- 6. --force and --resume check everything before changing anything -------------------------------------


def test_force_with_a_typo_deletes_nothing(finished):
    tmp_path = finished
    run_dir = tmp_path / "tiny"
    before = sorted(p.name for p in run_dir.rglob("*"))
    bad = small(max_steps=2)
    bad["model"]["name"] = "negkit-tny"
    with pytest.raises(NegkitError, match="negkit-tny"):
        run_world(bad, tmp_path, force=True)
    assert sorted(p.name for p in run_dir.rglob("*")) == before


def test_resume_force_with_another_model_leaves_the_recipe_as_it_was(finished):
    tmp_path = finished
    saved = (tmp_path / "tiny" / rd.RECIPE).read_text()
    other = small(max_steps=4)
    other["model"]["name"] = "negkit-small"
    with pytest.raises(NegkitError, match="negkit-small"):
        run_world(other, tmp_path, resume=True, force=True)
    assert (tmp_path / "tiny" / rd.RECIPE).read_text() == saved
    run_world(small(max_steps=4), tmp_path, resume=True)  # a plain --resume is still accepted


# -- 7 and 15. the log: trimmed atomically, torn bytes skipped ----------------------------------------------


def test_a_kill_during_the_log_trim_keeps_the_whole_log(tmp_path, monkeypatch):
    log = tmp_path / rd.LOG
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in range(1, 2001)))
    before = log.read_bytes()
    real_open = builtins.open

    def killed_after_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if any(m in mode for m in "wax+"):
            fh.close()
            raise KeyboardInterrupt  # what a kill right after truncation leaves behind
        return fh

    monkeypatch.setattr(builtins, "open", killed_after_open)
    monkeypatch.setattr(io, "open", killed_after_open)
    with pytest.raises(KeyboardInterrupt):
        truncate_log(log, 1000)
    monkeypatch.undo()
    assert log.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [rd.LOG]  # no temp file left


def test_torn_bytes_in_the_log_are_skipped_like_a_torn_line(tmp_path):
    log = tmp_path / rd.LOG
    good = [json.dumps({"step": s}) for s in (1, 2, 3)]
    log.write_bytes((good[0] + "\n" + good[1] + "\n").encode() + b"\xff\xfe\x00\x00{\"st\xc3" + b"\x00" * 50
                    + b"\n" + (good[2] + "\n").encode() + b"\x80\x81")
    assert [r["step"] for r in rd.read_log(tmp_path)] == [1, 2, 3]
    truncate_log(log, 2)
    assert [r["step"] for r in rd.read_log(tmp_path)] == [1, 2]


def test_resume_survives_a_log_with_torn_bytes(finished):
    tmp_path = finished
    log = tmp_path / "tiny" / rd.LOG
    log.write_bytes(log.read_bytes() + b"\xc3\x28\xff garbage \x00\x00")
    run_world(small(max_steps=6), tmp_path, resume=True, force=True)
    assert [r["step"] for r in rd.read_log(tmp_path / "tiny")] == [1, 2, 3, 4, 5, 6]


# -- 8. a plugin upgraded between start and resume ----------------------------------------------------------


def test_a_changed_plugin_version_is_refused_on_resume_unless_forced(finished):
    tmp_path = finished
    plugins_file = tmp_path / "tiny" / rd.PLUGINS
    plugins = json.loads(plugins_file.read_text())
    for record in plugins:
        if record["name"] == "test-components":
            record["version"] = "0.9-old"
    plugins_file.write_text(json.dumps(plugins))
    with pytest.raises(NegkitError, match="plugin test-components 0.9-old -> None"):
        run_world(small(max_steps=4), tmp_path, resume=True)
    run_world(small(max_steps=4), tmp_path, resume=True, force=True)
    record = json.loads((tmp_path / "tiny" / "resumes.jsonl").read_text().splitlines()[-1])
    assert record["plugins"] == ["plugin test-components 0.9-old -> None"]


# -- 9. temp files of dead owners are swept, live ones kept -------------------------------------------------


def test_temp_files_of_dead_runs_are_swept(finished):
    tmp_path = finished
    run_dir = tmp_path / "tiny"
    dead, live = dead_pid(), subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [run_dir / rd.CHECKPOINTS / f".step-4.pt.tmp-{dead}", run_dir / f".metrics.json.tmp-{dead}",
                 run_dir / rd.CHECKPOINTS / f".final.pt.tmp-{dead}.{os.uname().nodename}"]
        kept = run_dir / f".metrics.json.tmp-{live.pid}"
        for path in (*stale, kept):
            path.write_bytes(b"x" * 1000)
        run_world(small(max_steps=4), tmp_path, resume=True)
        assert not any(p.exists() for p in stale)
        assert kept.exists()
    finally:
        live.kill()
        live.wait()


def test_sweep_temp_spares_other_hosts_and_non_temp_files(tmp_path):
    names = [f".a.tmp-{dead_pid()}.elsewhere.example", "notes.tmp-1", f".b.json.tmp-{os.getpid()}"]
    for name in names:
        (tmp_path / name).write_text("x")
    assert sweep_temp(tmp_path) == []


# -- 10. a full disk --------------------------------------------------------------------------------------------


def test_disk_full_is_one_line_naming_the_file_and_nothing_is_left(tmp_path, monkeypatch):
    target = tmp_path / "ckpt" / "step-2.pt"

    def full(obj, fh):
        fh.write(b"x" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(DiskFullError, match=r"no space left on device writing checkpoint .*step-2.pt \(.* free"):
        atomic_save({"a": torch.ones(3)}, target)
    assert list(target.parent.iterdir()) == []
    with pytest.raises(DiskFullError, match="metrics.json"), atomic_write(tmp_path / "metrics.json") as fh:
        fh.write("{}")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert not temp_path(tmp_path / "metrics.json").exists()


def test_a_checkpoint_on_a_really_full_disk(tiny_disk):
    with pytest.raises(DiskFullError, match="no space left on device writing checkpoint"):
        atomic_save({"w": torch.randn(1_000_000)}, tiny_disk / "step-2.pt")
    assert list(tiny_disk.iterdir()) == []


def test_a_run_on_a_really_full_disk_says_so_in_one_line(tiny_disk, tmp_path):
    raw = small(max_steps=4)
    raw["model"]["name"] = "negkit-small"
    proc = start_world(raw, tiny_disk, tmp_path)
    _, err = proc.communicate(timeout=300)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 1, err.decode()[-3000:]
    assert lines[-1].startswith("negkit: error: no space left on device writing"), lines[-5:]
    leftovers = [p for p in tiny_disk.rglob(".*tmp-*")]
    assert leftovers == []


# -- 14. SIGTERM: checkpoint at the next step, then stop ----------------------------------------------------


def test_sigterm_checkpoints_at_the_next_step_and_resume_finishes(tmp_path):
    raw = small(epochs=200, checkpoint_every=0)
    proc = start_world(raw, tmp_path, tmp_path)
    run_dir = tmp_path / "tiny"
    wait_for(lambda: len(rd.read_log(run_dir)) >= 3, proc, "three logged steps")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err.decode()[-2000:]
    assert "terminated (SIGTERM) after step" in err.decode()
    steps = [r["step"] for r in rd.read_log(run_dir)]
    saved = read_checkpoint(run_dir / rd.CHECKPOINTS / f"step-{steps[-1]}.pt")["negkit"]["step"]
    assert saved == steps[-1]  # at most the step in flight is lost
    raw["train"]["max_steps"] = saved + 2
    run_world(raw, tmp_path, resume=True, force=True)
    assert [r["step"] for r in rd.read_log(run_dir)] == list(range(1, saved + 3))
