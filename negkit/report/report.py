"""``report.md`` and its plots: a headline (the recipe's main metrics before and after training), a bar chart per
compositional evaluation category against that reference, the run's settings, the full metrics table, and the
logged values over steps."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from negkit.atomic import atomic_write, write_text
from negkit.rundir import EVAL_META, METRICS, PLOTS, REFERENCE, REPORT, read_json, read_log, read_metrics

# Keys of log.jsonl that are bookkeeping, not curves worth a plot of their own.
_NOT_PLOTTED = {"step", "time", "epoch", "bad_images"}
# The headline when the recipe names none ([report] headline): each evaluator's summary metric.
HEADLINE_SUFFIXES = ("/macro/acc", "/mean/R", "/avg", "/group")
# Per-category accuracies of a compositional evaluator: "<evaluator>/<category>/acc" beside its macro/acc.
_NOT_CATEGORIES = {"micro", "macro", "novel"}


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) >= 2:  # counts (items, images) read better without decimals
            return str(int(value))
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


def evaluation_rules(run_dir: Path) -> list[str]:
    """One line per evaluator setting worth stating beside its numbers (tie rules, seeds, filters)."""
    path = Path(run_dir) / EVAL_META
    if not path.is_file():
        return []
    lines = []
    for evaluator, notes in read_json(path).items():
        if not isinstance(notes, dict):
            notes = {"note": notes}
        simple = [f"{k}: {v}" for k, v in notes.items() if isinstance(v, (str, int, float, bool))]
        if simple:
            lines.append(f"{evaluator}: " + "; ".join(simple))
    return lines


def metrics_table(metrics: dict[str, float]) -> str:
    rows = ["| metric | value |", "|---|---|"]
    rows += [f"| {key} | {fmt(value)} |" for key, value in sorted(metrics.items())]
    return "\n".join(rows)


def headline_keys(metrics: dict[str, float], named: list[str] | None = None) -> list[str]:
    """The metrics ``report.md`` opens with: those the recipe names, else each evaluator's summary metric."""
    if named:
        return [k for k in named if k in metrics]
    return [k for k in sorted(metrics) if k.endswith(HEADLINE_SUFFIXES)]


def read_reference(run_dir: Path) -> dict[str, float]:
    """The run's step-0 evaluation (empty when there is none)."""
    path = Path(run_dir) / REFERENCE / METRICS
    return read_metrics(path.parent)["metrics"] if path.is_file() else {}


def headline_table(metrics: dict[str, float], reference: dict[str, float], keys: list[str]) -> str:
    if not reference:
        return metrics_table({k: metrics[k] for k in keys})
    rows = ["| metric | before training | after | change |", "|---|---|---|---|"]
    for key in keys:
        before, after = reference.get(key), metrics[key]
        known = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (before, after))
        change = f"{after - before:+.4f}" if known else "-"
        rows.append(f"| {key} | {fmt(before)} | {fmt(after)} | {change} |")
    return "\n".join(rows)


