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
                                                              "or every registered miner that runs with its "
                                                              "defaults."),
    set_: list[str] = typer.Option([], "--set", help="Override a recipe key: section.key=value."),
    k: int = typer.Option(None, "-k", "--k", min=1, help="Negatives per caption (default: the recipe's "
                                                          "mining.k, or 3)."),
    seed: int = typer.Option(None, "--seed", help="Mining seed (default: the recipe's, or 0)."),
    limit: int = typer.Option(2000, "--limit", min=0, help="Audit a seeded sample of this many captions "
                                                            "(0 = all)."),
    examples: int = typer.Option(3, "--examples", min=0, help="Examples shown per miner."),
    figure: Path = typer.Option(None, "--figure", help="Write a figure of the distributions (PNG/PDF/SVG)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Per miner: blind accuracy of a held-out caption model, still-true edits, unseen words, concreteness,
    coverage, duplicates, examples (see docs/miners.md, "Negative quality")."""
    from negkit.data.caption_files import read_caption_groups
    from negkit.mining.quality import audit_quality, quality_figure
    from negkit.plugins import get_host
    from negkit.recipe import ComponentSpec, load_recipe

    if recipe is None and captions_file is None:
        raise NegkitError("negkit audit: give a RECIPE, or --captions FILE (one caption per line, or .json/.jsonl)")
    loaded = load_recipe(recipe, set_) if recipe is not None else None
    if captions_file is not None:
        captions, groups = read_caption_groups(captions_file)
    else:
        assert loaded is not None
        source = loaded.data.build(where=str(recipe))
        captions, groups = source.captions("train"), source.caption_groups("train")
    k = k if k is not None else (loaded.mining.k if loaded and loaded.mining.k > 0 else 3)
    seed = seed if seed is not None else (loaded.mining_seed if loaded else 0)
    if miner_names:
        specs = [ComponentSpec("miners", n, f"--miner {n}") for n in miner_names]
    elif loaded is not None and loaded.miners:
        specs = list(loaded.miners)
    else:
        specs = [ComponentSpec("miners", n, f"miner {n}") for n in get_host().registries["miners"].names()]
    where = str(recipe) if recipe else None
    explicit = bool(miner_names) or bool(loaded and loaded.miners)
    builders = [(spec.name, (lambda spec=spec: spec.build(where=where))) for spec in specs]
    reports, skipped = audit_quality(builders, captions, k=k, seed=seed, limit=limit, examples=examples,
                                     groups=groups)
    if skipped and explicit:  # a miner the user named must run: say why it cannot
        raise NegkitError(f"negkit audit: miner {skipped[0].miner!r} cannot run: {skipped[0].reason}")
    if figure is not None:
        quality_figure(reports, figure)
    if as_json:
        out = [r.as_dict() for r in reports] + [{"miner": s.miner, "skipped": s.reason} for s in skipped]
        typer.echo(json.dumps(out, indent=2))
        return
    _print(reports, skipped, k, seed, figure)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _print(reports: list, skipped: list, k: int, seed: int, figure: Path | None) -> None:
    n = reports[0].base.captions if reports else 0
    table = Table(title=f"miner audit: {n:,} mined captions, k={k}, seed={seed}")
    for col in ("miner", "cover", "blind", "still", "unseen", "c.old", "c.new", "bow=", "dup", "=other", "cap/s"):
        table.add_column(col, justify="left" if col == "miner" else "right", no_wrap=True)
    for r in reports:
        b = r.base
        rate = f"{b.captions / b.seconds:,.0f}" if b.seconds > 0 else "-"
        table.add_row(r.miner, _pct(b.coverage), _pct(r.blind_accuracy), _pct(r.still_true),
                      _pct(r.unseen_new_words), _num(r.edited_concreteness), _num(r.new_concreteness),
                      _pct(b.bow_identical), _pct(b.duplicate_rate), _pct(b.equals_other_caption), rate)
    out = console if console.is_terminal else Console(width=max(console.width, 140))
    out.print(table)
    console.print("cover: captions with >= 1 negative; blind: pairs where a caption model trained on held-out "
                  "captions prefers the caption (0.5 = the text gives nothing away); still: single-word edits "
                  "to a WordNet synonym, hypernym or hyponym; unseen: new words the mined captions never use; "
                  "c.old / c.new: mean concreteness (1-5) of edited and new words; bow=: same bag of words "
                  "(reordering); dup: repeats; =other: equals another caption", highlight=False)
    for s in skipped:
        console.print(f"skipped {s.miner}: {s.reason}", highlight=False, markup=False)
    if figure is not None:
        console.print(f"figure: {figure}", highlight=False)
    for r in reports:
        if not r.base.examples:
            continue
        kinds = ", ".join(f"{kind} {n}" for kind, n in r.base.kinds.items())
        console.print(f"\n[bold]{r.miner}[/bold] ({kinds})")
        for ex in r.base.examples:
            console.print(f"  {ex['caption']}", highlight=False, markup=False)
            for neg in ex["negatives"]:
                edits = "; ".join(f"{b} -> {a}" for b, a in neg["edits"])
                odds = "" if neg.get("judge_log_odds") is None else f"; judge {neg['judge_log_odds']:+.1f}"
                console.print(f"    - {neg['text']}  [{neg['kind']}: {edits}{odds}]", highlight=False, markup=False)
