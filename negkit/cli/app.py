"""The Typer application object and the consoles that commands print to."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="negkit",
    help="Hard-negative mining for contrastive vision-language training: mine, train and evaluate CLIP "
    "from TOML recipes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console()
err_console = Console(stderr=True)


def version_callback(value: bool) -> None:
    if value:
        from negkit.version import __version__

        console.print(f"negkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """negkit: mine hard negatives, train CLIP with them, evaluate composition."""
