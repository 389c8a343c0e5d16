"""The path of one run: data -> mining (cached stage) -> training -> evaluation -> run directory and report.

``negkit run`` calls :func:`run`; so can a library user. Under ``torchrun`` every process calls it; rank 0
mines first (the others then read the cache), and only rank 0 writes files and prints.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from negkit import interrupts
from negkit.errors import NegkitError, RecipeError
from negkit.interrupts import handle_signals
from negkit.recipe import Recipe

if TYPE_CHECKING:
    from negkit.train.evaluate import NamedEvaluator

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


def plugin_changes(saved: Any, current: list[dict[str, Any]], recipe: Recipe) -> list[str]:
    """``"name old -> new"`` for each plugin providing one of the recipe's components whose version changed."""
    used = recipe_components(recipe)

    def versions(records: Any) -> dict[str, Any]:
        out = {}
        for rec in records if isinstance(records, list) else []:
            if isinstance(rec, dict) and any(name in used.get(kind, ()) for kind, names in
                                             (rec.get("registers") or {}).items() for name in names):
                out[str(rec.get("name"))] = rec.get("version")
        return out

    before, now = versions(saved), versions(current)
    return [f"plugin {name} {before.get(name, '<absent>')} -> {now.get(name, '<absent>')}"
            for name in sorted(set(before) | set(now)) if before.get(name, "<absent>") != now.get(name, "<absent>")]


def recipe_components(recipe: Recipe) -> dict[str, set[str]]:
    return {"miners": {m.name for m in recipe.miners}, "losses": {x.name for x in recipe.losses},
            "datasets": {recipe.data.name}, "evaluators": {e.name for e in recipe.eval}}


def prepare_run_dir(run_dir: Path, recipe: Recipe, *, resume: bool, force: bool,
                    mining: str | None = None, base: str | None = None) -> Path | None:
    """Check the run directory for ``resume``/``force`` and return the checkpoint to resume from (if any).

    Everything is checked before anything is changed: a refused ``--force`` or ``--resume`` leaves the run
    directory as it was. Changes accepted with ``--resume --force`` are recorded in ``resumes.jsonl``."""
    from negkit import rundir as rd
    from negkit.plugins import plugin_records
    from negkit.train.checkpoint import checkpoint_meta, latest_checkpoint

    holds_run = (run_dir / rd.LOG).exists() or (run_dir / rd.CHECKPOINTS).exists() or (run_dir / rd.METRICS).exists()
    if not resume:
        if holds_run and not force:
            raise NegkitError(f"run directory {run_dir} already holds a run: add --resume to continue it, --force to "
                              f"start it over (deletes its checkpoints and logs), or set another run.name / --out")
        if holds_run:
            for name in (rd.CHECKPOINTS, rd.PLOTS, rd.REFERENCE, "tensorboard"):
                shutil.rmtree(run_dir / name, ignore_errors=True)
            for name in (rd.LOG, rd.METRICS, rd.REPORT, rd.ITEMS, rd.EVAL_META, RESUMES, MINING, BASE):
                (run_dir / name).unlink(missing_ok=True)
        return None
    saved_path = run_dir / rd.RECIPE
    if not saved_path.is_file():
        raise NegkitError(f"--resume: {run_dir} holds no run (no {rd.RECIPE}); run without --resume, or give the "
                          f"same --out and run.name as the run to continue")
    diffs = recipe_differences(rd.read_json(saved_path), recipe.to_dict())
    plugins = plugin_changes(rd.read_json(run_dir / rd.PLUGINS), plugin_records(), recipe) \
        if (run_dir / rd.PLUGINS).is_file() else []
    saved_mining = rd.read_json(run_dir / MINING).get("fingerprint") if (run_dir / MINING).is_file() else None
    if saved_mining and mining and saved_mining != mining and not diffs and not plugins:
        plugins.append(f"the miners' output (mining fingerprint {saved_mining} -> {mining}: a file a miner reads, "
                       f"or negkit itself, changed)")
    saved_base = rd.read_json(run_dir / BASE).get("fingerprint") if (run_dir / BASE).is_file() else None
    if saved_base and base and saved_base != base:
        plugins.append(f"the base model of [model] init (base fingerprint {saved_base} -> {base}: the base recipe, "
                       f"a plugin or negkit changed)")
    if (diffs or plugins) and not force:
        shown = ", ".join(diffs[:8]) + (f" and {len(diffs) - 8} more" if len(diffs) > 8 else "")
        what = [f"the recipe differs from the one {run_dir} was started with, at {shown}" if diffs else "",
                f"changed since {run_dir} was started: {', '.join(plugins)}" if plugins else ""]
        raise NegkitError(f"--resume: {'; '.join(w for w in what if w)}; undo the change, or add --force to resume "
                          f"with the new values (recorded in {RESUMES})")
    checkpoint = latest_checkpoint(run_dir / rd.CHECKPOINTS)
    if checkpoint is not None:
        saved_model = checkpoint_meta(checkpoint).get("model")
        if saved_model and saved_model != recipe.model.name:
            raise NegkitError(f"--resume: {checkpoint} was trained as model {saved_model!r}, the recipe now builds "
                              f"{recipe.model.name!r}; --force cannot change the model of a run: set model.name = "
                              f"\"{saved_model}\", or start a new run (another run.name, or --force without --resume)")
    if diffs or plugins:
        record_resume(run_dir, {"recipe": diffs, "plugins": plugins})
    return checkpoint


