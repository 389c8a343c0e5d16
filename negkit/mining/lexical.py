"""Editable words of a tagged caption and their replacements, shared by the word-level miners.

A *unit* is what one edit changes: a single content word, a compound the norms rate and WordNet knows
as a noun ("hot dog", "fire hydrant"), or a relation phrase from ``negkit.lexicon.relations``
("in front of"). Its class is ``NOUN``, ``ADJ``, ``VERB`` or ``REL`` (relation words).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any, NamedTuple, TypeVar

from negkit.lexicon import word_cache
from negkit.lexicon import wordnet as wn
from negkit.lexicon.norms import Norms
from negkit.lexicon.relations import RELATION_OPPOSITES, RELATION_PHRASES, match_relation
from negkit.lexicon.words import inflect, lemma, load_tables, match_case, zipf
from negkit.mining.base import Edit, Negative
from negkit.mining.tagged import SpacyMiner, Token, render, standalone

T = TypeVar("T")
CLASS_OF_POS = {"NOUN": "NOUN", "ADJ": "ADJ", "VERB": "VERB"}
# Words about the picture rather than the scene ("a photo of ...", "posing for a picture"): the norms
# rate them highly concrete, but changing them does not make the caption false for the image.
DEPICTION_WORDS = ("picture", "photo", "photograph", "image", "view", "shot", "snapshot", "snap", "scene",
                   "close-up", "closeup", "pic", "photography", "selfie", "frame", "camera view")
_COMPOUND_POS = frozenset({"NOUN", "PROPN", "ADJ"})
_LEMMATISED = frozenset({"NOUN", "PROPN", "VERB", "ADJ", "ADV", "AUX"})


class Unit(NamedTuple):
    start: int  # token span [start, end)
    end: int
    text: str  # as written
    lemma: str  # lower-case lemma (words joined by spaces)
    cls: str  # NOUN | ADJ | VERB | REL
    tag: str  # Penn tag of the token that carries the inflection
    score: float | None  # concreteness (1-5), None when the norms do not rate it


def _is_word(text: str) -> bool:
    return text.replace("-", "").replace("'", "").isalpha()


def find_units(tokens: Sequence[Token], norms: Norms, classes: frozenset[str],
               skip: frozenset[str] = frozenset()) -> list[Unit]:
    """The editable units of a caption, left to right, restricted to ``classes``; units whose lemma is
    in ``skip`` are left out."""
    lemmas = [lemma(t.lower, t.pos) if t.pos in _LEMMATISED else t.lower for t in tokens]
    scores = norms.scores  # keys are lower-case, like lemmas and Token.lower
    relations, nouns = "REL" in classes, "NOUN" in classes
    units: list[Unit] = []
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if relations and tok.lower in RELATION_PHRASES:
            m = match_relation([t.lower for t in tokens[i:i + 4]], 0)
            if m and (tok.pos == "ADP" or (m > 1 and tok.pos in ("ADP", "ADV", "ADJ"))):
                phrase = " ".join(t.lower for t in tokens[i:i + m])
                score = scores.get(phrase)
                units.append(Unit(i, i + m, _text(tokens, i, i + m), phrase, "REL", tok.tag,
                                  score if score is not None else scores.get(tok.lower)))
                i += m
                continue
        if nouns and tok.pos in _COMPOUND_POS and tuple(lemmas[i:i + 2]) in norms.expressions:
            m = norms.match_expression(lemmas, i)
            if m > 1 and all(t.pos in _COMPOUND_POS for t in tokens[i:i + m]) and tokens[i + m - 1].pos == "NOUN":
                phrase = " ".join(lemmas[i:i + m])
                if phrase not in skip and wn.has_sense(phrase, "NOUN"):
                    units.append(Unit(i, i + m, _text(tokens, i, i + m), phrase, "NOUN", tokens[i + m - 1].tag,
                                      scores.get(phrase)))
                    i += m
                    continue
        cls = CLASS_OF_POS.get(tok.pos)
        if cls in classes and lemmas[i] not in skip and _is_word(tok.lower) and standalone(tokens, i):
            score = scores.get(lemmas[i])
            units.append(Unit(i, i + 1, tok.text, lemmas[i], cls, tok.tag,
                              score if score is not None else scores.get(tok.lower)))
        i += 1
    return units


def _text(tokens: Sequence[Token], start: int, end: int) -> str:
    return "".join(t.text + t.ws for t in tokens[start:end]).rstrip()


# WordNet sisters that read as slurs in a caption ("dogs" -> "bitches"): never offered as replacements
NEVER_USE = frozenset({"bitch"})


class Replacements(NamedTuple):
    antonyms: tuple[tuple[str, float | None], ...]  # (word, concreteness), in WordNet order
    others: tuple[tuple[str, float | None], ...]  # co-hyponyms (or, for relations, nothing)


class Replacer:
    """Replacement words for a unit: WordNet antonyms and co-hyponyms (the relation table for ``REL``)
    that pass the concreteness threshold and the frequency window, cached per (lemma, class).

    Synonyms of the original (words sharing any WordNet synset with it) never pass.
    """

    def __init__(self, norms: Norms, *, min_concreteness: float | None, zipf_window: float | None,
                 senses: int) -> None:
        self.norms = norms
        self.min_concreteness = min_concreteness
        self.zipf_window = zipf_window
        self.senses = senses
        self._cache: dict[tuple[str, str], Replacements] = {}

    def __call__(self, unit: Unit) -> Replacements:
        key = (unit.lemma, unit.cls)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._compute(unit.lemma, unit.cls)
        return found

    def _compute(self, word: str, cls: str) -> Replacements:
        if cls == "REL":
            return Replacements(tuple((w, self.norms.get(w)) for w in RELATION_OPPOSITES.get(word, ())), ())
        return Replacements(self._keep(word, cls, wn.antonyms(word, cls, self.senses)),
                            self._keep(word, cls, wn.cohyponyms(word, cls, self.senses)))

    def _keep(self, word: str, cls: str, words: Sequence[str]) -> tuple[tuple[str, float | None], ...]:
        base = zipf(word) if self.zipf_window is not None else 0.0
        out = []
        for cand in words:
            # cheapest tests first: a cold word has dozens of sisters and most fail one of them
            if cand in NEVER_USE or not _is_word(cand.replace(" ", "")):
                continue
            score = self.norms.get(cand)  # WordNet gives lemmas: the exact entry first
            single = " " not in cand
            if score is None and not single and self.min_concreteness is not None:
                continue  # a phrase is rated as a whole or not at all
            if self.zipf_window is not None and abs(zipf(cand) - base) > self.zipf_window:
                continue
            if score is None and single:
                score = self.norms.score(cand, cls)
            if self.min_concreteness is not None and (score is None or score < self.min_concreteness):
                continue
            if cls == "NOUN" and not _head_final_noun(cand):
                continue
            out.append((cand, score))
        return tuple(out)


_FUNCTION_WORDS = frozenset({"of", "off", "on", "in", "for", "to", "with", "de", "la", "a", "the", "and", "or",
                             "at", "by", "up", "out", "down", "over", "under", "from"})


def _head_final_noun(words: str) -> bool:
    """A replacement noun we can inflect: one word, or a compound whose last word is its head noun
    ("hot dog" -> "hot dogs"; not "day off" or "chest of drawers")."""
    parts = words.split(" ")
    if len(parts) == 1:
        return True
    return not _FUNCTION_WORDS.intersection(parts) and bool(lemmas_of(parts[-1]).get("NOUN"))


@word_cache
def lemmas_of(word: str) -> dict[str, tuple[str, ...]]:
    from lemminflect import getAllLemmas

    return getAllLemmas(word)


def surface(unit: Unit, word: str, tokens: Sequence[Token]) -> str:
    """``word`` (a lemma) inflected like the unit's head token and capitalised like the unit."""
    return match_case(inflect(word, unit.tag), tokens[unit.start].text)


