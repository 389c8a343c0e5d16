"""``negkit sweep summary``: per arm and metric the mean over seeds with a bootstrap interval; per arm the
paired difference from the baseline; written as summary.md, summary.csv, summary.json and plots/summary.png
in the sweep directory. It reads only the sweep directory (sweep.json and the runs' metrics and items)."""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from negkit import rundir as rd
from negkit.errors import DataError
from negkit.sweep.plan import STATUS_JSON, read_plan
from negkit.sweep.stats import Interval, mean_interval, paired_difference

MD, CSV, JSON, PLOT = "summary.md", "summary.csv", "summary.json", "plots/summary.png"


@dataclass
class Row:
    arm: str
    metric: str
    mean: Interval
    diff: Interval | None  # vs the baseline (None for the baseline itself, or without one)
    seeds: list[int]


def _lookup(table: dict[str, Any], key: str) -> Any:
    """``table[key]``; an evaluator listed twice in a recipe stores ``name[i]/...``: the first that matches."""
    if key in table:
        return table[key]
    head, _, rest = key.partition("/")
    for k, v in table.items():
        if k.startswith(head + "[") and k.split("/", 1)[1] == rest:
            return v
    return None


def metric_value(metrics: dict[str, Any], key: str) -> float | None:
    return _lookup(metrics, key)


def item_group(items: dict[str, dict[str, float]], metric: str) -> dict[str, float] | None:
    """The per-item results behind a metric: the group named like it, or like it without ``/acc``
    (``swap-att/acc`` is made of the items of ``swap-att``)."""
    found = _lookup(items, metric)
    if found is None and metric.endswith("/acc"):
        found = _lookup(items, metric[:-4])
    return found


def collect(sweep_dir: Path) -> tuple[dict[str, Any], dict[str, dict[int, dict[str, Any]]], dict[str, dict[int, Path]]]:
    """The plan, the finished runs' metrics by arm and seed, and their run directories (leaving out runs the
    last ``sweep run`` marked failed, such as a run finished with another recipe)."""
    plan = read_plan(sweep_dir)
    status_path = Path(sweep_dir) / STATUS_JSON
    status = rd.read_json(status_path) if status_path.is_file() else {}
    metrics: dict[str, dict[int, dict[str, Any]]] = {}
    dirs: dict[str, dict[int, Path]] = {}
    for run in plan["runs"]:
        if status.get(run["name"], {}).get("state") == "failed":
            continue
        run_dir = Path(run["run_dir"])
        if not run_dir.is_absolute() and not run_dir.exists():
            run_dir = Path(sweep_dir) / "runs" / run["name"]
        if (run_dir / rd.METRICS).is_file():
            metrics.setdefault(run["arm"], {})[run["seed"]] = rd.read_metrics(run_dir)["metrics"]
            dirs.setdefault(run["arm"], {})[run["seed"]] = run_dir
    return plan, metrics, dirs


def summarise(sweep_dir: Path) -> tuple[dict[str, Any], list[Row]]:
    plan, metrics, dirs = collect(sweep_dir)
    if not metrics:
        raise DataError(f"{sweep_dir}: no finished run yet (no runs/*/metrics.json); run `negkit sweep run` first")
    resamples, confidence, seed = plan["bootstrap"], plan["confidence"], plan["bootstrap_seed"]
    baseline = plan.get("baseline")
    items_cache: dict[Path, dict[str, dict[str, float]]] = {}

    def items_of(path: Path) -> dict[str, dict[str, float]]:
        if path not in items_cache:
            items_cache[path] = rd.read_items(path)
        return items_cache[path]

    rows = []
    for arm in [a["name"] for a in plan["arms"]]:
        for key in plan["metrics"]:
            by_seed = {s: metric_value(m, key) for s, m in metrics.get(arm, {}).items()}
            by_seed = {s: float(v) for s, v in by_seed.items() if isinstance(v, (int, float)) and math.isfinite(v)}
            mean = mean_interval(list(by_seed.values()), resamples=resamples, confidence=confidence, seed=seed)
            diff = None
            if baseline and arm != baseline and baseline in metrics:
                diff = _difference(key, arm, baseline, metrics, dirs, items_of, resamples, confidence, seed)
            rows.append(Row(arm, key, mean, diff, sorted(by_seed)))
    return plan, rows


def _difference(key: str, arm: str, baseline: str, metrics: dict, dirs: dict, items_of: Any, resamples: int,
                confidence: float, seed: int) -> Interval:
    seeds = sorted(set(metrics.get(arm, {})) & set(metrics[baseline]))
    groups = [(item_group(items_of(dirs[arm][s]), key), item_group(items_of(dirs[baseline][s]), key)) for s in seeds]
    if seeds and all(a is not None and b is not None for a, b in groups):
        common = set.intersection(*(set(a) & set(b) for a, b in groups))
        ids = sorted(common)
        if ids:
            a = np.array([[g[0][i] for i in ids] for g in groups])
            b = np.array([[g[1][i] for i in ids] for g in groups])
            return paired_difference(a, b, resamples=resamples, confidence=confidence, seed=seed)
    values = [(metric_value(metrics[arm][s], key), metric_value(metrics[baseline][s], key)) for s in seeds]
    values = [(x, y) for x, y in values if isinstance(x, (int, float)) and isinstance(y, (int, float))]
    return paired_difference(np.array([x for x, _ in values]), np.array([y for _, y in values]),
                             resamples=resamples, confidence=confidence, seed=seed)