RESUMES = "resumes.jsonl"
MINING = "mining.json"
BASE = "base.json"  # the base model a [model] init run started from (negkit.base_stage)


def record_resume(run_dir: Path, changes: dict[str, Any]) -> None:
    """Append what a ``--resume --force`` changed to ``resumes.jsonl`` (the log keeps the rest)."""
    from negkit.atomic import write_text

    path = run_dir / RESUMES
    before = path.read_text(encoding="utf-8") if path.is_file() else ""
    write_text(path, before + json.dumps({"time": round(time.time(), 3), **changes}) + "\n")


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
        with handle_signals():
            return run_with_env(recipe, out, resume=resume, force=force, env=env, console=console)
    except RecipeError as exc:
        raise exc.in_file(str(recipe.path) if recipe.path else None) from exc
    finally:
        close_distributed(env)


def run_with_env(recipe: Recipe, out: str | Path, *, resume: bool, force: bool, env: Any,
                 console: Any = None) -> RunResult:
    """``run`` in processes already set up (``env``): how a base recipe is built inside the run that needs it."""
    with _run_lock(Path(out) / recipe.run_name, env.is_main):
        return _run(recipe, Path(out), resume, force, env, console)


@contextlib.contextmanager
def _run_lock(run_dir: Path, is_main: bool) -> Iterator[None]:
    """Rank 0 holds the run directory for the run's whole life; temporary files of dead runs are swept."""
    if not is_main:
        yield
        return
    from negkit import rundir as rd
    from negkit.atomic import sweep_temp
    from negkit.locks import LOCK_FILE, DirectoryLock

    created = not run_dir.exists()
    lock = DirectoryLock(run_dir, hint="or set another run.name / --out").acquire()
    try:
        for folder in (run_dir, run_dir / rd.CHECKPOINTS):
            sweep_temp(folder)
        yield
    finally:
        lock.release()
        if created and [p.name for p in run_dir.iterdir()] == [LOCK_FILE]:  # refused before it began
            shutil.rmtree(run_dir, ignore_errors=True)


