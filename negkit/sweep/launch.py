"""Launchers: start a job (a ``negkit mine``, ``negkit base`` or ``negkit run`` command line), tell when it ended
and how.

``LocalLauncher`` starts child processes on this machine, each pinned to its own share of the CPUs (CPU
affinity and ``OMP_NUM_THREADS``) and, when runs ask for GPUs, its own ``CUDA_VISIBLE_DEVICES``; children
die with the sweep process (``PR_SET_PDEATHSIG``), so a killed sweep leaves no run going that a resumed
sweep could collide with. ``SlurmLauncher`` submits each job through submitit (its ``local`` and ``debug``
executors run the same code here, which is how it is tested); Slurm jobs outlive the sweep process, so a
run job holds its run's lock (see :func:`run_command`). A run asking for more than one GPU is
started with ``torchrun`` by either launcher.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass
class Job:
    name: str  # "run <arm>-s<seed>", "mine <key>" or "base <key>"
    argv: list[str]  # negkit's arguments: ["run", recipe, "--set", ...]
    log: Path
    gpus: int = 0
    after: list[str] = field(default_factory=list)  # jobs that must succeed first
    run_dir: Path | None = None  # the run directory a run job writes

    def command(self) -> list[str]:
        if self.gpus > 1:
            return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={self.gpus}",
                    "-m", "negkit", *self.argv]
        return [sys.executable, "-m", "negkit", *self.argv]


@dataclass
class Ended:
    job: Job
    code: int  # exit status; non-zero = failed
    seconds: float
    detail: str = ""  # where to look when it failed


def cpu_shares(jobs: int, threads: int = 0) -> list[list[int]]:
    """The CPUs each of ``jobs`` slots is pinned to: equal, disjoint shares of the CPUs this process may use
    (``threads`` CPUs each when given; shares wrap around when asked for more than there are)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    per = threads or max(1, len(cpus) // jobs)
    return [[cpus[(slot * per + i) % len(cpus)] for i in range(per)] for slot in range(jobs)]


def _child_setup(cpus: list[int] | None) -> Any:
    def setup() -> None:
        os.setsid()  # its own process group: a Ctrl-C in the terminal reaches the sweep, which stops the runs
        if cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, cpus)
        if sys.platform.startswith("linux"):
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the sweep process
    return setup


class LocalLauncher:
    """Up to ``jobs`` child processes at once, each on its own slot of CPUs (and GPUs)."""

    def __init__(self, jobs: int, threads: int = 0, gpus: int = 0) -> None:
        self.slots = cpu_shares(jobs, threads)
        self.gpus = gpus
        self.free = list(range(jobs))
        self.running: dict[str, tuple[Job, subprocess.Popen, int, float, Any]] = {}

    def capacity(self) -> int:
        return len(self.free)

    def start(self, job: Job) -> None:
        slot = self.free.pop(0)
        cpus = self.slots[slot]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **{v: str(len(cpus)) for v in THREAD_VARS}}
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(slot * self.gpus + g) for g in range(self.gpus))
        job.log.parent.mkdir(parents=True, exist_ok=True)
        log = job.log.open("ab")
        log.write(f"\n$ {' '.join(job.command())}\n".encode())
        log.flush()
        proc = subprocess.Popen(job.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, preexec_fn=_child_setup(cpus))
        self.running[job.name] = (job, proc, slot, time.time(), log)

    def poll(self) -> list[Ended]:
        ended = []
        for name, (job, proc, slot, started, log) in list(self.running.items()):
            code = proc.poll()
            if code is None:
                continue
            log.close()
            del self.running[name]
            self.free.append(slot)
            ended.append(Ended(job, code, time.time() - started, f"log: {job.log}"))
        return ended

    def stop(self) -> None:
        for _job, proc, *_ in self.running.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _job, proc, *_ in self.running.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def run_command(command: list[str], log: str, env: dict[str, str], run_dir: str | None = None) -> int:
    """What a submitit job runs: the command, its output appended to ``log``; returns the exit status.

    With ``run_dir``, the job first takes the run's lock (``<run_dir>.lock``): a job submitted again while an
    earlier one still runs (the sweep process died and was started again) waits for it, then does nothing
    if the run finished, or continues it with ``--resume``. So two jobs never write one run directory."""
    import fcntl

    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        lock = None
        if run_dir is not None:
            run = Path(run_dir)
            run.parent.mkdir(parents=True, exist_ok=True)
            lock = open(f"{run}.lock", "a+")  # held until the job ends
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.write(f"\nanother job holds {run}.lock: waiting for it to end\n".encode())
                fh.flush()
                fcntl.flock(lock, fcntl.LOCK_EX)
            if (run / "metrics.json").is_file():
                fh.write(b"the run finished meanwhile: nothing to do\n")
                return 0
            if (run / "recipe.json").is_file() and "--resume" not in command:
                command = [*command, "--resume"]
        fh.write(f"\n$ {' '.join(command)}\n".encode())
        fh.flush()
        try:
            return subprocess.run(command, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **env}).returncode
        finally:
            if lock is not None:
                lock.close()


class SlurmLauncher:
    """Each job a submitit job (Slurm, or submitit's ``local``/``debug`` executors); ``jobs`` in flight."""

    def __init__(self, folder: Path, settings: Any, jobs: int, gpus: int = 0) -> None:
        try:
            import submitit
        except ImportError:  # pragma: no cover - depends on the installation
            from negkit.errors import NegkitError

            raise NegkitError("launcher = \"slurm\" needs submitit: pip install 'negkit[slurm]'") from None
        self.executor = submitit.AutoExecutor(folder=str(folder), cluster=settings.cluster)
        params: dict[str, Any] = {"timeout_min": settings.timeout_min, "tasks_per_node": 1, "nodes": 1}
        if gpus:
            params["gpus_per_node"] = gpus
        if settings.cpus_per_task:
            params["cpus_per_task"] = settings.cpus_per_task
        if settings.mem_gb:
            params["mem_gb"] = settings.mem_gb
        for key in ("partition", "account", "qos", "constraint"):
            if getattr(settings, key):
                params[f"slurm_{key}"] = getattr(settings, key)
        if settings.additional:
            params["slurm_additional_parameters"] = dict(settings.additional)
        self.executor.update_parameters(**params)
        self.jobs = jobs
        self.threads = settings.cpus_per_task
        self.running: dict[str, tuple[Job, Any, float]] = {}

    def capacity(self) -> int:
        return self.jobs - len(self.running)

    def start(self, job: Job) -> None:
        env = {"PYTHONUNBUFFERED": "1", **({v: str(self.threads) for v in THREAD_VARS} if self.threads else {})}
        self.executor.update_parameters(name=job.name.replace(" ", "-"))
        handle = self.executor.submit(run_command, job.command(), str(job.log), env,
                                      str(job.run_dir) if job.run_dir else None)
        self.running[job.name] = (job, handle, time.time())

    def poll(self) -> list[Ended]:
        ended = []
        for name, (job, handle, started) in list(self.running.items()):
            if not handle.done():
                continue
            del self.running[name]
            try:
                code = int(handle.result())
                detail = f"log: {job.log}"
            except Exception as exc:  # the job itself died (node failure, timeout, cancelled)
                code = 1
                detail = f"log: {job.log}; submitit: {handle.paths.stderr} ({type(exc).__name__})"
            ended.append(Ended(job, code, time.time() - started, detail))
        return ended

    def stop(self) -> None:
        for _, handle, _ in self.running.values():
            try:
                handle.cancel(check=False)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
