"""``negkit compare``: one table of metrics across run directories (rich on the terminal, markdown on request)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from negkit.report.report import fmt
from negkit.report.rundir import read_metrics


def collect(run_dirs: Sequence[Path]) -> tuple[list[str], list[str], dict[str, dict[str, Any]]]:
    """Run names (in the order given), the union of metric keys (sorted), and values by run then metric."""
    names: list[str] = []
    values: dict[str, dict[str, Any]] = {}
    for run_dir in run_dirs:
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
