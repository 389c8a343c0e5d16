"""negkit compare"""

from __future__ import annotations

from pathlib import Path

import typer

from negkit.atomic import write_text
from negkit.cli.app import app, console


@app.command()
def compare(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories (each holds a metrics.json), or sweep "
                                          "directories (each stands for its runs, and its summary is shown)."),
    markdown: Path = typer.Option(None, "--markdown", help="Also write the table as markdown to this file."),
    plot: Path = typer.Option(None, "--plot", help="Also write a PNG: one bar chart per metric, one bar per run."),
) -> None:
    """One table of metrics across runs (the best value of each metric in bold)."""
    from negkit.report.compare import is_sweep_dir, markdown_table, plot_comparison, rich_table

    console.print(rich_table(run_dirs))
    for path in run_dirs:
        if is_sweep_dir(path):
            from negkit.sweep.summary import markdown as sweep_markdown
            from negkit.sweep.summary import summarise

            console.print(sweep_markdown(*summarise(path)), markup=False, highlight=False, soft_wrap=True)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        write_text(markdown, markdown_table(run_dirs))
        console.print(f"wrote {markdown}", highlight=False)
    if plot is not None:
        console.print(f"wrote {plot_comparison(run_dirs, plot)}", highlight=False)
