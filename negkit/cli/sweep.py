"""negkit sweep validate | run | summary"""

from __future__ import annotations

from pathlib import Path

import typer

from negkit.cli.app import app, console, err_console

sweep_app = typer.Typer(help="Experiments over recipe grids and seeds, with confidence intervals.",
                        no_args_is_help=True, rich_markup_mode=None)
app.add_typer(sweep_app, name="sweep")


@sweep_app.command("validate")
def validate(
    sweeps: list[Path] = typer.Argument(..., help="Sweep files to check."),
) -> None:
    """Check sweep files without running anything: every problem on its own line, naming file and key."""
    from negkit.sweep.spec import check_sweep

    failed = 0
    for path in sweeps:
        sweep, errors = check_sweep(path)
        for error in errors:
            err_console.print(f"FAIL {error}", highlight=False, markup=False, soft_wrap=True)
        if errors:
            failed += 1
        else:
            console.print(f"ok   {path}: {len(sweep.arms)} arm(s) x {len(sweep.seeds)} seed(s) = "
                          f"{len(sweep.arms) * len(sweep.seeds)} run(s) in {sweep.directory}", highlight=False)
    if failed:
        raise typer.Exit(1)


@sweep_app.command("run")
def run(
    sweep_file: Path = typer.Argument(..., help="The sweep file."),
    jobs: int = typer.Option(None, "--jobs", min=1, help="Runs at once (default: [sweep] jobs)."),
    out: Path = typer.Option(None, "--out", help="Parent folder of the sweep directory (default: [sweep] out)."),
) -> None:
    """Run every arm x seed (finished runs are kept, started ones resumed), then write the summary."""
    from negkit.sweep import execute, load_sweep

    sweep = load_sweep(sweep_file)
    if jobs is not None:
        sweep.settings.jobs = jobs
    if out is not None:
        sweep.out = out
    outcome = execute(sweep, console=console)
    for kind, path in outcome.summary.items():
        console.print(f"summary ({kind}): {path}", highlight=False, soft_wrap=True)
    if outcome.failed:
        for name, why in outcome.failed.items():
            err_console.print(f"FAILED {name}: {why}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)


@sweep_app.command("summary")
def summary(
    sweep_dir: Path = typer.Argument(..., help="The sweep directory (<out>/<sweep name>, holding sweep.json)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Also draw plots/summary.png."),
) -> None:
    """Mean and bootstrap interval per arm and metric, and each arm's paired difference from the baseline."""
    from negkit.sweep.summary import MD, write_summary

    paths = write_summary(sweep_dir, plots=plots)
    console.print((sweep_dir / MD).read_text(encoding="utf-8"), markup=False, highlight=False, soft_wrap=True)
    for kind, path in paths.items():
        console.print(f"wrote {path} ({kind})", highlight=False, soft_wrap=True)


@sweep_app.command("claims")
def claims(
    sweep_dir: Path = typer.Argument(..., help="The sweep directory (<out>/<sweep name>, holding sweep.json)."),
    sweep_file: Path = typer.Option(None, "--sweep-file",
                                    help="Take [[claims]] and [[contrasts]] from this sweep file, not sweep.json."),
    into: Path = typer.Option(None, "--into", help="Also write the claims between the claims markers of this "
                              "Markdown page (e.g. docs/results.md), figures beside it."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Also draw the figures under plots/."),
    negatives: int = typer.Option(0, "--negatives", min=0, help="Also draw the scenes the mined negatives of this "
                                  "many training captions per mined arm describe, and plot the image-space "
                                  "difference against concreteness (shapes world; 0 = no)."),
    model_arm: str = typer.Option(None, "--model-arm", help="The arm whose first finished run embeds the images "
                                  "for --negatives (default: the baseline)."),
) -> None:
    """The sweep's claims with verdicts (holds / does not hold / inconclusive) and its contrast tables."""
    from negkit.sweep.claims import MD, command_line, write_claims, write_into

    paths = write_claims(sweep_dir, sweep_file=sweep_file, plots=plots, negatives=negatives, model_arm=model_arm)
    console.print((sweep_dir / MD).read_text(encoding="utf-8"), markup=False, highlight=False, soft_wrap=True)
    for kind, path in paths.items():
        console.print(f"wrote {path} ({kind})", highlight=False, soft_wrap=True)
    if into is not None:
        write_into(into, sweep_dir, command=command_line(sweep_dir, sweep_file, into, plots, negatives, model_arm),
                   sweep_file=sweep_file, plots=plots, negatives=negatives, model_arm=model_arm)
        console.print(f"wrote {into} (claims section)", highlight=False, soft_wrap=True)
