"""The plan of a sweep: one run per (arm, seed), where it lives, what state it is in, and which runs share
a mining stage or a base model (``[model] init``).

```
<out>/<sweep name>/
  sweep.json        the plan: arms (recipe, overrides), seeds, baseline, metrics (written at every start)
  status.json       per run: state, exit code, log, seconds (rewritten as runs finish)
  .negkit.lock      held by the `negkit sweep run` that runs the sweep (negkit.locks.DirectoryLock)
  runs/<arm>-s<seed>/   each run's own run directory (recipe.json, metrics.json, items.jsonl, ...)
  runs/<arm>-s<seed>.lock   held by a Slurm job while it runs that run
  logs/<job>.log    each job's output (mine-<key>.log, base-<key>.log, <arm>-s<seed>.log)
  summary.md, summary.csv, summary.json, plots/summary.png
  claims.md, claims.csv, claims.json, plots/claims-*.png   (negkit sweep claims)
```
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from negkit import rundir as rd
from negkit.sweep.spec import Sweep, seed_overrides

SWEEP_JSON = "sweep.json"
STATUS_JSON = "status.json"
RUNS = "runs"
LOGS = "logs"


@dataclass
class PlannedRun:
    arm: str
    seed: int
    name: str  # the run's name and directory: "<arm>-s<seed>"
    recipe: Path
    overrides: list[str]  # every --set of the run, run.name included
    run_dir: Path
    mining: str | None = None  # key of the mining stage it shares with equal mining settings (None: no mining)
    resolved: dict[str, Any] = field(default_factory=dict)  # the resolved recipe, as recipe.json will hold it
    base: str | None = None  # key of the base model it fine-tunes from (None: no [model] init)

    def state(self) -> str:
        """``done`` (metrics.json written), ``partial`` (started: resume it), ``new``."""
        if (self.run_dir / rd.METRICS).is_file():
            return "done"
        if (self.run_dir / rd.RECIPE).is_file():
            return "partial"
        return "new"


@dataclass
class MiningStage:
    key: str
    recipe: Path
    overrides: list[str]
    runs: list[str] = field(default_factory=list)


@dataclass
class BaseStep:
    """A base model some runs fine-tune from: built once (``negkit base``) before they start."""

    key: str
    recipe: Path  # a run's recipe (the one naming the base), built with that run's overrides
    overrides: list[str]
    runs: list[str] = field(default_factory=list)


def plan_runs(sweep: Sweep) -> tuple[list[PlannedRun], dict[str, MiningStage]]:
    """Every (arm, seed) run, seed-major (an interrupted sweep has every arm at the first seeds), and the
    mining stages they share: runs whose data, mining settings and miners are equal mine once."""
    from negkit.recipe import load_recipe

    runs: list[PlannedRun] = []
    stages: dict[str, MiningStage] = {}
    base_seed = {arm.name: load_recipe(arm.recipe, arm.overrides, check_components=False).mining_seed
                 for arm in sweep.arms}
    for seed in sweep.seeds:
        for arm in sweep.arms:
            name = f"{arm.name}-s{seed}"
            sets = [*arm.overrides, *seed_overrides(sweep, seed, base_seed[arm.name]), f"run.name={name}"]
            recipe = load_recipe(arm.recipe, sets)
            key = mining_key(recipe)
            run = PlannedRun(arm.name, seed, name, arm.recipe, sets, sweep.directory / RUNS / name, key,
                             recipe.to_dict(), base_key(recipe))
            runs.append(run)
            if key is not None:
                stages.setdefault(key, MiningStage(key, arm.recipe, sets)).runs.append(name)
    return runs, stages


def plan_bases(runs: list[PlannedRun]) -> dict[str, BaseStep]:
    """The base models the runs fine-tune from, each with the first run naming it (in plan order)."""
    steps: dict[str, BaseStep] = {}
    for run in runs:
        if run.base is not None:
            steps.setdefault(run.base, BaseStep(run.base, run.recipe, run.overrides)).runs.append(run.name)
    return steps


def base_key(recipe: Any) -> str | None:
    """Which base model a run starts from: the base recipe file and the cache it is built into (the base's own
    fingerprint is checked when it is built; equal files under other names are built once, then reused)."""
    from negkit.base_stage import cache_root, init_path

    path = init_path(recipe)
    if path is None:
        return None
    text = json.dumps({"base": str(path), "cache": str(cache_root(recipe))}, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def mining_key(recipe: Any) -> str | None:
    """What decides a run's mined table besides the captions: data, k, mining seed, cache folder, miners."""
    if recipe.mining.k == 0 or not recipe.miners:
        return None
    full = recipe.to_dict()
    payload = {"data": full["data"], "k": recipe.mining.mined_per_caption, "seed": recipe.mining_seed,
               "cache_dir": recipe.mining.cache_dir, "miners": full["miners"]}
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def write_plan(sweep: Sweep, runs: list[PlannedRun]) -> None:
    rd.write_json(sweep.directory / SWEEP_JSON, {
        "name": sweep.name,
        "file": str(sweep.path),
        "baseline": sweep.baseline,
        "metrics": sweep.metrics,
        "seeds": sweep.seeds,
        "vary": sweep.vary,
        "arms": [{"name": a.name, "recipe": str(a.recipe), "overrides": a.overrides} for a in sweep.arms],
        "runs": [{"name": r.name, "arm": r.arm, "seed": r.seed, "run_dir": str(r.run_dir),
                  "overrides": r.overrides} for r in runs],
        "bootstrap": sweep.settings.bootstrap,
        "confidence": sweep.settings.confidence,
        "bootstrap_seed": sweep.settings.bootstrap_seed,
        "claims": [c.model_dump() for c in sweep.claims],
        "contrasts": [c.model_dump() for c in sweep.contrasts],
    })


def read_plan(sweep_dir: Path) -> dict[str, Any]:
    return rd.read_json(Path(sweep_dir) / SWEEP_JSON)
