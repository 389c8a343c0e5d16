"""negkit audit"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from negkit.cli.app import app, console
from negkit.errors import NegkitError


@app.command()
def audit(
    recipe: Path = typer.Argument(None, help="A recipe: its miners and its data's captions (optional with "
                                             "--captions and --miner)."),
    captions_file: Path = typer.Option(None, "--captions", help="Captions instead of the recipe's data: a text "
                                       "file (one per line), .json/.jsonl items with a 'caption', or a folder of "
                                       "*.json."),
    miner_names: list[str] = typer.Option([], "--miner", help="Audit this miner (default parameters); "
                                                              "repeatable. Default: the recipe's miners, "
                                                              "or every registered miner."),
    set_: list[str] = typer.Option([], "--set", help="Override a recipe key: section.key=value."),
    k: int = typer.Option(None, "-k", "--k", min=1, help="Negatives per caption (default: the recipe's "
                                                          "mining.k, or 3)."),
    seed: int = typer.Option(None, "--seed", help="Mining seed (default: the recipe's, or 0)."),
    limit: int = typer.Option(2000, "--limit", min=0, help="Audit a seeded sample of this many captions "
                                                            "(0 = all)."),
    examples: int = typer.Option(3, "--examples", min=0, help="Examples shown per miner."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Per miner: coverage, mean concreteness of edits, bag-of-words-identical share, duplicates, examples."""
    from negkit.data.caption_files import read_captions
    from negkit.mining.audit import audit_miner, sample_captions
    from negkit.plugins import get_host
    from negkit.recipe import ComponentSpec, load_recipe

    if recipe is None and captions_file is None:
        raise NegkitError("negkit audit: give a RECIPE, or --captions FILE (one caption per line, or .json/.jsonl)")
    loaded = load_recipe(recipe, set_) if recipe is not None else None
    if captions_file is not None:
        captions = read_captions(captions_file)
    else:
        assert loaded is not None
        captions = loaded.data.build(where=str(recipe)).captions("train")
    k = k if k is not None else (loaded.mining.k if loaded and loaded.mining.k > 0 else 3)
    seed = seed if seed is not None else (loaded.mining_seed if loaded else 0)
    if miner_names:
        specs = [ComponentSpec("miners", n, f"--miner {n}") for n in miner_names]
    elif loaded is not None and loaded.miners:
        specs = list(loaded.miners)
    else:
        specs = [ComponentSpec("miners", n, f"miner {n}") for n in get_host().registries["miners"].names()]
    captions = sample_captions(captions, limit, seed)
    reports = [audit_miner(spec.name, spec.build(where=str(recipe) if recipe else None), captions, k=k, seed=seed,
                           examples=examples) for spec in specs]
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in reports], indent=2))
        return
    table = Table(title=f"miner audit: {len(captions):,} captions, k={k}, seed={seed}")
    for col in ("miner", "cover", "neg/cap", "concr", "known", "bow=", "dup", "=other", "cap/s"):
        table.add_column(col, justify="left" if col == "miner" else "right", no_wrap=True)
    for r in reports:
        conc = "-" if r.mean_concreteness is None else f"{r.mean_concreteness:.2f}"
        rate = f"{r.captions / r.seconds:,.0f}" if r.seconds > 0 else "-"
        table.add_row(r.miner, f"{r.coverage:.1%}", f"{r.mean_per_caption:.2f}", conc, f"{r.concreteness_known:.0%}",
                      f"{r.bow_identical:.1%}", f"{r.duplicate_rate:.1%}", f"{r.equals_other_caption:.1%}", rate)
    out = console if console.is_terminal else Console(width=max(console.width, 120))
    out.print(table)
    console.print("cover: captions with >= 1 negative; concr: mean concreteness of edited words (1-5) over the "
                  "'known' share that has a score; bow=: same bag of words as the caption (reordering); dup: "
                  "repeats of the caption or of another negative; =other: equals another caption of the set",
                  highlight=False)
    for r in reports:
        if not r.examples:
            continue
        kinds = ", ".join(f"{kind} {n}" for kind, n in r.kinds.items())
        console.print(f"\n[bold]{r.miner}[/bold] ({kinds})")
        for ex in r.examples:
            console.print(f"  {ex['caption']}", highlight=False, markup=False)
            for neg in ex["negatives"]:
                edits = "; ".join(f"{b} -> {a}" for b, a in neg["edits"])
                console.print(f"    - {neg['text']}  [{neg['kind']}: {edits}]", highlight=False, markup=False)
