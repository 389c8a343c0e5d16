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

from negkit.errors import Interrupted, NegkitError
from negkit.interrupts import handle_signals, was_interrupted


def _load_commands() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


# Typer 0.29 and later carry their own copy of click: its usage errors ("No such option") are
# ``typer.TyperException``s, not ``click.ClickException``s, and its Exit and Abort are typer's. Both families
# are caught, so a mistyped command line is one line whichever Typer is installed.
_USAGE_ERRORS = tuple({click.ClickException, *([typer.TyperException] if hasattr(typer, "TyperException") else [])})
_EXITS = tuple({click.exceptions.Exit, typer.Exit})
_ABORTS = tuple({click.exceptions.Abort, typer.Abort, KeyboardInterrupt})


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
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        with handle_signals():
            # click returns a typer.Exit's code instead of exiting when standalone_mode is off
            code = command.main(args=args, prog_name="negkit", standalone_mode=False)
    except _EXITS as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except _USAGE_ERRORS as exc:
        if hasattr(exc, "show"):
            exc.show()
        else:
            err_console.print(f"negkit: error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2))
    except Interrupted as exc:
        err_console.print(f"negkit: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except _ABORTS:
        _interrupted(err_console, args)
    except NegkitError as exc:
        if debug:
            raise
        err_console.print(f"negkit: error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except BaseException:
        # Ctrl-C surfaces as whatever it interrupted: a worker pool's TimeoutError, a RuntimeError from inside
        # torch.save. It is still an interruption.
        if was_interrupted() and not debug:
            _interrupted(err_console, args)
        raise
    if was_interrupted() or code == 130:  # typer turns a KeyboardInterrupt into a silent return code 130
        _interrupted(err_console, args)
    if isinstance(code, int) and code:
        sys.exit(code)


def _interrupted(console, args: list[str]) -> None:  # noqa: ANN001 - a rich Console
    """One line, exit 130, and how to pick up where it stopped."""
    import shlex

    command = args[0] if args else ""
    if command == "run":
        again = [a for a in args if a != "--force"] + ([] if "--resume" in args else ["--resume"])
        hint = f"; resume with: negkit {shlex.join(again)}"
    elif command == "mine":
        hint = f"; finished shards are kept: negkit {shlex.join(args)} mines only the rest"
    else:
        hint = ""
    console.print(f"negkit: interrupted{hint}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(130)
