"""``report.md`` and its plots: the metrics table, the run's settings, and the logged values over steps."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from negkit.rundir import EVAL_META, PLOTS, REPORT, read_json, read_log, read_metrics

# Keys of log.jsonl that are bookkeeping, not curves worth a plot of their own.
_NOT_PLOTTED = {"step", "time", "epoch", "bad_images"}


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
        fig.savefig(path, dpi=110)
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
    images = plot_log(records, run_dir / PLOTS) if plots else []
    lines = [f"# negkit run: {run.get('name', run_dir.name)}", ""]
    facts = {
        "model": recipe.get("model", {}).get("name"),
        "pretrained": recipe.get("model", {}).get("pretrained") or "(random init)",
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
    lines += [metrics_table(data["metrics"]) if data["metrics"] else "(no evaluators in the recipe)"]
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
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
