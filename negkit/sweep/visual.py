"""How much a negative changes the picture, against how concrete its edited word is (issue 12, item 5).

On the shapes world the scene a caption describes can be drawn. For a sample of training captions of each
mined arm, each mined negative caption is read back into a caption plan (``parse``), turned into the scene it
describes (``described_scene``: the positive scene with the named attributes and the stated relation of the
negative), and drawn with every other choice of the scene kept (cells, jitter, tint, texture). The image-space
difference between the positive and the negative scene is then measured two ways:

- **pixels**: the mean absolute difference over pixels and channels (0-255);
- **embedding**: 1 - cosine similarity of the two images' embeddings under a trained model (a finished run's
  final checkpoint).

A negative that only moves filler words ("an idea of", "perhaps") describes the same scene: both differences
are 0, and the negative is still a true caption. A negative with a word the world does not have ("planet"),
or a broken word order, describes no scene of this world: it is counted as not drawable, and left out.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from negkit import rundir as rd
from negkit.data.shapes.captions import PREFIXES, RELATION_PHRASES, SUFFIXES, Mention, Plan, text
from negkit.data.shapes.scene import COLOURS, SHAPES, SIZES, Scene, holds
from negkit.errors import DataError

MD, CSV, FIGURE = "negatives.md", "negatives.csv", "plots/claims-negatives.png"


def parse(caption: str) -> Plan | None:
    """The caption plan whose text is exactly ``caption``, or None (a word or an order the world has not)."""
    for prefix in sorted(set(PREFIXES), key=len, reverse=True):
        if not caption.startswith(prefix):
            continue
        for suffix in sorted(set(SUFFIXES), key=len, reverse=True):
            core = caption[len(prefix):len(caption) - len(suffix)] if suffix else caption[len(prefix):]
            if suffix and not caption.endswith(suffix) or not core:
                continue
            plan = _parse_core(core.split(" "), prefix, suffix)
            if plan is not None and text(plan) == caption:
                return plan
    return None


def _noun_phrase(words: list[str], i: int) -> tuple[Mention, int] | None:
    if i >= len(words) or words[i] not in ("a", "an"):
        return None
    i += 1
    size = colour = None
    if i < len(words) and words[i] in SIZES:
        size, i = words[i], i + 1
    if i < len(words) and words[i] in COLOURS:
        colour, i = words[i], i + 1
    if i < len(words) and words[i] in SHAPES:
        return Mention(words[i], colour, size), i + 1
    return None


def _parse_core(words: list[str], prefix: str, suffix: str) -> Plan | None:
    first = _noun_phrase(words, 0)
    if first is None:
        return None
    mentions, i = [first[0]], first[1]
    relation, phrase = None, 0
    for rel, phrases in RELATION_PHRASES.items():
        for p, wording in enumerate(phrases):
            n = len(wording.split(" "))
            if words[i:i + n] == wording.split(" "):
                second = _noun_phrase(words, i + n)
                if second is not None and (relation is None or n > len(RELATION_PHRASES[relation][phrase].split())):
                    relation, phrase, found = rel, p, second
    if relation is not None:
        mentions.append(found[0])
        i = found[1]
    while i < len(words):
        if words[i] != "and":
            return None
        nxt = _noun_phrase(words, i + 1)
        if nxt is None:
            return None
        mentions.append(nxt[0])
        i = nxt[1]
    return Plan(tuple(mentions), relation, phrase, prefix, suffix)


FUNCTION_WORDS = frozenset({"a", "an", "and", "the", "to", "of"})
WORLD_WORDS = frozenset([*SHAPES, *COLOURS, *SIZES, *(w for phrases in RELATION_PHRASES.values() for p in phrases
                                                       for w in p.split(" "))]) - FUNCTION_WORDS


def filler_only(positive: Plan, negative: str) -> bool:
    """The negative keeps the positive's concrete part word for word and changes only the filler around it
    (no word of the world outside that part): it describes the positive's own scene, whatever the new filler
    words are ("an idea of" -> "a notion of")."""
    core = text(replace(positive, prefix="", suffix=""))
    head, found, tail = negative.partition(core)
    if not found:
        return False
    rest = (head + " " + tail).replace(",", " ").split()
    return not any(w in WORLD_WORDS for w in rest)


def described_scene(scene: Scene, plan: Plan) -> Scene | None:
    """The positive ``scene`` changed to show what ``plan`` says: each mention's named shape, colour and size
    on the object in its place (captions mention objects in scene order), and the stated relation (objects 0
    and 1 exchange cells for the opposite relation). None when the plan cannot be drawn from this scene (other
    object count, or a relation that moving two objects does not give)."""
    if len(plan.mentions) != len(scene.objects):
        return None
    objs = tuple(replace(o, shape=m.shape, colour=m.colour or o.colour, size=m.size or o.size)
                 for o, m in zip(scene.objects, plan.mentions))
    if plan.relation is not None and len(objs) >= 2 and not holds(plan.relation, objs[0], objs[1]):
        a, b = objs[0], objs[1]
        objs = (replace(a, row=b.row, col=b.col), replace(b, row=a.row, col=a.col), *objs[2:])
        if not holds(plan.relation, objs[0], objs[1]):
            return None
    return replace(scene, objects=objs, relation=plan.relation or scene.relation)


@dataclass
class Row:
    arm: str
    index: int
    positive: str
    negative: str
    kind: str
    concreteness: float
    drawable: bool
    same_scene: bool
    pixels: float
    embedding: float


def pixel_difference(a: Any, b: Any) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean())


def _model(run_dir: Path) -> tuple[Any, Any]:
    """The run's model with its final weights, and its image transform."""
    import torch

    from negkit.recipe import recipe_from_dict
    from negkit.train.model import create_model, load_weights

    recipe = recipe_from_dict(rd.read_json(run_dir / rd.RECIPE))
    metrics = rd.read_metrics(run_dir)
    checkpoint = metrics.get("checkpoint") or (metrics.get("train") or {}).get("checkpoint")
    if not checkpoint:
        finals = sorted((run_dir / rd.CHECKPOINTS).glob("final*"))
        checkpoint = finals[0] if finals else None
    if not checkpoint or not Path(checkpoint).exists():
        raise DataError(f"{run_dir}: no final checkpoint to embed images with (metrics.json names none)")
    clip = create_model(recipe.model, "cpu", seed=recipe.run.seed)
    load_weights(clip.model, Path(checkpoint), expected_model=recipe.model.name)
    clip.model.eval()

    def embed(images: list[Any]) -> Any:
        with torch.no_grad():
            x = torch.stack([clip.preprocess_val(im) for im in images])
            f = clip.model.encode_image(x)
            return torch.nn.functional.normalize(f.float(), dim=-1).numpy()

    return embed, checkpoint