def _num(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _signed(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:+.4f}"


def markdown(plan: dict[str, Any], rows: list[Row]) -> str:
    arms = list(dict.fromkeys(r.arm for r in rows))
    level = round(100 * plan["confidence"])
    cell = {(r.arm, r.metric): r for r in rows}
    out = [f"# Sweep {plan['name']}", "",
           f"Mean over seeds [{level}% bootstrap interval over seeds]; seeds: {', '.join(map(str, plan['seeds']))} "
           f"(varying: {', '.join(plan['vary'])}); {plan['bootstrap']} resamples, seed {plan['bootstrap_seed']}.", "",
           "| metric | " + " | ".join(arms) + " |", "|---|" + "---:|" * len(arms)]
    for metric in plan["metrics"]:
        cells = []
        for arm in arms:
            m = cell[(arm, metric)].mean
            cells.append("-" if not m.n else f"{_num(m.value)} [{_num(m.low)}, {_num(m.high)}] (n={m.n})")
        out.append(f"| {metric} | " + " | ".join(cells) + " |")
    others = [a for a in arms if a != plan.get("baseline")]
    if plan.get("baseline") and others:
        out += ["", f"## Difference from the baseline `{plan['baseline']}`", "",
                f"Arm minus baseline, paired on the same seeds and, where the runs recorded per-item results, the "
                f"same items (bootstrap over seeds x items); [{level}% interval], two-sided p-value.", "",
                "| metric | " + " | ".join(others) + " |", "|---|" + "---:|" * len(others)]
        for metric in plan["metrics"]:
            cells = []
            for arm in others:
                d = cell[(arm, metric)].diff
                if d is None or not d.n:
                    cells.append("-")
                    continue
                paired = f"{d.n} seeds x {d.items} items" if d.items else f"{d.n} seeds"
                p = "-" if d.p_value is None else f"{d.p_value:.3g}"
                cells.append(f"{_signed(d.value)} [{_signed(d.low)}, {_signed(d.high)}] p={p} ({paired})")
            out.append(f"| {metric} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def write_csv(path: Path, rows: list[Row]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["arm", "metric", "seeds", "mean", "ci_low", "ci_high", "diff", "diff_low", "diff_high",
                    "p_value", "paired_items"])
        for r in rows:
            d = r.diff
            w.writerow([r.arm, r.metric, r.mean.n, r.mean.value, r.mean.low, r.mean.high,
                        *((d.value, d.low, d.high, d.p_value, d.items) if d else ("", "", "", "", ""))])


def plot(path: Path, plan: dict[str, Any], rows: list[Row]) -> Path:
    """One panel per metric, one bar per arm, error bars = the bootstrap interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = plan["metrics"]
    arms = list(dict.fromkeys(r.arm for r in rows))
    cell = {(r.arm, r.metric): r.mean for r in rows}
    cols = min(3, len(metrics))
    n_rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(max(3.6, 0.7 * len(arms) + 1.5) * cols, 3.0 * n_rows),
                             squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes.flat, metrics):
        means = [cell[(a, metric)] for a in arms]
        heights = [m.value if m.n else 0.0 for m in means]
        err = np.array([[max(0.0, m.value - m.low) if m.n else 0.0 for m in means],
                        [max(0.0, m.high - m.value) if m.n else 0.0 for m in means]])
        ax.bar(range(len(arms)), heights, yerr=err, capsize=3,
               color=[colours[i % len(colours)] for i in range(len(arms))])
        ax.set_title(metric, fontsize=8)
        ax.set_xticks(range(len(arms)), arms, rotation=30, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle(f"{plan['name']}: mean over seeds, {round(100 * plan['confidence'])}% bootstrap interval",
                 fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_summary(sweep_dir: Path, *, plots: bool = True) -> dict[str, Path]:
    """Compute and write the summary files; returns their paths by kind."""
    sweep_dir = Path(sweep_dir)
    plan, rows = summarise(sweep_dir)
    paths = {"markdown": sweep_dir / MD, "csv": sweep_dir / CSV, "json": sweep_dir / JSON}
    tmp = sweep_dir / f".{MD}.tmp"
    tmp.write_text(markdown(plan, rows), encoding="utf-8")
    tmp.replace(paths["markdown"])
    tmp = sweep_dir / f".{CSV}.tmp"
    write_csv(tmp, rows)
    tmp.replace(paths["csv"])
    rd.write_json(paths["json"], {"name": plan["name"], "baseline": plan.get("baseline"),
                                  "rows": [{"arm": r.arm, "metric": r.metric, "seeds": r.seeds,
                                            "mean": asdict(r.mean), "diff": asdict(r.diff) if r.diff else None}
                                           for r in rows]})
    if plots:
        paths["plot"] = plot(sweep_dir / PLOT, plan, rows)
    return paths
