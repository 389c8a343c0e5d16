"""Captions from a file, for commands that take captions without a recipe (``negkit audit --captions``,
``negkit bench mine``).

Formats, by suffix: ``.json`` is SugarCrepe's layout (an object or a list of items with a ``caption``);
``.jsonl`` has one such item per line; anything else has one caption per line. A folder means every
``*.json`` file in it, in name order. Blank lines are skipped.

An item may also say which image it describes (``GROUP_KEYS``: SugarCrepe's ``filename``, COCO's
``image_id``): ``read_caption_groups`` returns that beside each caption, so that the caption corpus knows
which captions describe the same image (``negkit.mining.siblings``).
"""

from __future__ import annotations

import json
from pathlib import Path

from negkit.data.base import GROUP_KEYS  # the first an item has names its image
from negkit.errors import DataError

FORMATS = "a text file with one caption per line, .json/.jsonl items with a 'caption', or a folder of *.json"


def read_captions(path: str | Path) -> list[str]:
    """Every caption of ``path`` (see the module doc), in file order."""
    return read_caption_groups(path)[0]


def _group(item: dict) -> str | None:
    for key in GROUP_KEYS:
        value = item.get(key) if isinstance(item, dict) else None
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return f"{key}:{value}"
    return None


def read_caption_groups(path: str | Path) -> tuple[list[str], list[str | None] | None]:
    """Every caption of ``path`` in file order, and the image each describes (``GROUP_KEYS``; ``None`` for an
    item that names none), or ``None`` for the second when no item names one (a text file)."""
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
    groups: list[str | None] = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
            if f.suffix in (".json", ".jsonl"):
                if f.suffix == ".json":
                    items = json.loads(text)
                    items = list(items.values() if isinstance(items, dict) else items)
                else:
                    items = [json.loads(line) for line in text.splitlines() if line.strip()]
                captions += [str(item["caption"]) for item in items]
                groups += [_group(item) for item in items]
            else:
                lines = [line.strip() for line in text.splitlines() if line.strip()]
                captions += lines
                groups += [None] * len(lines)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"{f}: cannot read captions ({type(exc).__name__}: {exc}); give {FORMATS}") from None
    return captions, (groups if any(g is not None for g in groups) else None)