def measure_arm(run_dir: Path, arm: str, embed: Any, sample: int, seed: int = 0) -> list[Row]:
    """Up to ``sample`` training captions of the run (a seeded sample) with their mined negatives, measured."""
    from negkit.factory import mining_plan
    from negkit.mining.stage import mine_cached
    from negkit.recipe import recipe_from_dict

    recipe = recipe_from_dict(rd.read_json(run_dir / rd.RECIPE))
    world = recipe.data.build()
    if not hasattr(world, "scene") or not hasattr(world, "render"):
        raise DataError(f"{run_dir}: its data source {recipe.data.source!r} cannot draw scenes (use shapes)")
    captions = world.captions("train")
    table = mine_cached(mining_plan(recipe), captions, progress=False, log=lambda _: None).dataset
    picks = sorted(random.Random(seed).sample(range(len(captions)), min(sample, len(captions))))
    rows: list[Row] = []
    pending: list[tuple[Row, Any, Any]] = []
    for i in picks:
        scene = world.scene("train", i)
        positive = world.plan("train", i, scene)
        image = world.render(scene)
        for neg in table[i]["negatives"]:
            plan = parse(neg["text"])
            target = described_scene(scene, plan) if plan is not None else None
            if target is None and filler_only(positive, neg["text"]):
                target = scene
            c = neg.get("concreteness")
            row = Row(arm, i, captions[i], neg["text"], neg.get("kind", ""), float("nan") if c is None else float(c),
                      target is not None, target == scene, float("nan"), float("nan"))
            if target is not None:
                other = image if target == scene else world.render(target)
                row.pixels = pixel_difference(image, other)
                pending.append((row, image, other))
            rows.append(row)
    for lo in range(0, len(pending), 128):
        chunk = pending[lo:lo + 128]
        a, b = embed([p[1] for p in chunk]), embed([p[2] for p in chunk])
        for (row, _, _), fa, fb in zip(chunk, a, b):
            row.embedding = float(max(0.0, 1.0 - float(fa @ fb)))
    return rows


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    rx, ry = (np.argsort(np.argsort(v[ok])).astype(float) for v in (x, y))
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def summarise(rows: list[Row]) -> list[dict[str, Any]]:
    out = []
    for arm in dict.fromkeys(r.arm for r in rows):
        mine = [r for r in rows if r.arm == arm]
        drawn = [r for r in mine if r.drawable]
        c = np.array([r.concreteness for r in drawn])
        px, em = np.array([r.pixels for r in drawn]), np.array([r.embedding for r in drawn])
        out.append({"arm": arm, "negatives": len(mine), "drawable": len(drawn) / max(1, len(mine)),
                    "same_scene": sum(r.same_scene for r in drawn) / max(1, len(mine)),
                    "concreteness": float(np.nanmean(c)) if np.isfinite(c).any() else float("nan"),
                    "pixels": float(px.mean()) if len(px) else float("nan"),
                    "embedding": float(em.mean()) if len(em) else float("nan"),
                    "rho_pixels": _spearman(c, px), "rho_embedding": _spearman(c, em)})
    return out


