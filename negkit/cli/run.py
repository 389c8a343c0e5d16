"""negkit run"""

from __future__ import annotations

from pathlib import Path

import typer

from negkit.cli.app import app


@app.command()
def run(
    recipe: Path = typer.Argument(..., help="The recipe to run."),
    set_: list[str] = typer.Option([], "--set", help="Override a key: section.key=value or miners.0.key=value."),
    out: Path = typer.Option(Path("runs"), "--out", help="Parent folder of the run directory (<out>/<run name>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run directory's last checkpoint."),
    force: bool = typer.Option(False, "--force", help="With --resume: accept a recipe that differs. Without: start "
                               "an existing run directory over (deletes its checkpoints and logs)."),
) -> None:
    """Mine, train, evaluate and report, as the recipe says. Under torchrun every process runs this."""
    from negkit.pipeline import run as run_recipe
    from negkit.recipe import load_recipe

    run_recipe(load_recipe(recipe, set_), out=out, resume=resume, force=force)
