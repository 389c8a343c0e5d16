"""``negkit sweep run`` end to end on a micro model: 2 arms x 2 seeds, killed with SIGKILL and resumed without
rerunning what finished; the summary's intervals come from the runs' metrics; a second sweep process is
refused by the lock; the submitit launcher (its local executor) reports a failed run with its log while the
other run goes on."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from test_sweep_spec import SWEEP, write_sweep

from negkit.cli import main
from negkit.sweep import execute, load_sweep
from negkit.sweep.stats import mean_interval
from negkit.sweep.summary import metric_value


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def processes_mentioning(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if text in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return [p for p in pids if p != os.getpid()]


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
def test_sweep_runs_survives_kill_9_and_resumes_without_rerunning(tmp_path, capsys):
    path = write_sweep(tmp_path)
    sweep_dir = tmp_path / "sweeps" / "tiny"
    runs = sweep_dir / "runs"
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen([sys.executable, "-m", "negkit", "sweep", "run", str(path), "--jobs", "1"],
                             stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})
    try:  # one at a time: the mining stage, clip-s0, then shuffle-s0; kill the sweep while shuffle-s0 runs
        wait_for(lambda: (runs / "clip-s0" / "metrics.json").is_file(), 240, "the first run")
        wait_for(lambda: (runs / "shuffle-s0" / "recipe.json").is_file() or first.poll() is not None, 60,
                 "the second run to start")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        log.close()
    # the sweep's children died with it (nothing left that could write into a run directory)
    wait_for(lambda: not processes_mentioning(str(tmp_path)), 20, "the killed sweep's runs to end")
    finished = {d.name: (d / "metrics.json").stat().st_mtime_ns for d in runs.iterdir()
                if (d / "metrics.json").is_file()}
    assert "clip-s0" in finished

    events: list[str] = []
    outcome = execute(load_sweep(path), console=quiet(), on_event=events.append, poll=0.2)
    assert not outcome.failed, outcome.failed
    assert sorted(outcome.skipped) == sorted(finished)
    assert sorted(outcome.done + outcome.skipped) == ["clip-s0", "clip-s1", "shuffle-s0", "shuffle-s1"]
    for name, mtime in finished.items():  # nothing that finished ran again
        assert (runs / name / "metrics.json").stat().st_mtime_ns == mtime
        assert f"= {name}: finished before, kept" in events
    if any(e.startswith("> mine") for e in events):  # the mining stage ran again: it found its table cached
        mine_log = next((sweep_dir / "logs").glob("mine-*.log")).read_text()
        assert mine_log.count("reused from cache") == 1
    if "shuffle-s0" not in finished:  # the interrupted run was continued, not started over
        assert "--resume" in (sweep_dir / "logs" / "shuffle-s0.log").read_text()

    # the summary's intervals are those of the runs' own metrics
    summary = json.loads((sweep_dir / "summary.json").read_text())
    rows = {(r["arm"], r["metric"]): r for r in summary["rows"]}
    for arm in ("clip", "shuffle"):
        for metric in load_sweep(path).metrics:
            values = [metric_value(json.loads((runs / f"{arm}-s{s}" / "metrics.json").read_text())["metrics"],
                                   metric) for s in (0, 1)]
            expected = mean_interval(values, resamples=1000, seed=0)
            got = rows[(arm, metric)]["mean"]
            assert (got["value"], got["low"], got["high"], got["n"]) == pytest.approx(
                (expected.value, expected.low, expected.high, 2))
    micro = rows[("shuffle", "shapes-compositional/micro/acc")]["diff"]
    assert micro["items"] > 0 and micro["n"] == 2 and micro["low"] <= micro["value"] <= micro["high"]
    assert rows[("shuffle", "shapes-compositional/macro/acc")]["diff"]["items"] == 0  # no per-item macro
    assert rows[("clip", "shapes-compositional/micro/acc")]["diff"] is None  # the baseline
    for name in ("summary.md", "summary.csv", "plots/summary.png"):
        assert (sweep_dir / name).is_file()
    assert "shuffle" in (sweep_dir / "summary.md").read_text()

    # `negkit compare` takes the sweep directory: every run's metrics and the sweep summary
    main(["compare", str(sweep_dir)])
    printed = capsys.readouterr().out
    assert "clip-s1" in printed and "shuffle-s1" in printed and "Difference from the baseline" in printed

    # a finished sweep run again does nothing but rewrite the summary
    again = execute(load_sweep(path), console=quiet())
    assert not again.done and len(again.skipped) == 4


def test_a_second_sweep_run_of_the_same_sweep_is_refused(tmp_path, capsys):
    path = write_sweep(tmp_path)
    # another process holds the sweep (record locks are per process, so it must be a second one)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from negkit.locks import DirectoryLock; "
                               "DirectoryLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)",
                               str(tmp_path / "sweeps" / "tiny")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SystemExit) as exit_info:
            main(["sweep", "run", str(path)])
    finally:
        holder.kill()
        holder.wait()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "is in use by process" in err and f"process {holder.pid} " in err
    assert not (tmp_path / "sweeps" / "tiny" / "runs").exists()


SLURM = SWEEP.replace("jobs = 2", 'jobs = 2\nlauncher = "slurm"').replace("values = [0, 1]", "values = [0]").split(
    "[[arms]]")[0] + """
[slurm]
cluster = "local"
timeout_min = 10

[[arms]]
name = "untrained"
set = ["train.epochs=0", "mining.k=0"]

[[arms]]
name = "broken"
set = ["train.batch_size=1000", "mining.k=0"]
"""


@pytest.mark.slow
def test_submitit_launcher_runs_jobs_and_reports_a_failed_one_with_its_log(tmp_path):
    pytest.importorskip("submitit")
    path = write_sweep(tmp_path, SLURM.replace('baseline = "clip"', 'baseline = "untrained"'))
    outcome = execute(load_sweep(path), console=quiet(), poll=0.2)
    assert outcome.done == ["untrained-s0"]
    assert list(outcome.failed) == ["broken-s0"]
    log = tmp_path / "sweeps" / "tiny" / "logs" / "broken-s0.log"
    assert f"log: {log}" in outcome.failed["broken-s0"]
    assert "lower train.batch_size" in log.read_text()  # the run's own one-line error, in its log
    assert (tmp_path / "sweeps" / "tiny" / "slurm").is_dir()  # submitit's job folder
    status = json.loads((tmp_path / "sweeps" / "tiny" / "status.json").read_text())
    assert status["broken-s0"]["state"] == "failed" and status["untrained-s0"]["state"] == "done"
    assert (tmp_path / "sweeps" / "tiny" / "summary.md").is_file()
