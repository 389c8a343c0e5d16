"""Captions from a file, for commands that take captions without a recipe (``negkit audit --captions``,
``negkit bench mine``).

Formats, by suffix: ``.json`` is SugarCrepe's layout (an object or a list of items with a ``caption``);
``.jsonl`` has one such item per line; anything else has one caption per line. A folder means every
``*.json`` file in it, in name order. Blank lines are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

from negkit.errors import DataError

FORMATS = "a text file with one caption per line, .json/.jsonl items with a 'caption', or a folder of *.json"


def read_captions(path: str | Path) -> list[str]:
    """Every caption of ``path`` (see the module doc), in file order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise DataError(f"{path}: no *.json caption files in this folder (give {FORMATS})")
    elif not path.is_file():
        raise DataError(f"{path}: captions file not found (give {FORMATS})")
    else:
        files = [path]
    captions: list[str] = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
            if f.suffix == ".json":
                items = json.loads(text)
                captions += [str(item["caption"]) for item in (items.values() if isinstance(items, dict) else items)]
            elif f.suffix == ".jsonl":
                captions += [str(json.loads(line)["caption"]) for line in text.splitlines() if line.strip()]
            else:
                captions += [line.strip() for line in text.splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"{f}: cannot read captions ({type(exc).__name__}: {exc}); give {FORMATS}") from None
    return captions
