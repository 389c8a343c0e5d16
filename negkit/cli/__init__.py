"""The ``negkit`` command line: a thin Typer layer over the library.

Every module in this package adds its commands to ``negkit.cli.app.app``; they are imported here, so a
new command is a new module. No module here may import torch at import time (``--help``, ``validate``
and ``list-plugins`` must stay fast).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import warnings

import click
import typer

from negkit.errors import NegkitError


def _load_commands() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


def _format_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    return f"negkit: warning: {message}\n"


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``negkit`` console script and ``python -m negkit``."""
    from negkit.cli.app import app, err_console

    _load_commands()
    debug = os.environ.get("NEGKIT_DEBUG") == "1"
    if not debug:
        warnings.formatwarning = _format_warning
    command = typer.main.get_command(app)
    try:
        # click returns a typer.Exit's code instead of exiting when standalone_mode is off
        code = command.main(args=argv, prog_name="negkit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        err_console.print("negkit: interrupted")
        sys.exit(130)
    except NegkitError as exc:
        if debug:
            raise
        err_console.print(f"negkit: error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)
