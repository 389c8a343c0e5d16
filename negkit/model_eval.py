"""``negkit eval --model``: any open_clip model (a pretrained tag, a local checkpoint or random init) on named
suites or evaluators, without a recipe, written to a run directory like ``negkit run``'s.

The run directory holds ``metrics.json``, ``eval_meta.json`` (each evaluator's rules and missing-image
counts), ``items.jsonl`` (per-item results), ``recipe.json`` (the model and the evaluator tables that ran),
``env.json`` and ``report.md``, so ``negkit compare`` and ``negkit report`` treat it like a trained run.
"""

from __future__ import annotations

import re
import time
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from negkit.errors import NegkitError, RecipeError

SUITES: dict[str, tuple[str, ...]] = {
    "compositional": ("compositional-suite",),
    "general": ("clip-benchmark",),
    "all": ("compositional-suite", "clip-benchmark"),
}


@dataclass
class ModelEvalResult:
    run_dir: Path
    metrics: dict[str, float]
    report: Path | None


def quickgelu_warning(model: str, pretrained: str) -> str | None:
    """The QuickGELU trap: OpenAI's weights were trained with QuickGELU, and open_clip >= 2.29 no longer
    switches ``ViT-B-32`` + ``openai`` to it, so the plain name silently scores a different network."""
    from negkit.train.model import uses_quickgelu

    if pretrained.strip().lower() != "openai" or uses_quickgelu(model):
        return None
    return (f"--model {model} --pretrained openai: OpenAI's weights were trained with QuickGELU, but {model!r} "
            f"uses GELU in this open_clip, so every score changes (several published tables made this mistake); "
            f"use --model {model}-quickgelu")


def parse_settings(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """``["sugarcrepe.limit=50", "aro.tasks=['vg-relation']"]`` -> per evaluator, its parameters (values as
    TOML, else plain strings)."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        name, dot, param = key.strip().rpartition(".")
        if not sep or not dot or not name or not param:
            raise RecipeError(f"--set {pair!r}: expected EVALUATOR.KEY=VALUE (e.g. sugarcrepe.limit=50)")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        out.setdefault(name, {})[param] = value
    return out


def eval_tables(suite: str | None, evaluators: list[str], data_root: Path | None,
                settings: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The ``[[eval]]`` tables to run: a suite's and the named evaluators', each pointed at ``data_root``'s
    layout (``negkit data get --to``) and then given ``settings``."""
    from negkit.eval.tasks.suite import BENCHMARKS, default_settings

    if suite is not None and suite not in SUITES:
        raise RecipeError(f"--suite {suite!r}: choose from {', '.join(SUITES)}")
    names = list(dict.fromkeys([*(SUITES[suite] if suite else ()), *evaluators]))
    if not names:
        raise RecipeError("nothing to evaluate: give --suite compositional|general|all or --eval NAME")
    settings = settings or {}
    unknown = [k for k in settings if k not in names]
    if unknown:
        raise RecipeError(f"--set {unknown[0]}.…: {unknown[0]!r} is not among the evaluators that run "
                          f"({', '.join(names)})")
    tables = []
    for name in names:
        args: dict[str, Any] = {}
        if data_root is not None:
            if name == "compositional-suite":
                args = {"data_root": str(data_root)}
            elif name == "clip-benchmark":
                args = {"dataset_root": str(data_root / "clip_benchmark")}
            elif name in BENCHMARKS:
                args = default_settings(name, data_root)
        args.update(settings.get(name, {}))
        tables.append({"name": name, **args})
    return tables


def run_label(model: str, pretrained: str) -> str:
    label = Path(pretrained).stem if ("/" in pretrained or Path(pretrained).suffix) else (pretrained or "random")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"eval-{model}-{label}").strip("-")


def evaluate_pretrained(model: str, pretrained: str, tables: list[dict[str, Any]], out: Path, *,
                        run_name: str = "", device: str = "auto", batch_size: int = 256, seed: int = 0,
                        precision: str = "", force: bool = False, say: Any = None,
                        workers: int | None = None) -> ModelEvalResult:
    """Build ``model`` with ``pretrained`` weights, run ``tables`` on it and write the run directory
    ``out/<run_name>`` (default name: ``eval-<model>-<weights>``); ``workers`` image-loading processes
    (None: ``negkit.eval.loading.default_workers()``)."""
    from negkit import rundir as rd
    from negkit.distributed import resolve_device
    from negkit.factory import evaluators_from_tables
    from negkit.report.report import write_report
    from negkit.sections import ModelConfig
    from negkit.train.evaluate import evaluate_model
    from negkit.train.loop import resolve_precision
    from negkit.train.model import QuickGELUWarning, create_model

    message = quickgelu_warning(model, pretrained)
    if message:
        warnings.warn(message, QuickGELUWarning, stacklevel=2)
    evaluators = evaluators_from_tables(tables)  # bad settings fail before the model is built
    run_dir = Path(out) / (run_name or run_label(model, pretrained))
    if (run_dir / rd.METRICS).is_file() and not force:
        raise NegkitError(f"{run_dir} already holds results; pass --force to replace them or --name to pick "
                          f"another run name")
    run_dir.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    cfg = ModelConfig(name=model, pretrained=pretrained,
                      precision=precision or ("amp_bf16" if dev.type == "cuda" else "fp32"))
    started = time.time()
    clip = create_model(cfg, dev, seed=seed)
    rd.write_json(run_dir / rd.RECIPE, {"run": {"name": run_dir.name, "seed": seed, "device": str(dev)},
                                        "model": cfg.model_dump(), "eval": tables})
    rd.write_json(run_dir / rd.ENV, rd.environment(str(dev)))
    metrics = evaluate_model(clip, evaluators, dev, resolve_precision(cfg.precision, dev).autocast, seed=seed,
                             out_dir=run_dir, batch_size=batch_size, say=say, workers=workers)
    info = {"name": run_dir.name, "kind": "eval", "model": model, "pretrained": pretrained or "(random init)",
            "quick_gelu": clip.info.get("quick_gelu"), "wall_seconds": round(time.time() - started, 2)}
    rd.write_json(run_dir / rd.METRICS, {"run": info, "metrics": metrics})
    report = write_report(run_dir, plots=False)
    return ModelEvalResult(run_dir, metrics, report)


def write_checkpoint_metrics(path: Path, run_name: str, checkpoint: str, recipe: str,
                             metrics: dict[str, float]) -> None:
    """``negkit eval RECIPE --output``: the metrics of a recipe's evaluators on a checkpoint, as JSON."""
    from negkit.rundir import write_json

    write_json(path, {"run": {"name": run_name, "checkpoint": checkpoint, "recipe": recipe}, "metrics": metrics})


HEADLINE_SUFFIXES = ("/score", "comp-avg", "partial-avg", "/avg", "/avg-r1", "/acc1", "/macro/acc")


def headline_metrics(metrics: dict[str, float], most: int = 40) -> dict[str, float]:
    """The metrics worth a terminal table when there are many: each evaluation set's single number and the
    suite means (all of them are in metrics.json and report.md)."""
    if len(metrics) <= most:
        return metrics
    return {k: v for k, v in metrics.items() if k.endswith(HEADLINE_SUFFIXES)}
