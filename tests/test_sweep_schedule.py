"""The sweep's scheduling without training anything: a launcher stand-in that "runs" jobs at once. Mining
stages go first and once; a failed mining stage fails its runs and not the others; a failed run is reported
with its log; the progress view draws on a terminal; job slots get disjoint CPUs; torchrun for several GPUs."""

from __future__ import annotations

import io
import json
import sys

from rich.console import Console
from test_sweep_spec import write_sweep

from negkit import rundir as rd
from negkit.sweep import execute, load_sweep
from negkit.sweep.execute import Progress
from negkit.sweep.launch import Ended, Job, cpu_shares
from negkit.sweep.plan import plan_runs


class InstantLauncher:
    """Ends every job at once: a run job writes a run directory with metrics; ``fail`` names jobs that fail."""

    def __init__(self, sweep, fail=()):
        self.runs = {r.name: r for r in plan_runs(sweep)[0]}
        self.fail, self.started, self.ended = set(fail), [], []

    def capacity(self):
        return 2

    def start(self, job: Job) -> None:
        self.started.append(job.name)
        code = 1 if job.name in self.fail else 0
        if code == 0 and job.name.startswith("run "):
            run = self.runs[job.name[4:]]
            rd.write_json(run.run_dir / rd.RECIPE, run.resolved)
            value = 0.5 + 0.1 * run.seed + (0.05 if run.arm == "shuffle" else 0.0)
            rd.write_json(run.run_dir / rd.METRICS, {"run": {}, "metrics": {
                "shapes-compositional/micro/acc": value, "shapes-compositional/macro/acc": value,
                "zero-shot/shape/acc": value}})
        self.ended.append(Ended(job, code, 1.0, f"log: {job.log}"))

    def poll(self):
        ended, self.ended = self.ended, []
        return ended

    def stop(self) -> None:
        pass


def test_mining_goes_first_and_a_failed_stage_fails_only_its_runs(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path))
    stage = next(iter(plan_runs(sweep)[1]))
    launcher = InstantLauncher(sweep, fail={f"mine {stage}"})
    events = []
    outcome = execute(sweep, console=Console(file=io.StringIO()), launcher=launcher, poll=0.01,
                      on_event=events.append)
    assert launcher.started[0] == f"mine {stage}"
    assert sorted(outcome.done) == ["clip-s0", "clip-s1"]  # the arm without negatives went on
    assert set(outcome.failed) == {"shuffle-s0", "shuffle-s1"}
    assert all("its mining stage failed" in why for why in outcome.failed.values())
    assert not any(name.startswith("run shuffle") for name in launcher.started)
    status = json.loads((sweep.directory / "status.json").read_text())
    assert status["shuffle-s0"]["state"] == "failed" and status["clip-s1"]["state"] == "done"

    # the next call mines again, runs only what is missing, and reports a failing run with its log
    launcher = InstantLauncher(sweep, fail={"run shuffle-s1"})
    outcome = execute(sweep, console=Console(file=io.StringIO()), launcher=launcher, poll=0.01)
    assert launcher.started == [f"mine {stage}", "run shuffle-s0", "run shuffle-s1"]
    assert outcome.done == ["shuffle-s0"] and sorted(outcome.skipped) == ["clip-s0", "clip-s1"]
    assert outcome.failed["shuffle-s1"].endswith(f"log: {sweep.directory / 'logs' / 'shuffle-s1.log'}")
    summary = (sweep.directory / "summary.md").read_text()
    assert "0.5500 [0.5000, 0.6000] (n=2)" in summary  # clip: seeds 0.5 and 0.6
    assert "(n=1)" in summary  # shuffle: only seed 0 finished
    # one seed without per-item results: a difference, but nothing to resample, so no p-value
    assert "+0.0500 [+0.0500, +0.0500] p=- (1 seeds)" in summary


def test_a_run_finished_with_another_recipe_is_reported_not_reused_silently(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path))
    execute(sweep, console=Console(file=io.StringIO()), launcher=InstantLauncher(sweep), poll=0.01)
    path = sweep.directory / "runs" / "clip-s0" / rd.RECIPE
    saved = json.loads(path.read_text())
    saved["train"]["lr"] = 0.5
    path.write_text(json.dumps(saved))
    outcome = execute(sweep, console=Console(file=io.StringIO()), launcher=InstantLauncher(sweep), poll=0.01)
    assert "train.lr" in outcome.failed["clip-s0"] and "delete it" in outcome.failed["clip-s0"]
    assert "(n=1)" in (sweep.directory / "summary.md").read_text()  # the stale run is left out of the summary


def test_progress_view_on_a_terminal_and_its_eta():
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    view = Progress(console, total=4, finished=1, failed=0, jobs=2)
    view.start("run a-s0")
    view.note("> run a-s0")
    view.stop("run a-s0", 60.0)
    view.finished += 1
    assert view.eta() == 60.0  # 2 runs left, 60 s each, 2 at a time
    view.refresh()
    view.close()
    text = console.file.getvalue()
    assert "negkit sweep" in text and "ETA" in text


def test_job_slots_get_disjoint_cpus_and_several_gpus_start_torchrun(tmp_path):
    shares = cpu_shares(2, 1)
    assert len(shares) == 2 and all(len(s) == 1 for s in shares)
    import os

    if len(os.sched_getaffinity(0)) >= 2:
        assert shares[0] != shares[1]
    job = Job("run a-s0", ["run", "r.toml"], tmp_path / "a.log", gpus=2)
    assert job.command()[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                 "--nproc_per_node=2"]
    assert job.command()[-4:] == ["-m", "negkit", "run", "r.toml"]
    assert Job("run a-s0", ["run", "r.toml"], tmp_path / "a.log", gpus=1).command()[1:4] == ["-m", "negkit", "run"]


def test_a_job_submitted_again_waits_for_the_earlier_one_and_does_not_rerun(tmp_path):
    """Slurm jobs outlive a killed sweep: a resubmitted run job waits on the run's lock, then skips a finished
    run, or resumes a started one."""
    import fcntl
    import threading

    from negkit.sweep.launch import run_command

    run_dir = tmp_path / "runs" / "a-s0"
    run_dir.mkdir(parents=True)
    log = tmp_path / "a.log"
    command = [sys.executable, "-c", "import sys; print('ran', sys.argv[1:])"]
    held = open(f"{run_dir}.lock", "a+")
    fcntl.flock(held, fcntl.LOCK_EX)  # the earlier job, still running
    result = []
    waiter = threading.Thread(target=lambda: result.append(run_command(command, str(log), {}, str(run_dir))))
    waiter.start()
    waiter.join(timeout=1.0)
    assert waiter.is_alive() and "waiting for it to end" in log.read_text()
    (run_dir / "metrics.json").write_text("{}")  # the earlier job finishes the run, and ends
    held.close()
    waiter.join(timeout=30)
    assert result == [0] and "nothing to do" in log.read_text() and "ran" not in log.read_text()

    (run_dir / "metrics.json").unlink()
    (run_dir / "recipe.json").write_text("{}")  # started, not finished: continued
    assert run_command(command, str(log), {}, str(run_dir)) == 0
    assert "ran ['--resume']" in log.read_text()
