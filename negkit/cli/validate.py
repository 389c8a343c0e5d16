"""negkit validate"""

from __future__ import annotations

from pathlib import Path

import typer

from negkit.cli.app import app, console, err_console
from negkit.errors import NegkitError


@app.command()
def validate(
    recipes: list[Path] = typer.Argument(..., help="Recipe files to check."),
    set_: list[str] = typer.Option([], "--set", help="Override a key: section.key=value or miners.0.key=value."),
) -> None:
    """Check recipes without running them: sections, keys, types, component names and arguments, and the
    base recipes their [model] init names."""
    from negkit.base_stage import check_chain
    from negkit.recipe import validate_recipe_file

    failed = 0
    for path in recipes:
        try:
            check_chain(validate_recipe_file(path, set_))
        except NegkitError as exc:
            failed += 1
            err_console.print(f"FAIL {exc}", highlight=False, markup=False, soft_wrap=True)
        else:
            console.print(f"ok   {path}", highlight=False)
    if failed:
        raise typer.Exit(1)
