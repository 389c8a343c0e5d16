"""negkit eval"""

from __future__ import annotations

from pathlib import Path

import typer

from negkit.cli.app import app, console


@app.command("eval")
def eval_(
    recipe: Path = typer.Argument(None, help="A recipe whose [model] and [[eval]] tables to use (or --model)."),
    checkpoint: str = typer.Option("", "--checkpoint", help="With a recipe: weights to evaluate, a negkit or "
                                   "open_clip checkpoint file (default: the recipe's [model] pretrained)."),
    set_: list[str] = typer.Option([], "--set", help="With a recipe: section.key=value or eval.0.key=value. "
                                   "With --model: EVALUATOR.KEY=VALUE (e.g. sugarcrepe.limit=50)."),
    output: Path = typer.Option(None, "--output", help="With a recipe: also write the metrics as JSON here."),
    model: str = typer.Option("", "--model", help="Any open_clip model name (no recipe needed)."),
    pretrained: str = typer.Option("", "--pretrained", help="With --model: an open_clip tag (openai, laion2b_...), "
                                   "a local checkpoint file, or empty for random init."),
    suite: str = typer.Option(None, "--suite", help="With --model: compositional, general or all."),
    evals: list[str] = typer.Option([], "--eval", help="With --model: an evaluator to run (repeatable)."),
    data_root: Path = typer.Option(None, "--data-root", help="The folder `negkit data get --to` filled."),
    out: Path = typer.Option(Path("runs"), "--out", help="With --model: where the run directory goes."),
    name: str = typer.Option("", "--name", help="With --model: the run directory's name "
                             "(default: eval-<model>-<weights>)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda[:N]."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Images or texts per forward pass."),
    workers: int = typer.Option(None, "--workers", min=0, help="With --model: processes that load and preprocess "
                                "images while the model runs (default: min(4, CPUs - 1); 0: in this process)."),
    skip_missing: bool = typer.Option(False, "--skip-missing", help="With --model: score the items whose images "
                                      "exist and count the missing ones in eval_meta.json (default: an error)."),
    force: bool = typer.Option(False, "--force", help="With --model: replace an existing run directory's results."),
) -> None:
    """Evaluate a recipe's checkpoint, or any open_clip model on evaluation suites (--model)."""
    from negkit.errors import NegkitError
    from negkit.pipeline import print_results

    if model:
        if recipe is not None or checkpoint or output is not None:
            raise NegkitError("--model evaluates without a recipe: drop RECIPE, --checkpoint and --output "
                              "(--pretrained takes a checkpoint file; the run directory holds metrics.json)")
        from negkit.model_eval import eval_tables, evaluate_pretrained, headline_metrics, parse_settings

        settings = parse_settings(set_)
        tables = eval_tables(suite, evals, data_root, settings)
        if skip_missing:
            for table in tables:
                if table["name"] != "clip-benchmark":
                    table.setdefault("skip_missing", True)
        result = evaluate_pretrained(model, pretrained, tables, out, run_name=name, device=device,
                                     batch_size=batch_size, workers=workers, force=force,
                                     say=lambda m: console.print(m, highlight=False))
        shown = headline_metrics(result.metrics)
        print_results(console, result.run_dir.name, shown, result.run_dir, result.report)
        if len(shown) < len(result.metrics):
            console.print(f"(headline numbers shown; all {len(result.metrics)} metrics are in metrics.json and "
                          f"report.md)", highlight=False)
        return
    if recipe is None:
        raise NegkitError("give a RECIPE or --model NAME (negkit eval --help)")
    from negkit.model_eval import write_checkpoint_metrics
    from negkit.pipeline import evaluate_checkpoint
    from negkit.recipe import load_recipe

    loaded = load_recipe(recipe, set_)
    metrics = evaluate_checkpoint(loaded, checkpoint or None, console=console)
    if output is not None:
        write_checkpoint_metrics(output, loaded.run_name, checkpoint or loaded.model.pretrained, str(recipe), metrics)
    print_results(console, loaded.run_name, metrics, None, output)
