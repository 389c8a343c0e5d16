"""``negkit compare``: one table of metrics across run directories (rich on the terminal, markdown on request)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from negkit.atomic import atomic_write
from negkit.errors import DataError
from negkit.report.report import fmt
from negkit.rundir import METRICS, read_metrics


def is_sweep_dir(path: Path) -> bool:
    """A ``negkit sweep`` directory: it holds sweep.json and its runs under runs/."""
    return (Path(path) / "sweep.json").is_file() and not (Path(path) / METRICS).is_file()


def expand_sweeps(paths: Sequence[Path]) -> list[Path]:
    """Run directories, with each sweep directory replaced by its finished runs (in name order)."""
    out: list[Path] = []
    for path in map(Path, paths):
        if is_sweep_dir(path):
            runs = sorted(d for d in (path / "runs").glob("*") if (d / METRICS).is_file())
            if not runs:
                raise DataError(f"{path}: a sweep directory without a finished run yet")
            out.extend(runs)
        else:
            out.append(path)
    return out


def collect(run_dirs: Sequence[Path]) -> tuple[list[str], list[str], dict[str, dict[str, Any]]]:
    """Run names (in the order given; a sweep directory gives its runs), the union of metric keys (sorted),
    and values by run then metric."""
    names: list[str] = []
    values: dict[str, dict[str, Any]] = {}
    for run_dir in expand_sweeps(run_dirs):
        data = read_metrics(Path(run_dir))
        name = str(data.get("run", {}).get("name") or Path(run_dir).name)
        base, i = name, 2
        while name in values:  # two runs of the same name from different --out folders
            name, i = f"{base} ({i})", i + 1
        names.append(name)
        values[name] = dict(data["metrics"])
    keys = sorted({k for metrics in values.values() for k in metrics})
    return names, keys, values


def rich_table(run_dirs: Sequence[Path]) -> Any:
    from rich.table import Table

    names, keys, values = collect(run_dirs)
    table = Table(title="negkit compare")
    table.add_column("metric")
    for name in names:
        table.add_column(name, justify="right")
    for key in keys:
        row = [values[n].get(key) for n in names]
        numbers = [v for v in row if isinstance(v, (int, float))]
        best = max(numbers) if len(numbers) > 1 else None
        cells = [f"[bold]{fmt(v)}[/]" if best is not None and v == best else fmt(v) for v in row]
        table.add_row(key, *cells)
    return table


def markdown_table(run_dirs: Sequence[Path]) -> str:
    names, keys, values = collect(run_dirs)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(fmt(values[n].get(key)) for n in names) + " |")
    return "\n".join(lines) + "\n"


def plot_comparison(run_dirs: Sequence[Path], path: Path) -> Path:
    """A PNG with one panel per metric and one bar per run."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, keys, values = collect(run_dirs)
    keys = [k for k in keys if any(isinstance(values[n].get(k), (int, float)) for n in names)]
    if not keys:
        raise DataError("no numeric metrics to plot in " + ", ".join(str(d) for d in run_dirs))
    cols = min(4, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key in zip(axes.flat, keys):
        heights = [values[n].get(key) if isinstance(values[n].get(key), (int, float)) else 0.0 for n in names]
        ax.bar(range(len(names)), heights, color=[colours[i % len(colours)] for i in range(len(names))])
        ax.set_title(key, fontsize=8)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_write(path, "wb", what="plot") as fh:
        fig.savefig(fh, format=path.suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)
    return path