def _run(recipe: Recipe, out: Path, resume: bool, force: bool, env: Any, console: Any) -> RunResult:
    from rich.console import Console

    from negkit import rundir as rd
    from negkit.distributed import broadcast_from_main
    from negkit.factory import build_components
    from negkit.lexicon.spacy_pipeline import default_pipeline_name
    from negkit.mining.stage import mine_cached
    from negkit.plugins import plugin_records
    from negkit.report.report import write_report
    from negkit.train.batch import NegativeTable, TrainDataset, total_steps
    from negkit.train.evaluate import evaluate_model
    from negkit.train.feedback import Feedback
    from negkit.train.loop import Trainer, resolve_precision
    from negkit.train.model import create_model

    console = console or Console()
    run_dir = out / recipe.run_name

    def say(text: str) -> None:
        if env.is_main:
            console.print(text, highlight=False, markup=False, soft_wrap=True)

    # Everything a typo could break is checked before the run directory changes (--force deletes, --resume
    # rewrites recipe.json).
    seed = recipe.run.seed
    seed_everything(seed)
    # the model first: a wrong name, tag or checkpoint fails before anything changes on disk or mining starts
    clip = create_model(recipe.model, env.device, seed=seed)
    precision = resolve_precision(recipe.model.precision, env.device)
    built = build_components(recipe)  # every component, once: a bad argument fails here
    losses, sampler, data, plan = built.losses, built.sampler, built.data, built.mining
    records = data.records("train")
    captions = data.captions("train")
    groups = data.caption_groups("train") if recipe.mining.k > 0 and recipe.miners else None

    mining = None
    if env.is_main and recipe.mining.k > 0 and recipe.miners:
        from negkit.mining.stage import mining_fingerprint

        mining = mining_fingerprint(plan, captions, groups=groups)
    from negkit.base_stage import resolve_base, start_from_base

    base = resolve_base(recipe)  # a missing or invalid base recipe fails here, before anything changes
    resume_from = prepare_run_dir(run_dir, recipe, resume=resume, force=force, mining=mining,
                                  base=base.fingerprint if base else None) if env.is_main else None
    if env.world > 1:  # every rank resumes from the checkpoint rank 0 chose
        chosen = broadcast_from_main(str(resume_from) if resume_from else None)
        resume_from = Path(chosen) if chosen else None
    if env.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        rd.write_json(run_dir / rd.RECIPE, recipe.to_dict())
        rd.write_json(run_dir / rd.PLUGINS, plugin_records())
        spacy = default_pipeline_name() if recipe.miners else None  # what miners naming none use
        rd.write_json(run_dir / rd.ENV, {**rd.environment(str(env.device), env.world), "spacy_pipeline": spacy})
        if mining:
            rd.write_json(run_dir / MINING, {"fingerprint": mining})
        if resume and resume_from is None:  # killed before its first checkpoint: start over
            say(f"--resume: {run_dir} has no checkpoint yet; training from step 0")

    if base is not None:  # the base's weights, bit for bit; built first (its own run) when not cached
        start_from_base(base, clip.model, recipe.model.name, env, lambda r, o, res, f: run_with_env(
            r, o, resume=res, force=f, env=env, console=console), say, run_dir)
        seed_everything(seed)  # the same random state after a base that was built as after one reused
    say(f"{recipe.run_name}: {len(captions)} training captions from {recipe.data.name!r}")

    k = recipe.mining.k
    if k > 0 and recipe.miners:
        if env.is_main:
            result = mine_cached(plan, captions, groups=groups)
        env.barrier()
        if not env.is_main:
            result = mine_cached(plan, captions, progress=False, groups=groups)
        mined = recipe.mining.mined_per_caption
        negatives = NegativeTable.from_mined(result.dataset["negatives"], mined)
        covered = sum(1 for row in negatives.rows if row)
        how = "reused from the cache" if result.reused else f"mined in {result.seconds:.1f} s"
        say(f"mining: negatives for {covered}/{len(captions)} captions (k = {mined}), {how}")
        if recipe.mining.select == "hardest":
            say(f"mining: each step keeps the {k} of {mined} candidates the model finds hardest")
    else:
        negatives = NegativeTable.empty(len(captions))

    dataset = TrainDataset(records, negatives, clip.preprocess_train, seed,
                           image_negatives=recipe.mining.image_negatives)
    blind = [wl.key for wl in losses if not getattr(wl.loss, "uses_image_negatives", False)]
    if recipe.mining.image_negatives and blind:
        say(f"image negatives: not used by loss(es) {', '.join(blind)} (text negatives only)")
    started = time.time()
    train_info: dict[str, Any] = {"steps": 0}
    if recipe.train.epochs > 0:  # the Trainer rejects a split too small for one step
        steps = total_steps(len(records), recipe.train)
        tb = run_dir / "tensorboard" if recipe.report.tensorboard else None
        feedback = Feedback(steps, log_path=run_dir / rd.LOG, enabled=env.is_main, tensorboard_dir=tb,
                            console=console)
        keep = k if recipe.mining.select == "hardest" else 0
        trainer = Trainer(clip, dataset, losses, recipe.train, seed=seed, precision=precision, env=env,
                          ckpt_dir=run_dir / rd.CHECKPOINTS, feedback=feedback, model_name=recipe.model.name,
                          lora=recipe.model.lora, sampler=sampler, keep=keep)
        if env.is_main and built.evaluators and recipe.report.reference:
            evaluate_reference(clip, recipe, built.evaluators, env.device, precision.autocast, data, run_dir, say,
                               base=base)
        result = trainer.fit(resume_from)
        interrupts.raise_if_stop_requested(f"training finished ({result.final_checkpoint}); --resume evaluates")
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
        if built.evaluators:
            metrics = evaluate_model(clip, built.evaluators, env.device, precision.autocast, seed=seed, data=data,
                                     out_dir=run_dir, say=say)
        run_info["wall_seconds"] = round(time.time() - started, 2)
        rd.write_json(run_dir / rd.METRICS, {"run": run_info, "metrics": metrics})
        report = write_report(run_dir, plots=recipe.report.plots)
        print_results(console, recipe.run_name, metrics, run_dir, report)
    # No barrier here: the other ranks leave while rank 0 evaluates (a long evaluation must not time them out).
    return RunResult(run_dir, metrics, run_info)


