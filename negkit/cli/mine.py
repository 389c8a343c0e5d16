"""negkit mine"""

from __future__ import annotations

from pathlib import Path

import typer

from negkit.cli.app import app, console


@app.command()
def mine(
    recipe: Path = typer.Argument(..., help="The recipe whose [mining] and [[miners]] to run."),
    set_: list[str] = typer.Option([], "--set", help="Override a key: section.key=value or miners.0.key=value."),
    split: str = typer.Option("train", "--split", help="The data split whose captions to mine."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show mining progress."),
    engine: str = typer.Option("local", "--engine", help="local (datasets.map on this machine) or ray."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster to join (e.g. auto); default: "
                                       "a local Ray."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Ray actors (default: the cluster's CPUs)."),
    export: Path = typer.Option(None, "--export", help="Also write the mined table to this .parquet or .jsonl "
                                "file (caption, negatives, kinds, edits, concreteness of old and new words)."),
) -> None:
    """Only the mining stage: mine negatives for every caption into the cache (reused when it exists)."""
    from negkit.errors import RecipeError
    from negkit.factory import build_data, mining_plan
    from negkit.mining.stage import mine_cached
    from negkit.recipe import load_recipe

    if engine not in ("local", "ray"):
        raise RecipeError(f"--engine {engine!r}: use local or ray")
    if engine == "ray":
        from negkit.mining.ray_engine import import_ray

        import_ray()  # without ray: one line with the install command, before the data loads
    if export is not None:
        from negkit.mining.export import export_format

        export_format(export)  # a wrong suffix fails before mining, not after
    loaded = load_recipe(recipe, set_)
    source = build_data(loaded)
    plan = mining_plan(loaded)
    captions = source.captions(split)
    groups = source.caption_groups(split)
    if engine == "ray":
        from negkit.mining.ray_engine import mine_ray

        result = mine_ray(plan, captions, address=address, workers=workers, progress=progress, groups=groups)
    else:
        result = mine_cached(plan, captions, progress=progress, groups=groups)
    names = ", ".join(f"{m.name} (weight {m.weight:g})" for m in loaded.miners) or "(no miners)"
    how = "reused from cache" if result.reused else (
        f"mined {result.shards_mined}/{result.shards_total} shard(s)")
    console.print(f"{len(result.dataset):,} captions, k={loaded.mining.k}, seed={loaded.mining_seed}, "
                  f"miners: {names}", highlight=False)
    console.print(f"{how} in {result.seconds:.1f}s", highlight=False)
    console.print(f"cache: {result.path}", highlight=False, soft_wrap=True)
    console.print(f"coverage: {result.coverage():.1%} of captions have at least one negative", highlight=False)
    if export is not None:
        from negkit.lexicon.norms import load_norms
        from negkit.mining.export import export_table

        written = export_table(result.dataset, export, norms=load_norms())
        console.print(f"exported: {written}", highlight=False, soft_wrap=True)