def order_units(units: Sequence[Unit], policy: str, rng: random.Random, *, sample: bool = False,
                temperature: float = 1.0, include_unrated: bool = False) -> list[Unit]:
    """Units in the order a policy tries them; units the norms do not rate are left out (kept, in the
    random order, by ``uniform`` with ``include_unrated``).

    ``concrete``: most concrete first; ``abstract``: least concrete first (ties in random order);
    ``uniform``: random order. With ``sample``, the order is a weighted draw without replacement,
    weight ``exp(+-score / temperature)`` (``+`` for concrete, ``-`` for abstract).
    """
    scored = [u for u in units if u.score is not None or (include_unrated and policy == "uniform")]
    if policy == "uniform":
        rng.shuffle(scored)
        return scored
    sign = 1.0 if policy == "concrete" else -1.0
    if sample:
        # Efraimidis-Spirakis: u ** (1 / w) sorted descending = weighted sampling without replacement;
        # in log space so large weights cannot overflow.
        keyed = [(math.log(rng.random() or 1e-300) / math.exp(sign * (u.score - 3.0) / temperature), u)
                 for u in scored]
        keyed.sort(key=lambda kv: -kv[0])
        return [u for _, u in keyed]
    keyed2 = [(-sign * u.score, rng.random(), u) for u in scored]
    keyed2.sort(key=lambda kv: (kv[0], kv[1]))
    return [u for _, _, u in keyed2]