def figure(path: Path, rows: list[Row], model_run: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), sharex=True)
    rng = np.random.default_rng(0)
    for arm in dict.fromkeys(r.arm for r in rows):
        drawn = [r for r in rows if r.arm == arm and r.drawable and math.isfinite(r.concreteness)]
        if not drawn:
            continue
        c = np.array([r.concreteness for r in drawn]) + rng.uniform(-0.04, 0.04, len(drawn))
        for ax, values in zip(axes, ([r.pixels for r in drawn], [r.embedding for r in drawn])):
            ax.scatter(c, values, s=6, alpha=0.5, label=arm)
    axes[0].set_ylabel("mean |pixel difference| (0-255)", fontsize=7)
    axes[1].set_ylabel(f"1 - cos of image embeddings ({model_run})", fontsize=7)
    for ax in axes:
        ax.set_xlabel("concreteness of the edited word (1-5)", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6, markerscale=2)
    fig.suptitle("positive scene vs the scene its negative caption describes (drawable negatives)", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(summary: list[dict[str, Any]], model_run: str, sample: int) -> str:
    def f(v: float, pct: bool = False) -> str:
        return "-" if not math.isfinite(v) else (f"{100 * v:.1f}%" if pct else f"{v:.3f}")

    out = [f"Negatives of {sample} sampled training captions per mined arm, drawn as the scene they describe "
           f"(`negkit.sweep.visual`); embeddings from `{model_run}`. *drawable*: the negative describes a scene "
           f"of this world; *same scene*: it describes the positive's own scene (a filler-only edit, still true); "
           f"differences are means over drawable negatives; rho: Spearman correlation with concreteness.", "",
           "| arm | negatives | drawable | same scene | concreteness | pixel diff | embedding diff | rho pixels | "
           "rho embedding |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summary:
        out.append(f"| {s['arm']} | {s['negatives']} | {f(s['drawable'], True)} | {f(s['same_scene'], True)} | "
                   f"{f(s['concreteness'])} | {f(s['pixels'])} | {f(s['embedding'])} | {f(s['rho_pixels'])} | "
                   f"{f(s['rho_embedding'])} |")
    return "\n".join(out) + "\n"


def negative_arms(plan: dict[str, Any]) -> list[tuple[str, Path]]:
    """(label, run directory): one finished run (the first seed) per distinct mined table, labelled by its
    miners: arms with equal miners, k, data and mining seed mine the same negatives, so only the first of them
    is measured."""
    seen: set[str] = set()
    out = []
    for arm in plan["arms"]:
        runs = sorted((r for r in plan["runs"] if r["arm"] == arm["name"]), key=lambda r: r["seed"])
        run = next((r for r in runs if (Path(r["run_dir"]) / rd.METRICS).is_file()), None)
        if run is None:
            continue
        recipe = rd.read_json(Path(run["run_dir"]) / rd.RECIPE)
        mining = recipe.get("mining", {})
        if not recipe.get("miners") or not mining.get("k"):
            continue
        key = repr((recipe["miners"], mining.get("k"), mining.get("seed"), recipe.get("data")))
        if key not in seen:
            seen.add(key)
            label = "+".join(m.get("name", "?") for m in recipe["miners"])
            if any(label == other for other, _ in out):
                label = f"{label} ({arm['name']})"
            out.append((label, Path(run["run_dir"])))
    return out


def write_negatives(sweep_dir: Path, *, sample: int = 300, model_arm: str | None = None) -> tuple[str, Path]:
    """Measure every distinct mined arm of a finished sweep; write negatives.md, negatives.csv and the figure.
    Returns the Markdown table and the figure's path."""
    from negkit.sweep.plan import read_plan

    sweep_dir = Path(sweep_dir)
    plan = read_plan(sweep_dir)
    model_arm = model_arm or plan.get("baseline") or plan["arms"][0]["name"]
    model_runs = sorted((r for r in plan["runs"] if r["arm"] == model_arm), key=lambda r: r["seed"])
    model_run = next((Path(r["run_dir"]) for r in model_runs if (Path(r["run_dir"]) / rd.METRICS).is_file()), None)
    if model_run is None:
        raise DataError(f"{sweep_dir}: arm {model_arm!r} has no finished run to embed images with")
    embed, _ = _model(model_run)
    rows: list[Row] = []
    for arm, run_dir in negative_arms(plan):
        rows += measure_arm(run_dir, arm, embed, sample)
    if not rows:
        raise DataError(f"{sweep_dir}: no finished run with mined negatives")
    table = markdown(summarise(rows), model_run.name, sample)
    (sweep_dir / MD).write_text(table, encoding="utf-8")
    with (sweep_dir / CSV).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(list(Row.__dataclass_fields__))
        for r in rows:
            w.writerow([getattr(r, k) for k in Row.__dataclass_fields__])
    return table, figure(sweep_dir / FIGURE, rows, model_run.name)