def category_accuracies(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """``{evaluator: {category: acc}}`` for every evaluator that reports a macro accuracy over categories."""
    out: dict[str, dict[str, float]] = {}
    for key in metrics:
        if key.endswith("/macro/acc"):
            name = key[: -len("/macro/acc")]
            cats = {k[len(name) + 1: -len("/acc")]: v for k, v in metrics.items()
                    if k.startswith(name + "/") and k.endswith("/acc") and k.count("/") == name.count("/") + 2}
            cats = {c: v for c, v in cats.items() if c not in _NOT_CATEGORIES}
            if cats:
                out[name] = dict(sorted(cats.items()))
    return out


def plot_categories(metrics: dict[str, float], reference: dict[str, float], out_dir: Path) -> Path | None:
    """One bar chart per compositional evaluator: accuracy per category, after training beside before."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    after = category_accuracies(metrics)
    if not after:
        return None
    before = category_accuracies(reference)
    fig, axes = plt.subplots(len(after), 1, figsize=(max(6.0, 0.9 * max(map(len, after.values())) + 2), 3.2 *
                                                      len(after)), squeeze=False)
    for ax, (name, cats) in zip(axes.flat, after.items()):
        xs = range(len(cats))
        ref = before.get(name, {})
        width = 0.4 if ref else 0.7
        if ref:
            ax.bar([x - width / 2 for x in xs], [ref.get(c, math.nan) for c in cats], width, label="before training",
                   color="#b0b0b0")
        ax.bar([x + (width / 2 if ref else 0) for x in xs], list(cats.values()), width, label="after",
               color="#3b75af")
        ax.set_xticks(list(xs), list(cats), rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 1.12)  # headroom for the legend above the bars
        ax.set_ylabel("accuracy", fontsize=8)
        ax.set_title(name, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", ncol=2, frameon=False)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "categories.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_log(records: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Two PNGs: loss terms (keys ending in "loss") and every other logged diagnostic, over steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not records:
        return []
    keys = []
    for rec in records:
        for key, value in rec.items():
            if key not in _NOT_PLOTTED and isinstance(value, (int, float)) and key not in keys:
                keys.append(key)
    groups = {"losses": [k for k in keys if k.endswith("loss")],
              "diagnostics": [k for k in keys if not k.endswith("loss")]}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for title, group in groups.items():
        if not group:
            continue
        cols = min(3, len(group))
        rows = math.ceil(len(group) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
        for ax, key in zip(axes.flat, group):
            pts = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if len(pts) < 30 else None, lw=1.2)
            ax.set_title(key, fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(group):]:
            ax.axis("off")
        fig.suptitle(title)
        fig.tight_layout()
        path = out_dir / f"{title}.png"
        with atomic_write(path, "wb", what="plot") as fh:
            fig.savefig(fh, format="png", dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _selection(mining: dict) -> str | None:
    if mining.get("select") != "hardest":
        return None
    return f"hardest {mining.get('k')} of {mining.get('candidates')} candidates, by the current model"


def _sampler(spec: dict | None, stats: dict | None) -> str | None:
    if not spec or spec.get("name", "random") == "random":
        return None
    args = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "name")
    counts = ", ".join(f"{k} {v}" for k, v in (stats or {}).items() if k != "name")
    return f"{spec['name']}({args})" + (f"; {counts}" if counts else "")


def write_report(run_dir: Path, *, plots: bool = True) -> Path:
    """Write ``report.md`` (and ``plots/``) from the run directory's files."""
    run_dir = Path(run_dir)
    data = read_metrics(run_dir)
    run = data.get("run", {})
    recipe = read_json(run_dir / "recipe.json") if (run_dir / "recipe.json").is_file() else {}
    records = read_log(run_dir)
    metrics = data["metrics"]
    reference = read_reference(run_dir)
    images = plot_log(records, run_dir / PLOTS) if plots else []
    chart = plot_categories(metrics, reference, run_dir / PLOTS) if plots else None
    lines = [f"# negkit run: {run.get('name', run_dir.name)}", ""]
    named = recipe.get("report", {}).get("headline") or []
    keys = headline_keys(metrics, named)
    unknown = [k for k in named if k not in metrics]
    if keys:
        against = ("against the same model before its first training step (`reference/metrics.json`)"
                   if reference else "(no reference: the run did not train, or `[report] reference = false`)")
        lines += ["## Headline", "", f"The recipe's main metrics {against}:", "", headline_table(metrics, reference,
                                                                                                  keys), ""]
    if unknown:
        lines += [f"([report] headline names metrics this run does not have: {', '.join(unknown)})", ""]
    if chart is not None:
        lines += [f"![accuracy per category]({PLOTS}/{chart.name})", ""]
    lines += ["## Run", ""]
    facts = {
        "model": recipe.get("model", {}).get("name"),
        "pretrained": recipe.get("model", {}).get("pretrained") or (
            f"the final checkpoint of base recipe {recipe['model']['init']} ([model] init)"
            if recipe.get("model", {}).get("init") else "(random init)"),
        "data": recipe.get("data", {}).get("source"),
        "miners": ", ".join(m["name"] for m in recipe.get("miners", [])) or "(none)",
        "losses": ", ".join(f"{m['name']} x{m.get('weight', 1.0)}" for m in recipe.get("losses", [])) or "(none)",
        "negatives per caption (k)": recipe.get("mining", {}).get("k"),
        "negative selection": _selection(recipe.get("mining", {})),
        "batch sampler": _sampler(recipe.get("sampler"), run.get("sampler")),
        "image negatives per caption": run.get("image_negatives"),
        "losses that ignore image negatives": ", ".join(run["losses_ignoring_image_negatives"]) or "(none)"
        if run.get("losses_ignoring_image_negatives") is not None else None,
        "steps": run.get("steps"),
        "samples": run.get("samples"),
        "train time (s)": run.get("train_seconds"),
        "skipped images": run.get("bad_images"),
        "seed": recipe.get("run", {}).get("seed"),
    }
    lines += [f"- {k}: {fmt(v)}" for k, v in facts.items() if v is not None]
    lines += ["", "## Metrics", ""]
    lines += [metrics_table(metrics) if metrics else "(no evaluators in the recipe)"]
    rules = evaluation_rules(run_dir)
    if rules:
        lines += ["", "## How the metrics were computed", ""] + [f"- {line}" for line in rules]
    if records:
        last = records[-1]
        numbers = {k: v for k, v in last.items() if k != "time" and isinstance(v, (int, float))}
        lines += ["", "## Last logged step", "", metrics_table(numbers)]
    if images:
        lines += ["", "## Plots", ""]
        lines += [f"![{p.stem}]({PLOTS}/{p.name})" for p in images]
    lines += ["", "Files: `recipe.json` (resolved recipe), `log.jsonl`, `metrics.json`, `checkpoints/`, "
              "`env.json`, `plugins.json`.", ""]
    path = run_dir / REPORT
    write_text(path, "\n".join(lines), what="report")
    return path
