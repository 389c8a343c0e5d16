"""negkit list-plugins"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from negkit.cli.app import app, console


@app.command("list-plugins")
def list_plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List loaded plugins: version, source, what each registers, and load errors."""
    from negkit.plugins import get_host

    host = get_host()
    rows = [p.as_dict() for p in host.plugins]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="negkit plugins")
    for col in ("plugin", "version", "source", "registers", "error"):
        table.add_column(col, overflow="fold")
    for row in rows:
        registers = "\n".join(
            f"{kind}: {', '.join(n + (' (no image negatives)' if n in row['notes'] else '') for n in names)}"
            for kind, names in row["registers"].items())
        table.add_row(row["name"], row["version"] or "", row["source"], registers, row["error"] or "",
                      style="red" if row["error"] else None)
    console.print(table)
