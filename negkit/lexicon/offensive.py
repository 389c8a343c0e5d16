"""Offensive words, from a maintained list: ``better-profanity``'s word list (read as data; its censor is
not used). A replacement that is (or contains) one of them is never offered."""

from __future__ import annotations

import functools
import importlib.resources

from negkit.errors import ResourceMissingError


@functools.lru_cache(maxsize=1)
def offensive_words() -> frozenset[str]:
    try:
        text = importlib.resources.files("better_profanity").joinpath("profanity_wordlist.txt").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        raise ResourceMissingError("the offensive-word list is missing: pip install better-profanity") from None
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip())


def is_offensive(text: str) -> bool:
    """Whether ``text`` (a word or a phrase) is, or contains, a listed offensive word."""
    words = offensive_words()
    text = text.lower()
    return text in words or any(part in words for part in text.replace("-", " ").split())