def lazy_shuffle(items: Sequence[T], rng: random.Random) -> Iterator[T]:
    """The items in random order, drawn one at a time (a Fisher-Yates shuffle that stops when the
    consumer does: miners usually need one replacement out of dozens)."""
    pool = list(items)
    for i in range(len(pool)):
        j = rng.randrange(i, len(pool))
        pool[i], pool[j] = pool[j], pool[i]
        yield pool[i]


class NormsMiner(SpacyMiner):
    """A spaCy miner that also scores words with concreteness norms (``norms``, ``norms_scale``)."""

    norms: str
    norms_scale: tuple[float, float] | None
    _norms: Any = None
    _transient = ("_nlp", "_norms")

    def _set_resources(self, norms: str, norms_scale: tuple[float, float] | None, spacy_model: str,
                       batch_size: int) -> None:
        """Keep the constructor parameters every norms miner shares (resources load later, in ``prepare``)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.norms = norms
        self.norms_scale = tuple(norms_scale) if norms_scale is not None else None
        self.spacy_model = spacy_model
        self.batch_size = batch_size

    def prepare(self) -> None:
        if self._norms is None:
            from negkit.lexicon.norms import load_norms

            self._norms = load_norms(self.norms, self.norms_scale)
        self._pipeline()


class LexicalMiner(NormsMiner):
    """A miner that replaces units with WordNet words (``min_concreteness``, ``zipf_window``, ``senses``)."""

    min_concreteness: float | None
    zipf_window: float | None
    senses: int
    _replacer: Replacer | None = None
    _transient = ("_nlp", "_norms", "_replacer")

    def prepare(self) -> None:
        super().prepare()
        if self._replacer is None:
            from negkit.lexicon.wordnet import wordnet

            wordnet()  # fail early, with the install hint, if WordNet is missing
            load_tables()
            self._replacer = Replacer(self._norms, min_concreteness=self.min_concreteness,
                                      zipf_window=self.zipf_window, senses=self.senses)

    def replacements(self, tokens: Sequence[Token], unit: Unit, rng: random.Random, kind: str) -> Iterator[Negative]:
        """Negatives replacing ``unit``: antonyms first, then co-hyponyms, each group in random order."""
        assert self._replacer is not None
        found = self._replacer(unit)
        for word, _score in chain(lazy_shuffle(found.antonyms, rng), lazy_shuffle(found.others, rng)):
            new = surface(unit, word, tokens)
            yield Negative(render(tokens, [(unit.start, unit.end, new)]), kind, unit.score,
                           (Edit(unit.start, unit.text, new),))
