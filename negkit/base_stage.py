"""The base stage: a recipe that names ``[model] init = "base.toml"`` fine-tunes from that recipe's final
checkpoint, trained once into a cache and reused by every run that names it.

The cache entry is ``<cache root>/negkit/base/<fingerprint>/`` (beside the mining cache, so it follows
``[mining] cache_dir`` of the recipe that asks, like the corpus cache). The fingerprint covers everything that
decides the base's weights: its resolved recipe without the keys that do not (``run.name``, ``run.device``,
``report.*``, ``eval``, ``train.num_workers``, ``train.log_every``, cache folders: ``pipeline.RESUME_SAFE``),
the fingerprint of its own ``init`` (a chain of bases works), negkit's version, the versions of the plugins
providing its components, its mining fingerprint when it mines, and the source of the training code
(``TRAINING_CODE``, ``negkit.code_digest``). A change of the data files themselves is
seen only through that mining fingerprint: delete the entry to rebuild after editing them.

```
<cache root>/negkit/base/<fingerprint>/
  .negkit.lock     held while a process builds the entry (negkit.locks.DirectoryLock)
  run/             a normal run directory of the base recipe (recipe.json, log.jsonl, report.md, metrics.json,
                   checkpoints/final.pt)
  complete.json    written last (atomically): fingerprint, base recipe, checkpoint, metrics, build time
  references/<key>/  the base evaluated by a fine-tuning recipe before its first step (its report's reference:
                   metrics.json, items.jsonl, eval_meta.json), one folder per ``reference_key``
```

A fine-tuning run starts from the base's weights bit for bit, so its reference ("before") evaluation is the base's
evaluation by that run's evaluators: it is kept under ``references/`` and copied into every later run with the
same evaluators, data, seed, model section and device (``reference_key``), instead of evaluating the same weights
again. Like the entry itself, it sees a change of data files only through the keys that name them.

An entry is reused only when ``complete.json`` exists, so a build that was killed is never reused: the next
builder continues it (``--resume`` of its run directory; with a damaged checkpoint it starts over). Two
processes never build the same entry: the second waits for the lock and then reuses what the first built.
Under ``torchrun`` every process takes part in building the base (rank 0 holds the lock and decides), then all
load the same checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from negkit.code_digest import source_digest
from negkit.errors import IntegrityError, RecipeError, RunLockedError, TrainingError
from negkit.recipe import Recipe

FORMAT = 1  # bump when what an entry holds changes: old entries are then never read
COMPLETE = "complete.json"
REFERENCES = "references"  # <entry>/references/<reference_key>/: the base evaluated by a fine-tuning recipe
RUN = "run"  # the base's run directory (and run name) inside its entry
BASE_JSON = "base.json"  # what a fine-tuning run records of its base
WAIT_POLL_S = 2.0

# build(recipe, out, resume, force): runs ``recipe`` into ``out/<run name>`` as ``negkit run`` would
Build = Callable[[Recipe, Path, bool, bool], Any]


# -- the init chain ------------------------------------------------------------------------------------------


def init_path(recipe: Recipe) -> Path | None:
    """The base recipe file ``[model] init`` names (relative to the recipe's folder), or None."""
    init = recipe.model.init
    if not init:
        return None
    path = Path(init).expanduser()
    if not path.is_absolute() and recipe.path is not None:
        path = recipe.path.parent / path
    return path.resolve()


def load_base_recipe(recipe: Recipe, seen: tuple[Path, ...] = ()) -> Recipe | None:
    """The recipe ``[model] init`` names, checked (found, valid, same model, trains, no cycle), or None."""
    from negkit.recipe import load_recipe

    path = init_path(recipe)
    if path is None:
        return None
    where = str(recipe.path) if recipe.path else "<recipe>"
    chain = (*seen, recipe.path.resolve()) if recipe.path else seen
    if path in chain:
        names = " -> ".join(str(p) for p in (*chain[chain.index(path):], path))
        raise RecipeError(f"the init chain is a cycle: {names}", path=where, key="model.init")
    if not path.is_file():
        raise RecipeError(f"base recipe not found: {path}", path=where, key="model.init")
    try:
        base = load_recipe(path, [f"run.name={RUN}"])
    except RecipeError as exc:
        raise RecipeError(f"base recipe {exc}", path=where, key="model.init") from None
    if base.model.name != recipe.model.name:
        raise RecipeError(f"base recipe {path} builds model {base.model.name!r}, {where} builds "
                          f"{recipe.model.name!r}; fine-tuning needs the same model name in both", path=where,
                          key="model.init")
    if base.train.epochs == 0:
        raise RecipeError(f"base recipe {path} trains no steps ([train] epochs = 0), so it has no final checkpoint "
                          f"to start from; use [model] pretrained for untrained weights", path=where,
                          key="model.init")
    return base


def check_chain(recipe: Recipe, seen: tuple[Path, ...] = ()) -> list[Path]:
    """Load and check every base recipe of the chain (``negkit validate``); returns their files, nearest first."""
    base = load_base_recipe(recipe, seen)
    if base is None:
        return []
    chain = (*seen, recipe.path.resolve()) if recipe.path else seen
    return [base.path, *check_chain(base, chain)] if base.path else []


# -- the fingerprint -----------------------------------------------------------------------------------------


def _weights_keys(recipe: Recipe) -> dict[str, Any]:
    from negkit.pipeline import RESUME_SAFE, flatten

    flat = flatten(json.loads(json.dumps(recipe.to_dict(), default=repr)))
    ignored = ("run.name", "model.init", *RESUME_SAFE)
    return {k: v for k, v in flat.items()
            if not any(k == s or k.startswith(s if s.endswith(".") else (s + ".", s + "[")) for s in ignored)}


def _plugin_versions(recipe: Recipe) -> dict[str, Any]:
    from negkit.pipeline import recipe_components
    from negkit.plugins import plugin_records

    used = recipe_components(recipe)
    used.setdefault("samplers", set()).add(recipe.sampler.name)
    out = {}
    for rec in plugin_records():
        if any(name in used.get(kind, ()) for kind, names in (rec.get("registers") or {}).items() for name in names):
            out[str(rec.get("name"))] = rec.get("version")
    return out


# what decides a base's weights besides its recipe, and what decides its evaluation (``negkit.code_digest``): an
# entry made by code that has since changed is never reused, even where negkit's version is the same
TRAINING_CODE = ("negkit.train", "negkit.losses", "negkit.data", "negkit.model_configs")
TRAINING_MODULES = ("negkit.images", "negkit.seeding")
EVAL_CODE = ("negkit.eval", "negkit.data")
EVAL_MODULES = ("negkit.train.evaluate", "negkit.train.reference", "negkit.images")


def base_fingerprint(base: Recipe, seen: tuple[Path, ...] = ()) -> str:
    """The cache key of ``base``'s final weights (see the module doc)."""
    from negkit.version import __version__

    parent = load_base_recipe(base, seen)
    mining = None
    if base.mining.k > 0 and base.miners:
        from negkit.factory import build_data, mining_plan
        from negkit.mining.stage import mining_fingerprint

        data = build_data(base)
        mining = mining_fingerprint(mining_plan(base), data.captions("train"), groups=data.caption_groups("train"))
    payload = {
        "format": FORMAT,
        "negkit": __version__,
        "code": source_digest(TRAINING_CODE, TRAINING_MODULES),
        "recipe": _weights_keys(base),
        "plugins": _plugin_versions(base),
        "mining": mining,
        "init": base_fingerprint(parent, (*seen, base.path.resolve()) if base.path else seen) if parent else None,
    }
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def cache_root(recipe: Recipe) -> Path:
    """``<cache root>/negkit/base``: beside the mining cache of ``recipe`` (the recipe that asks)."""
    from negkit.mining.stage import config_cache_root

    return config_cache_root(recipe.mining).parent / "base"


# -- the stage -----------------------------------------------------------------------------------------------


@dataclass
class BaseStage:
    """A resolved base: its recipe, file, fingerprint and cache entry (built or not)."""

    recipe: Recipe
    path: Path
    fingerprint: str
    folder: Path

    @property
    def run_dir(self) -> Path:
        return self.folder / RUN

    @property
    def checkpoint(self) -> Path:
        from negkit import rundir as rd
        from negkit.train.checkpoint import FINAL

        return self.run_dir / rd.CHECKPOINTS / FINAL

    def complete(self) -> bool:
        try:
            done = json.loads((self.folder / COMPLETE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(done, dict) and done.get("fingerprint") == self.fingerprint and self.checkpoint.is_file()


@dataclass
class BaseResult:
    stage: BaseStage
    reused: bool
    seconds: float

    def record(self) -> dict[str, Any]:
        """``base.json`` of the fine-tuning run."""
        return {"recipe": str(self.stage.path), "fingerprint": self.stage.fingerprint,
                "checkpoint": str(self.stage.checkpoint), "reused": self.reused, "seconds": round(self.seconds, 2)}

    def line(self) -> str:
        if self.reused:
            return f"base: reused {self.stage.fingerprint} ({self.stage.checkpoint})"
        return f"base: built in {self.seconds:.0f} s ({self.stage.checkpoint})"


def resolve_base(recipe: Recipe) -> BaseStage | None:
    """The base stage of ``recipe`` (None without ``[model] init``); nothing is built yet."""
    base = load_base_recipe(recipe)
    if base is None or base.path is None:
        return None
    seen = (recipe.path.resolve(),) if recipe.path else ()
    fingerprint = base_fingerprint(base, seen)
    return BaseStage(base, base.path.resolve(), fingerprint, cache_root(recipe) / fingerprint)


def ensure_base(stage: BaseStage, env: Any, build: Build, say: Callable[[str], None]) -> BaseResult:
    """Reuse ``stage``'s entry, or build it with ``build`` (every process of ``env`` takes part)."""
    from negkit.distributed import broadcast_from_main

    start = time.perf_counter()
    lock = None
    decision: tuple[str, bool] = ("reuse", False)
    if env.is_main and not stage.complete():
        lock = _wait_for_lock(stage, say)
        if not stage.complete():  # nobody built it while we waited
            from negkit import rundir as rd

            decision = ("build", (stage.run_dir / rd.RECIPE).is_file())
    if env.world > 1:
        decision = tuple(broadcast_from_main(list(decision)))  # type: ignore[assignment]
    try:
        if decision[0] == "build":
            _build(stage, build, decision[1], env.is_main, say)
            if env.is_main:
                _mark_complete(stage, time.perf_counter() - start)
    finally:
        if lock is not None:
            lock.release()
    env.barrier()
    return BaseResult(stage, decision[0] == "reuse", time.perf_counter() - start)


def _wait_for_lock(stage: BaseStage, say: Callable[[str], None]) -> Any:
    from negkit.locks import DirectoryLock

    told = False
    while True:
        try:
            return DirectoryLock(stage.folder, what="base cache entry").acquire()
        except RunLockedError as exc:
            if not told:
                say(f"base: waiting for the process building it ({exc})")
                told = True
            time.sleep(WAIT_POLL_S)


def _build(stage: BaseStage, build: Build, resume: bool, is_main: bool, say: Callable[[str], None]) -> None:
    how = "continuing" if resume else "building"
    say(f"base: {how} {stage.fingerprint} from {stage.path} in {stage.run_dir}")
    try:
        build(stage.recipe, stage.folder, resume, True)
    except IntegrityError as exc:  # a damaged checkpoint of the killed build: start it over
        if not resume:
            raise
        say(f"base: starting over ({exc})")
        build(stage.recipe, stage.folder, False, True)
    if is_main and not stage.checkpoint.is_file():
        raise TrainingError(f"base recipe {stage.path} finished without a final checkpoint ({stage.checkpoint})")


def _mark_complete(stage: BaseStage, seconds: float) -> None:
    from negkit import rundir as rd
    from negkit.version import __version__

    metrics_path = stage.run_dir / rd.METRICS
    metrics = rd.read_json(metrics_path).get("metrics", {}) if metrics_path.is_file() else {}
    rd.write_json(stage.folder / COMPLETE, {
        "fingerprint": stage.fingerprint, "format": FORMAT, "negkit": __version__, "recipe": str(stage.path),
        "checkpoint": str(stage.checkpoint.relative_to(stage.folder)), "metrics": metrics,
        "seconds": round(seconds, 2), "built": round(time.time(), 3)})


def start_from_base(stage: BaseStage, model: Any, model_name: str, env: Any, build: Build,
                    say: Callable[[str], None], run_dir: Path) -> BaseResult:
    """Reuse or build the base, load its final weights into ``model`` exactly, record ``base.json``."""
    from negkit import rundir as rd
    from negkit.train.model import load_weights

    result = ensure_base(stage, env, build, say)
    load_weights(model, stage.checkpoint, expected_model=model_name)
    if env.is_main:
        rd.write_json(run_dir / BASE_JSON, result.record())
    say(result.line())
    return result


# -- reference evaluations of the base ------------------------------------------------------------------------


def reference_key(recipe: Recipe, device: str) -> str:
    """What decides ``recipe``'s evaluation of its base besides the base's weights: its evaluators, data, seed
    and model section (precision, LoRA), the device type, negkit's version, the versions of its plugins and the
    source of the evaluation code (``EVAL_CODE``)."""
    from negkit.version import __version__

    resolved = json.loads(json.dumps(recipe.to_dict(), default=repr))
    model = {k: v for k, v in resolved.get("model", {}).items() if k != "init"}  # the fingerprint names the base
    payload = {"format": FORMAT, "negkit": __version__, "code": source_digest(EVAL_CODE, EVAL_MODULES),
               "eval": resolved.get("eval"), "data": resolved.get("data"),
               "model": model, "seed": recipe.run.seed, "device": device, "plugins": _plugin_versions(recipe)}
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def cached_reference(stage: BaseStage, key: str) -> Path | None:
    """The kept reference evaluation of ``stage`` under ``key``, or None."""
    from negkit import rundir as rd

    folder = stage.folder / REFERENCES / key
    return folder if (folder / rd.METRICS).is_file() else None


def keep_reference(stage: BaseStage, key: str, evaluated: Path) -> None:
    """Keep the reference folder ``evaluated`` in the entry under ``key``; one kept meanwhile by another run stays."""
    import shutil

    if cached_reference(stage, key) is None:
        final = stage.folder / REFERENCES / key
        shutil.rmtree(final, ignore_errors=True)  # what a killed copy left
        copy_folder(evaluated, final)


def copy_folder(source: Path, target: Path) -> None:
    """Copy ``source`` to a new ``target`` whole or not at all: into a private folder beside it, then one rename
    (a ``target`` that appeared meanwhile is kept)."""
    import shutil

    from negkit.atomic import temp_dir

    tmp = temp_dir(target)
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        tmp.rename(target)
    except OSError:
        if not target.exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def built_checkpoint(recipe: Recipe) -> Path:
    """The final checkpoint of the base ``recipe`` names, which must be built already (``negkit eval``)."""
    where = str(recipe.path) if recipe.path else None
    stage = resolve_base(recipe)
    if stage is None:
        raise RecipeError("no [model] init: this recipe starts from no base recipe", path=where, key="model.init")
    if not stage.complete():
        raise RecipeError(f"base recipe {stage.path} is not built yet (no {stage.folder / COMPLETE}); build it with "
                          f"`negkit base {where or 'RECIPE'}` or give --checkpoint", path=where, key="model.init")
    return stage.checkpoint


def build_base(recipe: Recipe, *, console: Any = None) -> BaseResult | None:
    """``negkit base``: build (or reuse) the base of ``recipe`` without running ``recipe`` itself."""
    from rich.console import Console

    from negkit.distributed import close_distributed, init_distributed
    from negkit.interrupts import handle_signals
    from negkit.pipeline import run_with_env

    console = console or Console()
    stage = resolve_base(recipe)
    if stage is None:
        return None
    env = init_distributed(recipe.run.device)

    def say(text: str) -> None:
        if env.is_main:
            console.print(text, highlight=False, markup=False, soft_wrap=True)

    try:
        with handle_signals():
            result = ensure_base(stage, env, lambda r, out, resume, force: run_with_env(
                r, out, resume=resume, force=force, env=env, console=console), say)
        say(result.line())
        return result
    finally:
        close_distributed(env)
