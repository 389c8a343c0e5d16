"""The path of one run: data -> mining (cached stage) -> training -> evaluation -> run directory and report.

``negkit run`` calls :func:`run`; so can a library user. Under ``torchrun`` every process calls it; rank 0
mines first (the others then read the cache), and only rank 0 writes files and prints.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from negkit.errors import NegkitError, RecipeError
from negkit.recipe import Recipe

# Keys that may change between a run and its --resume without --force: they do not change what is trained.
RESUME_SAFE = ("run.device", "train.num_workers", "train.log_every", "report.", "mining.num_proc",
               "mining.batch_size", "mining.cache_dir", "model.cache_dir", "eval")


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, float]
    run: dict[str, Any] = field(default_factory=dict)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1}, "losses": [{"name": "x"}]}`` -> ``{"train.lr": 1, "losses[0].name": "x"}``."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def recipe_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Keys whose values differ between two resolved recipes, ignoring ``RESUME_SAFE`` keys."""
    a, b = flatten(saved), flatten(json.loads(json.dumps(current)))
    keys = sorted(set(a) | set(b))
    return [k for k in keys if a.get(k, "<absent>") != b.get(k, "<absent>")
            and not any(k == s or k.startswith(s if s.endswith(".") else (s + ".", s + "["))
                        for s in RESUME_SAFE)]


def prepare_run_dir(run_dir: Path, recipe: Recipe, *, resume: bool, force: bool) -> Path | None:
    """Check the run directory for ``resume``/``force`` and return the checkpoint to resume from (if any)."""
    from negkit import rundir as rd
    from negkit.train.checkpoint import latest_checkpoint

    holds_run = (run_dir / rd.LOG).exists() or (run_dir / rd.CHECKPOINTS).exists() or (run_dir / rd.METRICS).exists()
    if not resume:
        if holds_run and not force:
            raise NegkitError(f"run directory {run_dir} already holds a run: add --resume to continue it, --force to "
                              f"start it over (deletes its checkpoints and logs), or set another run.name / --out")
        if holds_run:
            for name in (rd.CHECKPOINTS, rd.PLOTS):
                shutil.rmtree(run_dir / name, ignore_errors=True)
            for name in (rd.LOG, rd.METRICS, rd.REPORT):
                (run_dir / name).unlink(missing_ok=True)
        return None
    saved_path = run_dir / rd.RECIPE
    if not saved_path.is_file():
        raise NegkitError(f"--resume: {run_dir} holds no run (no {rd.RECIPE}); run without --resume, or give the "
                          f"same --out and run.name as the run to continue")
    diffs = recipe_differences(rd.read_json(saved_path), recipe.to_dict())
    if diffs and not force:
        shown = ", ".join(diffs[:8]) + (f" and {len(diffs) - 8} more" if len(diffs) > 8 else "")
        raise NegkitError(f"--resume: the recipe differs from the one {run_dir} was started with, at {shown}; "
                          f"undo the change, or add --force to resume with the new values")
    return latest_checkpoint(run_dir / rd.CHECKPOINTS)


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run(recipe: Recipe, *, out: str | Path = "runs", resume: bool = False, force: bool = False,
        console: Any = None) -> RunResult:
    """Mine, train, evaluate and report as ``recipe`` says; files go to ``<out>/<run name>/``."""
    from negkit.distributed import close_distributed, init_distributed

    env = init_distributed(recipe.run.device)
    try:
        return _run(recipe, Path(out), resume, force, env, console)
    except RecipeError as exc:
        raise exc.in_file(str(recipe.path) if recipe.path else None) from exc
    finally:
        close_distributed(env)


