"""``negkit sweep run``: every (arm, seed) through ``negkit run``, N at a time, resumable, under a lock.

Before the runs, each distinct mining stage is filled once by ``negkit mine`` (runs with equal data, mining
settings and miners then reuse it and never mine the same table concurrently), and each base model that runs
fine-tune from (``[model] init``) is built once by ``negkit base`` (its log: ``logs/base-<key>.log``). A finished
run (its metrics.json exists) is skipped; a started one is continued with ``--resume`` (from its last checkpoint).
A run that fails is reported with its log and the others go on; the summary is written at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from negkit import rundir as rd
from negkit.locks import DirectoryLock
from negkit.sweep.launch import Job, LocalLauncher, SlurmLauncher
from negkit.sweep.plan import LOGS, RUNS, STATUS_JSON, PlannedRun, plan_bases, plan_runs, write_plan
from negkit.sweep.spec import Sweep


@dataclass
class Outcome:
    sweep_dir: Path
    done: list[str] = field(default_factory=list)  # finished in this call
    skipped: list[str] = field(default_factory=list)  # finished before
    failed: dict[str, str] = field(default_factory=dict)  # name -> why, with the log path
    summary: dict[str, Path] = field(default_factory=dict)


def make_launcher(sweep: Sweep) -> Any:
    s = sweep.settings
    if s.launcher == "slurm":
        return SlurmLauncher(sweep.directory / "slurm", sweep.slurm, s.jobs, s.gpus)
    return LocalLauncher(s.jobs, s.threads, s.gpus)


def run_jobs(sweep: Sweep, runs: list[PlannedRun], stages: dict[str, Any]) -> tuple[list[Job], dict[str, str]]:
    """The jobs still to do (mining stages and base models first), and the runs that cannot go on (finished with
    another recipe)."""
    from negkit.pipeline import recipe_differences

    logs = sweep.directory / LOGS
    jobs: list[Job] = []
    stale: dict[str, str] = {}
    pending = []
    for run in runs:
        state = run.state()
        if state == "done":
            diffs = recipe_differences(rd.read_json(run.run_dir / rd.RECIPE), run.resolved) \
                if (run.run_dir / rd.RECIPE).is_file() else []
            if diffs:
                stale[run.name] = (f"{run.run_dir} finished with another recipe (at {', '.join(diffs[:4])}); "
                                   f"delete it to run it again with the sweep file's settings")
            continue
        pending.append(run)
    needed = {run.mining for run in pending if run.mining}
    for key in sorted(needed, key=lambda k: list(stages).index(k)):
        stage = stages[key]
        argv = ["mine", str(stage.recipe), *[a for s in stage.overrides for a in ("--set", s)], "--no-progress"]
        jobs.append(Job(f"mine {key}", argv, logs / f"mine-{key}.log"))
    for key, step in plan_bases(pending).items():  # trains a model: it gets a run's GPUs
        argv = ["base", str(step.recipe), *[a for s in step.overrides for a in ("--set", s)]]
        jobs.append(Job(f"base {key}", argv, logs / f"base-{key}.log", sweep.settings.gpus))
    for run in pending:
        argv = ["run", str(run.recipe), "--out", str(sweep.directory / RUNS),
                *[a for s in run.overrides for a in ("--set", s)]]
        if run.state() == "partial":
            argv.append("--resume")
        after = ([f"mine {run.mining}"] if run.mining else []) + ([f"base {run.base}"] if run.base else [])
        jobs.append(Job(f"run {run.name}", argv, logs / f"{run.name}.log", sweep.settings.gpus, after, run.run_dir))
    return jobs, stale


def execute(sweep: Sweep, *, console: Any = None, launcher: Any = None, poll: float = 0.5,
            on_event: Callable[[str], None] | None = None) -> Outcome:
    """Run the sweep (see the module doc). ``launcher`` replaces the one the sweep file asks for (tests)."""
    from rich.console import Console

    console = console or Console()
    sweep_dir = sweep.directory
    # the same kernel-released lock as a run directory's: a second `sweep run` of this sweep is refused
    with DirectoryLock(sweep_dir, what="sweep", hint="finished runs are kept; run it again once it ends"):
        runs, stages = plan_runs(sweep)
        write_plan(sweep, runs)
        jobs, stale = run_jobs(sweep, runs, stages)
        outcome = Outcome(sweep_dir, failed=dict(stale))
        outcome.skipped = [r.name for r in runs if r.state() == "done" and r.name not in stale]
        status = {r.name: {"state": "done" if r.name in outcome.skipped else "pending",
                           "run_dir": str(r.run_dir)} for r in runs}
        for name, why in stale.items():
            status[name].update(state="failed", why=why)
        launcher = launcher or make_launcher(sweep)
        view = Progress(console, len(runs), len(outcome.skipped), len(stale), sweep.settings.jobs)

        def event(text: str) -> None:
            view.note(text)
            if on_event:
                on_event(text)

        for name in outcome.skipped:
            event(f"= {name}: finished before, kept")
        for name, why in stale.items():
            event(f"! {name}: {why}")
        try:
            _loop(jobs, launcher, outcome, status, view, event, sweep_dir, poll)
        except BaseException:
            launcher.stop()
            raise
        finally:
            rd.write_json(sweep_dir / STATUS_JSON, status)
            view.close()
        if outcome.done or outcome.skipped:
            from negkit.sweep.summary import write_summary

            outcome.summary = write_summary(sweep_dir)
    return outcome


def _loop(jobs: list[Job], launcher: Any, outcome: Outcome, status: dict, view: Progress,
          event: Callable[[str], None], sweep_dir: Path, poll: float) -> None:
    waiting = list(jobs)
    ok: set[str] = set()
    bad: set[str] = set()
    while waiting or view.running:
        for job in list(waiting):  # jobs whose mining stage failed cannot run
            broken = [a for a in job.after if a in bad]
            if broken:
                waiting.remove(job)
                stage = "mining stage" if broken[0].startswith("mine ") else "base model"
                _ended(job, f"its {stage} failed ({broken[0]}; log: {sweep_dir / LOGS})", outcome, status,
                       view, event, bad)
        while launcher.capacity() > 0:
            ready = next((j for j in waiting if all(a in ok for a in j.after)), None)
            if ready is None:
                break
            waiting.remove(ready)
            launcher.start(ready)
            view.start(ready.name)
            if ready.name.startswith("run "):
                status[ready.name[4:]]["state"] = "running"
            event(f"> {ready.name}")
        for end in launcher.poll():
            view.stop(end.job.name, end.seconds)
            if end.code == 0:
                ok.add(end.job.name)
                if end.job.name.startswith("run "):
                    name = end.job.name[4:]
                    outcome.done.append(name)
                    status[name].update(state="done", seconds=round(end.seconds, 1), log=str(end.job.log))
                    view.finished += 1
                event(f"+ {end.job.name}: {end.seconds:.0f} s")
            else:
                _ended(end.job, f"exit status {end.code}; {end.detail}", outcome, status, view, event, bad)
            rd.write_json(sweep_dir / STATUS_JSON, status)
        view.refresh()
        if waiting or view.running:
            time.sleep(poll)


def _ended(job: Job, why: str, outcome: Outcome, status: dict, view: Progress, event: Callable[[str], None],
           bad: set[str]) -> None:
    bad.add(job.name)
    if job.name.startswith("run "):
        name = job.name[4:]
        outcome.failed[name] = why
        status[name].update(state="failed", why=why, log=str(job.log))
        view.failed += 1
    event(f"x {job.name} failed: {why}")


class Progress:
    """Runs done, running, failed and left, with an ETA from the runs finished so far: a rich live view on a
    terminal, one plain line per event otherwise."""

    def __init__(self, console: Any, total: int, finished: int, failed: int, jobs: int) -> None:
        self.console, self.total, self.finished, self.failed, self.jobs = console, total, finished, failed, jobs
        self.running: dict[str, float] = {}
        self.durations: list[float] = []
        self.live = None
        if console.is_terminal:
            from rich.live import Live

            self.live = Live(self._render(), console=console, auto_refresh=False, transient=False)
            self.live.start()

    def start(self, name: str) -> None:
        self.running[name] = time.time()

    def stop(self, name: str, seconds: float) -> None:
        self.running.pop(name, None)
        if name.startswith("run "):
            self.durations.append(seconds)

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)
        self.refresh()

    def eta(self) -> float | None:
        left = self.total - self.finished - self.failed
        if not self.durations or left <= 0:
            return None
        return sum(self.durations) / len(self.durations) * left / max(1, self.jobs)

    def _render(self) -> Any:
        from rich.table import Table

        eta = self.eta()
        left = self.total - self.finished - self.failed - sum(1 for n in self.running if n.startswith("run "))
        table = Table(title="negkit sweep", show_header=True)
        for col in ("done", "running", "failed", "left", "ETA"):
            table.add_column(col, justify="right")
        table.add_row(f"{self.finished}/{self.total}", str(len(self.running)), str(self.failed), str(max(0, left)),
                      "-" if eta is None else f"{eta / 60:.1f} min")
        now = time.time()
        for name, started in self.running.items():
            table.add_row("", name, "", "", f"{now - started:.0f} s")
        return table

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._render(), refresh=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
