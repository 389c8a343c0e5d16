"""The shapes comparison behind docs/results.md: four recipes x three seeds, then one table.

    .venv/bin/python benchmarks/shapes_results.py --jobs 2      # what docs/results.md ran
    .venv/bin/python benchmarks/shapes_results.py --seeds 0 --out runs/shapes-results-quick
    .venv/bin/python benchmarks/shapes_results.py --image-arms --out runs/shapes-image-arms   # + image negatives

First the mining stage of each recipe with miners is filled once (``negkit mine``; the shapes recipes fix
``[mining] seed``, so every seed reuses the same negatives). Each run is
``negkit run recipes/shapes/<recipe>.toml --set run.seed=N --set run.name=<recipe>-sN --out OUT`` (skipped
when OUT/<recipe>-sN/metrics.json exists, so an interrupted sweep resumes); the ``untrained`` column is
plain-clip with ``train.epochs=0`` (the same initial model, evaluated). With ``--jobs 2`` two runs go at a
time with one thread each. Then ``negkit compare`` writes the per-run table to OUT/compare.md, and this
script writes the mean and spread (sample standard deviation over seeds) of the headline metrics to
OUT/summary.md and OUT/summary.json, and what each miner does to shapes captions to OUT/miners.md.
The world's data seed is fixed; ``run.seed`` changes the model's initialisation and the data order.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPES = ("plain-clip", "random-swap-infonce", "concrete-plant-infonce", "slipform")
# The reference column: plain-clip's model and evaluation with no training step (chance level, per seed).
REFERENCE = {"untrained": ("plain-clip", ["train.epochs=0"])}
# The image-negative arms (--image-arms): image negatives only, and text + image negatives; text only is
# concrete-plant-infonce, none is plain-clip.
IMAGE_ARMS = ("image-negatives-infonce", "text-and-image-infonce")
COLUMNS = ("untrained", *RECIPES, *IMAGE_ARMS)
HEADLINE = (
    ("shapes-compositional/macro/acc", "compositional macro"),
    ("shapes-compositional/micro/acc", "compositional micro"),
    ("shapes-compositional/replace-obj/acc", "replace-obj"),
    ("shapes-compositional/replace-att/acc", "replace-att"),
    ("shapes-compositional/replace-rel/acc", "replace-rel"),
    ("shapes-compositional/swap-obj/acc", "swap-obj"),
    ("shapes-compositional/swap-att/acc", "swap-att"),
    ("shapes-compositional/add-obj/acc", "add-obj"),
    ("shapes-compositional/add-att/acc", "add-att"),
    ("shapes-compositional/shuffle/acc", "shuffle"),
    ("shapes-compositional/novel/acc", "held-out combos"),
    ("retrieval/mean/R", "retrieval mean R"),
    ("zero-shot/shape/acc", "zero-shot shape"),
    ("zero-shot/colour/acc", "zero-shot colour"),
)


def negkit() -> list[str]:
    return [sys.executable, "-m", "negkit"]


def run_one(column: str, seed: int, out: Path, extra: list[str], threads: int | None = None) -> Path:
    recipe, sets = REFERENCE.get(column, (column, []))
    extra = [*extra, *sets]
    name = f"{column}-s{seed}"
    run_dir = out / name
    if (run_dir / "metrics.json").is_file():
        print(f"= {name}: done before, reusing {run_dir}", flush=True)
        return run_dir
    cmd = [*negkit(), "run", str(REPO / "recipes" / "shapes" / f"{recipe}.toml"), "--set", f"run.seed={seed}",
           "--set", f"run.name={name}", "--out", str(out), "--force", *[a for s in extra for a in ("--set", s)]]
    print("+", " ".join(cmd[2:]), flush=True)
    start = time.time()
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL, env=env)
    print(f"  {name}: {time.time() - start:.0f} s", flush=True)
    return run_dir


def metric(metrics: dict, key: str) -> float | None:
    """A metric by key; evaluators listed twice in a recipe are stored as ``name[i]/...``."""
    if key in metrics:
        return metrics[key]
    head, _, rest = key.partition("/")
    for k, v in metrics.items():
        if k.startswith(head + "[") and k.split("/", 1)[1] == rest:
            return v
    return None


def summarise(out: Path, seeds: list[int]) -> tuple[str, dict]:
    table: dict[str, dict[str, list[float]]] = {}
    for recipe in COLUMNS:
        for seed in seeds:
            path = out / f"{recipe}-s{seed}" / "metrics.json"
            if not path.is_file():
                continue
            metrics = json.loads(path.read_text())["metrics"]
            for key, _ in HEADLINE:
                value = metric(metrics, key)
                if value is not None:
                    table.setdefault(recipe, {}).setdefault(key, []).append(value)
    columns = [c for c in COLUMNS if c in table or c not in IMAGE_ARMS]
    lines = ["| metric | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for key, label in HEADLINE:
        cells = []
        for recipe in columns:
            values = table.get(recipe, {}).get(key, [])
            if not values:
                cells.append("-")
            elif len(values) == 1:
                cells.append(f"{100 * values[0]:.1f}")
            else:
                cells.append(f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    runs = {r: len(next(iter(table.get(r, {}).values()), [])) for r in columns}
    lines.append("")
    lines.append("Values in %, mean ± sample standard deviation over seeds; runs per recipe: "
                 + ", ".join(f"{r} {n}" for r, n in runs.items()) + ".")
    return "\n".join(lines) + "\n", table


def miner_diagnostics(n: int = 2000) -> str:
    """What each miner does to ``n`` shapes training captions: how many of its negatives change only filler
    (the concrete words and their order are unchanged, so the caption is still true of the image), and how
    many put only words of the world's vocabulary in (a shape, colour, size or relation word)."""
    from negkit.data.shapes import ShapesWorld
    from negkit.data.shapes.captions import FILLER_WORDS
    from negkit.data.shapes.scene import COLOURS, SHAPES, SIZES
    from negkit.plugins import get_component

    vocab = set(SHAPES) | set(COLOURS) | set(SIZES) | {"left", "right", "above", "below", "over", "under"}

    def concrete(text: str) -> list[str]:
        return [w for w in text.replace(",", "").split() if w not in FILLER_WORDS
                and w not in ("a", "an", "the", "of", "to", "and")]

    captions = ShapesWorld(train_size=n).captions("train")
    lines = [f"| miner | negatives (of {n}) | filler-only edits: still true | new words all in the world's vocabulary |"
             " most frequent new words |", "|---|---|---|---|---|"]
    for name in ("random-swap", "concrete-plant"):
        mined = [(c, negs[0]) for c, negs in zip(captions, get_component("miners", name)().mine(
            captions, k=1, seed=0)) if negs]
        still_true = sum(concrete(neg.text) == concrete(c) for c, neg in mined)
        in_vocab = sum(all(w in vocab for e in neg.edits for w in e.after.split()) for _, neg in mined)
        counts: dict[str, int] = {}
        for _, neg in mined:
            for e in neg.edits:
                counts[e.after] = counts.get(e.after, 0) + 1
        top = ", ".join(w for w, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:8])
        lines.append(f"| {name} | {len(mined)} | {100 * still_true / len(mined):.1f}% | "
                     f"{100 * in_vocab / len(mined):.1f}% | {top} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", default=None, choices=COLUMNS,
                        help="default: every column but the image-negative arms")
    parser.add_argument("--image-arms", action="store_true",
                        help="also run the image-negative arms (image only, text + image)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "shapes-results")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (each then uses one thread)")
    parser.add_argument("--set", dest="extra", action="append", default=[],
                        help="extra --set for every run (e.g. train.max_steps=50 for a smoke test)")
    args = parser.parse_args()
    if args.recipes is None:
        args.recipes = [c for c in COLUMNS if c not in IMAGE_ARMS or args.image_arms]
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    for recipe in args.recipes:  # fill the mining cache once, before runs share it
        if recipe in (*RECIPES, *IMAGE_ARMS) and recipe not in ("plain-clip", "image-negatives-infonce"):
            subprocess.run([*negkit(), "mine", str(REPO / "recipes" / "shapes" / f"{recipe}.toml"), "--no-progress",
                            *[a for s in args.extra for a in ("--set", s)]], check=True, cwd=REPO)
    # seed-major: an interrupted sweep still has every recipe at the first seeds
    jobs = [(recipe, seed) for seed in args.seeds for recipe in args.recipes]
    threads = 1 if args.jobs > 1 else None
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        done = list(pool.map(lambda job: run_one(*job, args.out, args.extra, threads), jobs))
    subprocess.run([*negkit(), "compare", *map(str, done), "--markdown", str(args.out / "compare.md")],
                   check=True, cwd=REPO)
    (args.out / "miners.md").write_text(miner_diagnostics(), encoding="utf-8")
    summary, table = summarise(args.out, args.seeds)
    (args.out / "summary.md").write_text(summary, encoding="utf-8")
    (args.out / "summary.json").write_text(json.dumps(table, indent=1), encoding="utf-8")
    print(summary)


if __name__ == "__main__":
    main()