def _run(recipe: Recipe, out: Path, resume: bool, force: bool, env: Any, console: Any) -> RunResult:
    import torch
    from rich.console import Console

    from negkit import rundir as rd
    from negkit.mining.stage import mine_cached
    from negkit.plugins import plugin_records
    from negkit.report.report import write_report
    from negkit.train.batch import NegativeTable, TrainDataset, total_steps
    from negkit.train.evaluate import evaluate_model
    from negkit.train.feedback import Feedback
    from negkit.train.loop import Trainer, build_losses, resolve_precision
    from negkit.train.model import check_model_name, create_model, register_model_configs

    console = console or Console()
    where = str(recipe.path) if recipe.path else None
    run_dir = out / recipe.run_name

    def say(text: str) -> None:
        if env.is_main:
            console.print(text, highlight=False, markup=False, soft_wrap=True)

    resume_from = prepare_run_dir(run_dir, recipe, resume=resume, force=force) if env.is_main else None
    if env.world > 1:  # every rank resumes from the checkpoint rank 0 chose
        box = [str(resume_from) if resume_from else None]
        torch.distributed.broadcast_object_list(box, src=0)
        resume_from = Path(box[0]) if box[0] else None
    if env.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        rd.write_json(run_dir / rd.RECIPE, recipe.to_dict())
        rd.write_json(run_dir / rd.PLUGINS, plugin_records())
        rd.write_json(run_dir / rd.ENV, rd.environment(str(env.device), env.world))
        if resume and resume_from is None:  # killed before its first checkpoint: start over
            say(f"--resume: {run_dir} has no checkpoint yet; training from step 0")

    register_model_configs(recipe.model.config_dir)  # a wrong model name fails before the mining stage
    check_model_name(recipe.model.name)
    seed = recipe.run.seed
    seed_everything(seed)
    data = recipe.data.build(where=where)
    records = data.records("train")
    captions = data.captions("train")
    say(f"{recipe.run_name}: {len(captions)} training captions from {recipe.data.name!r}")

    k = recipe.mining.k
    if k > 0 and recipe.miners:
        if env.is_main:
            result = mine_cached(recipe, captions)
        env.barrier()
        if not env.is_main:
            result = mine_cached(recipe, captions, progress=False)
        mined = recipe.mining.mined_per_caption
        negatives = NegativeTable.from_mined(result.dataset["negatives"], mined)
        covered = sum(1 for row in negatives.rows if row)
        how = "reused from the cache" if result.reused else f"mined in {result.seconds:.1f} s"
        say(f"mining: negatives for {covered}/{len(captions)} captions (k = {mined}), {how}")
        if recipe.mining.select == "hardest":
            say(f"mining: each step keeps the {k} of {mined} candidates the model finds hardest")
    else:
        negatives = NegativeTable.empty(len(captions))

    steps = total_steps(len(records), recipe.train)
    if steps == 0 and recipe.train.epochs > 0:
        raise RecipeError(f"the training split has {len(records)} records: fewer than one step of batch_size x "
                          f"accum_steps = {recipe.train.batch_size * recipe.train.accum_steps}; lower "
                          f"train.batch_size", path=where, key="train.batch_size")
    clip = create_model(recipe.model, env.device, seed=seed)
    precision = resolve_precision(recipe.model.precision, env.device)
    dataset = TrainDataset(records, negatives, clip.preprocess_train, seed,
                           image_negatives=recipe.mining.image_negatives)
    losses = build_losses(recipe.losses, where)
    blind = [wl.key for wl in losses if not getattr(wl.loss, "uses_image_negatives", False)]
    if recipe.mining.image_negatives and blind:
        say(f"image negatives: not used by loss(es) {', '.join(blind)} (text negatives only)")
    started = time.time()
    train_info: dict[str, Any] = {"steps": 0}
    if steps > 0:
        tb = run_dir / "tensorboard" if recipe.report.tensorboard else None
        feedback = Feedback(steps, log_path=run_dir / rd.LOG, enabled=env.is_main, tensorboard_dir=tb,
                            console=console)
        sampler = recipe.sampler.build(where=where)
        keep = k if recipe.mining.select == "hardest" else 0
        trainer = Trainer(clip, dataset, losses, recipe.train, seed=seed, precision=precision, env=env,
                          ckpt_dir=run_dir / rd.CHECKPOINTS, feedback=feedback, model_name=recipe.model.name,
                          sampler=sampler, keep=keep)
        result = trainer.fit(resume_from)
        train_info = {"steps": result.steps, "epochs": round(result.epochs_done, 4), "samples": result.samples,
                      "train_seconds": round(result.seconds, 2), "bad_images": result.bad_images,
                      "checkpoint": str(result.final_checkpoint) if result.final_checkpoint else None,
                      "sampler": {"name": recipe.sampler.name, **sampler.stats()}}
    else:
        say("no training steps ([train] epochs = 0): evaluating the initial model")

    metrics: dict[str, float] = {}
    run_info = {"name": recipe.run_name, "recipe": str(recipe.path) if recipe.path else None,
                "run_dir": str(run_dir), "model": recipe.model.name, "pretrained": recipe.model.pretrained,
                "processes": env.world, "device": str(env.device), **train_info}
    if recipe.mining.image_negatives:
        run_info["image_negatives"] = recipe.mining.image_negatives
        run_info["losses_ignoring_image_negatives"] = blind
    if env.is_main:
        if recipe.eval:
            metrics = evaluate_model(clip, recipe.eval, env.device, precision.autocast, seed=seed, data=data,
                                     out_dir=run_dir, where=where, say=say)
        run_info["wall_seconds"] = round(time.time() - started, 2)
        rd.write_json(run_dir / rd.METRICS, {"run": run_info, "metrics": metrics})
        report = write_report(run_dir, plots=recipe.report.plots)
        print_results(console, recipe.run_name, metrics, run_dir, report)
    # No barrier here: the other ranks leave while rank 0 evaluates (a long evaluation must not time them out).
    return RunResult(run_dir, metrics, run_info)


