"""negkit try"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from negkit.cli.app import app, console


@app.command("try")
def try_miner(
    miner: str = typer.Argument(..., help="A miner name (see `negkit list-plugins`)."),
    caption: str = typer.Argument(..., help="The caption to mine negatives for."),
    k: int = typer.Option(3, "-k", "--k", min=0, help="Negatives to ask for."),
    seed: int = typer.Option(0, "--seed", help="Mining seed."),
    set_: list[str] = typer.Option([], "--set", help="A miner parameter: name=value (value parsed as TOML)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show what a miner makes of one caption."""
    from negkit.mining.preview import preview_miner

    negatives = preview_miner(miner, caption, k=k, seed=seed, params=set_)
    if as_json:
        typer.echo(json.dumps([n.as_dict() for n in negatives], indent=2))
        return
    table = Table(title=f"{miner}: {caption}")
    for col in ("#", "negative", "kind", "concreteness", "edits"):
        table.add_column(col, overflow="fold")
    for i, neg in enumerate(negatives, 1):
        conc = "" if neg.concreteness is None else f"{neg.concreteness:.2f}"
        edits = "; ".join(f"{e.before} -> {e.after}" for e in neg.edits)
        table.add_row(str(i), neg.text, neg.kind, conc, edits)
    console.print(table)
    if not negatives:
        console.print("(no negatives: the miner found nothing it could change)")
