"""negkit base"""

from __future__ import annotations

from pathlib import Path

import typer

from negkit.cli.app import app, console


@app.command()
def base(
    recipe: Path = typer.Argument(..., help="A recipe whose [model] init names a base recipe."),
    set_: list[str] = typer.Option([], "--set", help="Override a key: section.key=value or miners.0.key=value."),
) -> None:
    """Only the base stage: train the base recipe [model] init names into its cache (reused when it exists)."""
    from negkit.base_stage import build_base
    from negkit.errors import RecipeError
    from negkit.recipe import load_recipe

    if build_base(load_recipe(recipe, set_), console=console) is None:
        raise RecipeError("no [model] init: this recipe starts from no base recipe", path=str(recipe),
                          key="model.init")