def evaluate_checkpoint(recipe: Recipe, checkpoint: str | Path | None = None, *, console: Any = None,
                        out_dir: Path | None = None) -> dict[str, float]:
    """``negkit eval``: the recipe's evaluators on ``checkpoint`` (default: its ``[model] pretrained``)."""
    from rich.console import Console

    from negkit.distributed import resolve_device
    from negkit.train.evaluate import evaluate_model
    from negkit.train.loop import resolve_precision
    from negkit.train.model import create_model, load_weights

    console = console or Console()
    where = str(recipe.path) if recipe.path else None
    if not recipe.eval:
        raise NegkitError(f"{where or 'the recipe'}: no [[eval]] tables: nothing to evaluate")
    device = resolve_device(recipe.run.device)
    seed_everything(recipe.run.seed)
    clip = create_model(recipe.model, device, seed=recipe.run.seed)
    if checkpoint:
        load_weights(clip.model, Path(checkpoint), expected_model=recipe.model.name)
    data = recipe.data.build(where=where)
    precision = resolve_precision(recipe.model.precision, device)
    return evaluate_model(clip, recipe.eval, device, precision.autocast, seed=recipe.run.seed, data=data,
                          out_dir=out_dir, where=where, say=lambda m: console.print(m, highlight=False))


def print_results(console: Any, name: str, metrics: dict[str, float], run_dir: Path | None,
                  report: Path | None) -> None:
    from rich.table import Table

    from negkit.report.report import fmt

    table = Table(title=f"{name}: results")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in sorted(metrics.items()):
        table.add_row(key, fmt(value))
    if metrics:
        console.print(table)
        if run_dir is not None:
            from negkit.report.report import evaluation_rules

            for line in evaluation_rules(run_dir):
                console.print(line, highlight=False, markup=False, soft_wrap=True)
    if run_dir is not None:
        console.print(f"run directory: {run_dir}", highlight=False, soft_wrap=True)
    if report is not None:
        console.print(f"report: {report}", highlight=False, soft_wrap=True)


__all__ = ["RunResult", "run"]
