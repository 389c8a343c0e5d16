"""negkit data get / negkit data list"""

from __future__ import annotations

from pathlib import Path

import typer

from negkit.cli.app import app, console

data_app = typer.Typer(help="Fetch the official files of evaluation sets and training sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
PLAIN = {"highlight": False, "markup": False, "soft_wrap": True}


@data_app.command("list")
def list_data() -> None:
    """The data sets `negkit data get` knows, with what each needs by hand."""
    from negkit.data.catalog import catalogue

    for entry in catalogue().values():
        pinned = sum(f.sha256 is not None for f in entry.files)
        console.print(f"{entry.name:<11} {entry.description}  [{len(entry.files)} files, {pinned} with pinned "
                      f"checksums{'; gated: needs HF_TOKEN' if entry.needs_token else ''}]", **PLAIN)


@data_app.command("get")
def get(
    name: str = typer.Argument(..., help="Data set name (see `negkit data list`)."),
    to: Path = typer.Option(Path("data"), "--to", help="Data root; files go to TO/NAME/."),
    force: bool = typer.Option(False, "--force", help="Download again even if the files are present."),
    require_checksums: bool = typer.Option(False, "--require-checksums",
                                           help="Refuse files without a pinned sha256."),
) -> None:
    """Download the official files of an evaluation set (checksums verified) and print which images you must
    obtain yourself and where to put them."""
    from negkit.data.catalog import download, get_entry

    entry = get_entry(name)
    for note in entry.notes:
        console.print(f"note: {note}", **PLAIN)
    results = download(entry, to, force=force, require_checksums=require_checksums,
                       log=lambda line: console.print(line, **PLAIN))
    unpinned = [r for r in results if r.status == "unpinned"]
    console.print(f"{entry.name}: {len(results)} file(s) in {to / entry.name} "
                  f"({len(results) - len(unpinned)} verified or already present)", **PLAIN)
    if unpinned:
        console.print(f"warning: {len(unpinned)} file(s) have no pinned checksum; their sha256 is recorded in "
                      f"{to / entry.name / 'SHA256SUMS'} (compare it across machines)", **PLAIN)
    if entry.manual:
        console.print("\nImages negkit cannot download for you (licence or size); obtain them and put them here:",
                      **PLAIN)
        for m in entry.manual:
            console.print(f"  - {m.what}\n      from: {m.source}\n      put at: {to / m.put_at}", **PLAIN)
    if entry.recipe:
        console.print("\nRecipe keys for these files:\n" + entry.recipe.format(root=to), **PLAIN)