def evaluate_reference(clip: Any, recipe: Recipe, evaluators: Sequence[NamedEvaluator], device: Any,
                       autocast: Any, data: Any, run_dir: Path, say: Any, base: Any = None) -> None:
    """The recipe's evaluators on the model before its first step: ``report.md``'s reference ("before").
    Written once to ``<run dir>/reference/`` (metrics.json, items.jsonl); a resumed run keeps it. A run that
    starts from a base (``base``, a ``BaseStage``) copies the base's evaluation kept under the same
    ``reference_key`` when there is one, and keeps its own there otherwise."""
    from negkit import rundir as rd
    from negkit.base_stage import cached_reference, copy_folder, keep_reference, reference_key
    from negkit.train.evaluate import evaluate_model

    out = run_dir / rd.REFERENCE
    if (out / rd.METRICS).is_file():
        return
    key = reference_key(recipe, getattr(device, "type", str(device))) if base is not None else None
    kept = cached_reference(base, key) if key else None
    if kept is not None:
        shutil.rmtree(out, ignore_errors=True)  # what a killed evaluation or copy left
        try:
            copy_folder(kept, out)
            say(f"reference: the base's evaluation by these evaluators, reused ({kept})")
            return
        except OSError as exc:  # an unreadable kept copy costs only the reuse: evaluate as if there were none
            say(f"reference: the base's kept evaluation could not be copied ({exc.strerror or exc})")
    say("evaluating the model before training (the report's reference; [report] reference = false skips it)")
    metrics = evaluate_model(clip, evaluators, device, autocast, seed=recipe.run.seed, data=data, out_dir=out)
    rd.write_json(out / rd.METRICS, {"run": {"step": 0, "model": recipe.model.name,
                                             "pretrained": recipe.model.pretrained}, "metrics": metrics})
    if key:
        try:
            keep_reference(base, key, out)
        except OSError as exc:  # a read-only or full cache costs only the reuse, never the run
            say(f"reference: not kept in the base's entry {base.folder} ({exc.strerror or exc})")


def evaluate_checkpoint(recipe: Recipe, checkpoint: str | Path | None = None, *, console: Any = None,
                        out_dir: Path | None = None) -> dict[str, float]:
    """``negkit eval``: the recipe's evaluators on ``checkpoint`` (default: its ``[model] pretrained``, or the
    base model its ``[model] init`` names, which must have been built)."""
    from rich.console import Console

    from negkit.distributed import resolve_device
    from negkit.factory import build_data, build_evaluators
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
    if not checkpoint and recipe.model.init:
        from negkit.base_stage import built_checkpoint

        checkpoint = built_checkpoint(recipe)
    if checkpoint:
        load_weights(clip.model, Path(checkpoint), expected_model=recipe.model.name)
    data = build_data(recipe)
    evaluators = build_evaluators(recipe)
    precision = resolve_precision(recipe.model.precision, device)
    return evaluate_model(clip, evaluators, device, precision.autocast, seed=recipe.run.seed, data=data,
                          out_dir=out_dir, say=lambda m: console.print(m, highlight=False))


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
