"""negkit eval"""

from __future__ import annotations

from pathlib import Path

import typer

from negkit.cli.app import app, console


@app.command("eval")
def eval_(
    recipe: Path = typer.Argument(..., help="The recipe whose [model] and [[eval]] tables to use."),
    checkpoint: str = typer.Option("", "--checkpoint", help="Weights to evaluate: a negkit or open_clip checkpoint "
                                   "file (default: the recipe's [model] pretrained)."),
    set_: list[str] = typer.Option([], "--set", help="Override a key: section.key=value or eval.0.key=value."),
    output: Path = typer.Option(None, "--output", help="Also write the metrics as JSON to this file."),
) -> None:
    """Run only the recipe's evaluators on a checkpoint and print the metrics."""
    from negkit.pipeline import evaluate_checkpoint, print_results
    from negkit.recipe import load_recipe
    from negkit.rundir import write_json

    loaded = load_recipe(recipe, set_)
    metrics = evaluate_checkpoint(loaded, checkpoint or None, console=console)
    if output is not None:
        write_json(output, {"run": {"name": loaded.run_name, "checkpoint": checkpoint or loaded.model.pretrained,
                                    "recipe": str(recipe)}, "metrics": metrics})
    print_results(console, loaded.run_name, metrics, None, output)
