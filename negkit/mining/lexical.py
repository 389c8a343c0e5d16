"""Editable words of a tagged caption and their replacements, shared by the word-level miners.

A *unit* is what one edit changes: a single content word, a compound the norms rate and WordNet knows
as a noun ("hot dog", "fire hydrant"), or a relation phrase from ``negkit.lexicon.relations``
("in front of"). Its class is ``NOUN``, ``ADJ``, ``VERB`` or ``REL`` (relation words).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import chain
from typing import Any, NamedTuple, TypeVar

from negkit.lexicon import on_clear_word_caches, word_cache
from negkit.lexicon import wordnet as wn
from negkit.lexicon.norms import Norms
from negkit.lexicon.offensive import is_offensive
from negkit.lexicon.relations import RELATION_OPPOSITES, RELATION_PHRASES, match_relation
from negkit.lexicon.words import article_for, inflect, lemma, load_tables, match_case, plurals, zipf
from negkit.mining.base import Edit, Negative
from negkit.mining.corpus import BOS, EOS, MEMO_SIZE, RELATION_REACH, CorpusUser
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


def modifier_units(tokens: Sequence[Token], norms: Norms, classes: frozenset[str],
                   skip: frozenset[str] = frozenset()) -> list[Unit]:
    """The nouns of ``find_units`` that only modify the next noun ("kitchen" in "on the kitchen floor"), which
    ``edit_matters`` leaves out: the back-off pass's last resort, where the slot test (``SlotTest``) wants the
    new compound to be one the captions write ("bathroom floor"; never "motor desk")."""
    if "NOUN" not in classes:
        return []
    return [u for u in find_units(tokens, norms, frozenset({"NOUN"}), skip)
            if u.end < len(tokens) and tokens[u.end].pos == "NOUN" and tokens[u.end].lower not in skip
            and standalone(tokens, u.end) and _is_word(tokens[u.end].lower)]


# Counts of several things: a caption's number before a plural noun can change to any other of them and
# stay fluent ("two dogs" -> "three dogs"); "one" is left out (its noun is singular).
COUNT_WORDS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
_COUNT_DIGITS = {str(i + 2): w for i, w in enumerate(COUNT_WORDS)}


# after "a dog", a word that agrees with a singular subject or refers back to it: "a dog" -> "two dogs"
# would need it changed too ("two dogs is", "two dogs wagging its tail")
_SINGULAR_AGREEMENT = frozenset({"is", "was", "has", "does", "his", "her", "its", "himself", "herself", "itself",
                                 "he", "she", "it", "this", "that"})


_PLURAL_VERB = {"is": "are", "was": "were", "has": "have"}


_THING_OF = frozenset({"noun.artifact", "noun.food"})  # "a plate of", "a slice of": a thing, countable


# a singular's agreeing words and their plural, for "a dog ... its" -> "two dogs ... their"
_PLURAL_AGREEMENT = {"is": "are", "was": "were", "has": "have", "does": "do", "his": "their", "its": "their",
                     "himself": "themselves", "herself": "themselves", "itself": "themselves"}
AGREED = "NNS+"  # the tag of a count unit whose span runs to the later words that agree with its noun


def number_units(tokens: Sequence[Token], norms: Norms, skip: frozenset[str] = frozenset(),
                 agree: bool = False) -> list[Unit]:
    """The counts of a caption as units of class ``NUM``, scored by the norms' rating of the number word:
    a number ("two", "3") that a plural noun follows, at most one word between; and "a"/"an" before a
    singular noun, lemma "one" ("a dog is" -> "two dogs are"): at most one adjective or noun between; before
    "of" only a thing ("a plate of", not "a lot of"); not after a preposition; not a noun of ``skip``; no
    later word that agrees with a singular ("its", "his", a verb other than an "is", "was" or "has" right
    after the noun, which the unit takes along). ``agree``: besides those (less a noun followed by a particle,
    "a close up", or by an "-ing" word and a noun, "an old time looking clock", or after an existential
    "there is"), the "a"/"an" counts that those rules leave out but that can be edited all the same: before a
    noun followed by a participle that modifies no next noun or an "-ing" verb tagged as a noun; or with
    later agreeing words, each a verb
    (``VBZ``) or a word of ``_PLURAL_AGREEMENT`` with no other noun between
    it and the count's noun (so it can only agree with that noun): the unit's span runs to the last of
    them (tag ``AGREED``) and ``count_text`` makes them plural ("a fire hydrant that is sitting" -> "two
    fire hydrants that are sitting", "a man walking his dog" -> "two men walking their dog")."""
    units = []
    agreeing = [i for i, t in enumerate(tokens) if t.tag == "VBZ" or t.lower in _SINGULAR_AGREEMENT]
    for i, tok in enumerate(tokens):
        word = _COUNT_DIGITS.get(tok.lower, tok.lower)
        if tok.pos == "NUM" and word in COUNT_WORDS:
            if any(t.tag in ("NNS", "NNPS") for t in tokens[i + 1:i + 3]):
                units.append(Unit(i, i + 1, tok.text, word, "NUM", tok.tag, norms.scores.get(word)))
            continue
        if tok.lower not in ("a", "an") or tok.tag != "DT" or (i and tokens[i - 1].pos == "ADP"):
            continue  # after a preposition it is a place: one thing is in or on two sinks less often
        j = i + 1
        if j + 1 < len(tokens) and (tokens[j].pos == "ADJ" or tokens[j].tag == "NN") and tokens[j + 1].tag == "NN" \
                and not tokens[j + 1].lower.endswith("ing"):  # "a giraffe standing": a verb tagged as a noun
            j += 1  # one modifier: "a red ball", "a metal pole"
        if agree and j < len(tokens) and tokens[j].tag != "NN":  # more: "a red and black boat", "a very nice room"
            k = i + 1
            while k < len(tokens) and k - i <= 4 and (tokens[k].pos in ("ADJ", "ADV", "CCONJ")
                                                      or tokens[k].text == ","):
                k += 1
            if k + 1 < len(tokens) and tokens[k].tag == "NN" and tokens[k + 1].tag == "NN" \
                    and not tokens[k + 1].lower.endswith("ing"):
                k += 1
            j = k if k > i + 1 and tokens[k - 1].pos in ("ADJ", "NOUN") else j
        if j >= len(tokens) or tokens[j].tag != "NN" or not _is_word(tokens[j].lower):
            continue
        relaxed = False
        if j + 1 < len(tokens) and (tokens[j + 1].pos in ("NOUN", "PROPN") or tokens[j + 1].tag == "VBN"):
            after = tokens[j + 2].pos if j + 2 < len(tokens) else "END"
            # with ``agree``, a participle that modifies no next noun ("a stop sign installed upside down",
            # not "a half eaten pastry"), or a verb the tagger took for a noun ("a giraffe standing in")
            relaxed = agree and after not in ("NOUN", "PROPN", "ADJ") and (
                tokens[j + 1].tag == "VBN" or (tokens[j + 1].tag == "NN" and tokens[j + 1].lower.endswith("ing")))
            if not relaxed:
                continue  # not the head ("a tennis court", "a half eaten pastry")
        if agree and j + 1 < len(tokens) and (tokens[j + 1].tag == "RP" or (
                tokens[j + 1].tag == "VBG" and j + 2 < len(tokens) and tokens[j + 2].tag in ("NN", "NNS"))):
            continue  # no noun: "a close up of"; a modifier of the next noun: "an old time looking clock"
        if agree and i >= 2 and tokens[i - 1].lower in _PLURAL_VERB and tokens[i - 2].tag == "EX":
            continue  # "there is a puppy": the "is" before it would need changing too
        head = lemma(tokens[j].lower, "NOUN")
        if head in skip or (j + 1 < len(tokens) and tokens[j + 1].lower == "of"
                            and wn.main_lexname(head, "NOUN") not in _THING_OF):
            continue  # a picture word ("a photo of"), or a measure or group ("a lot of", "a couple of")
        end = j + 1
        if end < len(tokens) and tokens[end].lower in _PLURAL_VERB and tokens[end].tag in ("VBZ", "VBD"):
            end += 1  # its verb right after it agrees too: "a dog is" -> "two dogs are"
        later = [a for a in agreeing if a >= end]
        if agree:  # a relative "that" and a determiner of another noun ("that is", "this show") agree with nothing
            later = [a for a in later if tokens[a].tag != "WDT" and not (
                tokens[a].tag == "DT" and a + 1 < len(tokens) and tokens[a + 1].pos in ("NOUN", "ADJ"))]
        if agree and later:
            if not _agreement_fixable(tokens, j, later):
                continue
            end = later[-1] + 1
            units.append(Unit(i, end, _text(tokens, i, end), "one", "NUM", AGREED, norms.scores.get("one")))
            continue
        if later:
            continue
        units.append(Unit(i, end, _text(tokens, i, end), "one", "NUM", "NNS", norms.scores.get("one")))
    return units


def _agreement_fixable(tokens: Sequence[Token], noun: int, later: Sequence[int]) -> bool:
    """Whether every word of ``later`` can be made plural and can only agree with the noun at ``noun``: a
    ``VBZ`` verb or a word of ``_PLURAL_AGREEMENT``, no noun or personal pronoun between it and the noun."""
    for a in later:
        tok = tokens[a]
        if tok.lower not in _PLURAL_AGREEMENT and (tok.tag != "VBZ" or not _is_word(tok.lower)):
            return False  # "he", "she", "it", "this", "that": whose they are is not clear
        if tok.lower == "her" or any(t.pos in ("NOUN", "PROPN") or (t.pos == "PRON" and t.tag == "PRP")
                                     for t in tokens[noun + 1:a]):
            return False
    return True


def _inflected(noun: str) -> str | None:
    return inflect(noun, "NNS")


def corpus_plural(corpus: Any, noun: str) -> str | None:
    """The plural of the lemma ``noun`` as the captions write it: of lemminflect's plural forms
    (``plurals``) and WordNet's plural group of its members (``wordnet.plural_groups``: "person" -> "people",
    which no lemmatiser links to it), the one the captions use most often as written; ``None`` when they use
    none."""
    forms = dict.fromkeys(plurals(noun) + wn.plural_groups(noun))
    seen = [(corpus.counts.get(f, 0), -i, f) for i, f in enumerate(forms)]
    best = max(seen, default=(0, 0, ""))
    return best[2] if best[0] > 0 else None


def count_text(unit: Unit, word: str, tokens: Sequence[Token],
               plural: Callable[[str], str | None] = _inflected) -> str | None:
    """The unit's span with its count changed to ``word`` (a number word or digits): "two" -> "three",
    "a red ball" -> "two red balls". ``plural``: the plural of a noun's lemma (lemminflect's first by
    default; ``corpus_plural`` for the captions' own); ``None`` when it has none."""
    new = match_case(word, tokens[unit.start].text)
    if unit.end - unit.start == 1:
        return new
    if unit.tag == AGREED:
        return _agreed_text(unit, new, tokens, plural)
    end, verb = unit.end, ""
    if tokens[end - 1].lower in _PLURAL_VERB and tokens[end - 1].pos in ("AUX", "VERB"):
        end -= 1
        verb = tokens[end - 1].ws + match_case(_PLURAL_VERB[tokens[end].lower], tokens[end].text)
    noun = tokens[end - 1]
    form = plural(lemma(noun.lower, "NOUN"))
    if form is None:
        return None
    middle = "".join(t.text + t.ws for t in tokens[unit.start + 1:end - 1])
    return new + tokens[unit.start].ws + middle + match_case(form, noun.text) + verb


def _agreed_text(unit: Unit, new: str, tokens: Sequence[Token],
                 plural: Callable[[str], str | None] = _inflected) -> str | None:
    """An ``AGREED`` count unit with its count ``new``, its noun plural and its agreeing words made plural."""
    out = [new + tokens[unit.start].ws]
    noun_done = False
    for i in range(unit.start + 1, unit.end):
        tok = tokens[i]
        text = tok.text
        # the head noun: the first singular noun no other noun of the span follows ("fire hydrant": hydrant)
        if not noun_done and tok.tag == "NN" and tok.pos == "NOUN" and not (i + 1 < unit.end
                                                                            and tokens[i + 1].tag == "NN"):
            form = plural(lemma(tok.lower, "NOUN"))
            if form is None:
                return None
            text, noun_done = match_case(form, tok.text), True
        elif noun_done and tok.lower in _PLURAL_AGREEMENT:
            text = match_case(_PLURAL_AGREEMENT[tok.lower], tok.text)
        elif noun_done and tok.tag == "VBZ":
            text = match_case(inflect(lemma(tok.lower, "VERB"), "VBP"), tok.text)
        out.append(text + tok.ws)
    return "".join(out).rstrip()


def _text(tokens: Sequence[Token], start: int, end: int) -> str:
    return "".join(t.text + t.ws for t in tokens[start:end]).rstrip()


class Candidate(NamedTuple):
    word: str  # a lemma
    score: float | None  # its concreteness
    antonym: bool  # a WordNet antonym (or a relation's opposite) rather than a co-hyponym
    kind: str | None = None  # the lexicographer file its first sense must have (the original sense's)


WIDER_WINDOW = 1.5  # the second tier's concreteness window, relative to the first's ("clean" -> "dirty": 1.16)


_UNKNOWN = object()  # not in a memo (None is a result there)


class Replacer:
    """Replacement words for a unit: WordNet antonyms and co-hyponyms of the sense that fits the caption
    (the relation table for ``REL``), filtered and cached per (lemma, class, sense).

    Filters, cheapest first: an offensive word (better-profanity's list), a word the caption corpus uses
    fewer than ``min_corpus_count`` times (with a corpus), a Zipf frequency outside ``zipf_window`` of the
    original's, a concreteness below ``min_concreteness`` or farther than ``concreteness_window`` from the
    original's, a noun that is not head-final, and a word WordNet relates to the original so that the
    caption may stay true: a synonym, hypernym or hyponym at any depth (``taxonomic_relation``).
    """

    def __init__(self, norms: Norms, *, min_concreteness: float | None, zipf_window: float | None,
                 senses: int, concreteness_window: float | None = None, min_corpus_count: int = 0,
                 corpus: Any = None) -> None:
        self.norms = norms
        self.min_concreteness = min_concreteness
        self.zipf_window = zipf_window
        self.senses = senses
        self.concreteness_window = concreteness_window
        self.min_corpus_count = min_corpus_count if corpus is not None else 0
        self.corpus = corpus
        self._cache: dict[tuple[str, str, int, float | None], tuple[Candidate, ...]] = {}
        self._false: dict[tuple[str, str, Candidate], bool] = {}  # keeps_false, per (lemma, class, candidate)
        self._senses: dict[tuple[str, str, frozenset[str]], Any] = {}  # ``sense``, per (lemma, class, context)

    def preload(self, cache: dict, false: dict) -> None:
        """Start from results computed before (``negkit.mining.candidate_table``: the same calls, made once
        per corpus for its vocabulary); what is not in them is computed as usual."""
        self._cache.update(cache)
        self._false.update(false)

    def __call__(self, unit: Unit, context: frozenset[str] = frozenset(),
                 sense: Any = None) -> tuple[Candidate, ...]:
        if unit.cls == "REL":
            key = (unit.lemma, "REL", 0, unit.score)
            found = self._cache.get(key)
            if found is None:
                found = self._cache[key] = tuple(
                    Candidate(w, self.norms.get(w), True) for w in RELATION_OPPOSITES.get(unit.lemma, ())
                    if self._common(w))
            return found
        if sense is None:  # ``sense``: one of the unit's first ``senses`` senses, given (the candidate table)
            sense = self.sense(unit, context)
        if sense is None:
            return ()
        key = (unit.lemma, unit.cls, sense.offset, unit.score)
        found = self._cache.get(key)
        if found is None:
            ants, sisters = wn.sense_replacements(unit.lemma, unit.cls, sense.pos, sense.offset)
            if unit.cls == "ADJ" and self.senses > 1:  # adjectives: antonyms of every candidate sense too
                ants = tuple(dict.fromkeys(ants + wn.antonyms(unit.lemma, unit.cls, 1)))
            lexname = sense.lexname if unit.cls == "NOUN" else None
            found = self._cache[key] = (self._keep(unit, ants, True) + self._keep(unit, sisters, False, lexname))
        return found

    def wider(self, unit: Unit, context: frozenset[str] = frozenset(), sense: Any = None) -> tuple[Candidate, ...]:
        """The second tier, for a unit none of whose first-tier words (``__call__``) passed: the cousins of
        the sense that fits the caption (``wordnet.wider_replacements``), through the same filters, less
        the first tier's words. Relations have none; a count (``NUM``) gets the other counts, written as
        it is (words or digits)."""
        if unit.cls == "NUM":  # min_concreteness holds for counts too (the number word's rating)
            digits = unit.text.isdigit()
            counts = ("two",) if unit.lemma == "one" else COUNT_WORDS  # "a dog": the smallest change, "two dogs"
            return tuple(Candidate(str(COUNT_WORDS.index(w) + 2) if digits else w, score, True)
                         for w in counts if w != unit.lemma for score in [self.norms.get(w)]
                         if self.min_concreteness is None or (score is not None and score >= self.min_concreteness))
        if unit.cls == "REL" or self.senses < 1:
            return ()
        if sense is None:
            sense = self.sense(unit, context)
        if sense is None:
            return ()
        if sense.lexname in ("noun.group", "noun.quantity"):
            return ()  # the cousins of a group or a measure are no other kind of it: "people" -> "sets"
        key = (unit.lemma, unit.cls + "+", sense.offset, unit.score)
        found = self._cache.get(key)
        if found is None:
            first = {c.word for c in self(unit, context, sense)}
            ants, sisters = wn.sense_replacements(unit.lemma, unit.cls, sense.pos, sense.offset)
            if unit.cls == "ADJ" and self.senses > 1:
                ants = tuple(dict.fromkeys(ants + wn.antonyms(unit.lemma, unit.cls, 1)))
            cousins = wn.wider_replacements(unit.lemma, unit.cls, sense.pos, sense.offset)
            lexname = sense.lexname if unit.cls == "NOUN" else None
            window = None if self.concreteness_window is None else self.concreteness_window * WIDER_WINDOW
            found = self._cache[key] = tuple(
                c for c in self._keep(unit, ants, True, window=window)
                + self._keep(unit, tuple(dict.fromkeys(sisters + cousins)), False, lexname, window=window)
                if c.word not in first)
        return found

    def sense(self, unit: Unit, context: frozenset[str]) -> Any:
        """The sense of the unit's word that fits ``context`` (``wordnet.fitting_sense``; the most frequent one
        with ``senses`` 1), or None. Remembered per (word, class, context): a caption's later passes ask for it
        again, and so does every repeat of the caption."""
        key = (unit.lemma, unit.cls, context)
        memo = self._senses
        found = memo.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            found = wn.fitting_sense(unit.lemma, unit.cls, context, self.senses) if self.senses > 1 else \
                next(iter(wn.senses(unit.lemma, unit.cls, 1)), None)
            if len(memo) < MEMO_SIZE:
                memo[key] = found
        return found

    def _common(self, word: str) -> bool:
        return not self.min_corpus_count or self.corpus.count(word) >= self.min_corpus_count

    def _keep(self, unit: Unit, words: Sequence[str], antonym: bool, lexname: str | None = None,
              window: float | None | str = "default") -> tuple[Candidate, ...]:
        word, cls = unit.lemma, unit.cls
        concreteness_window = self.concreteness_window if window == "default" else window
        base = zipf(word) if self.zipf_window is not None else 0.0
        out = []
        for cand in words:
            # cheapest tests first: a cold word has dozens of sisters and most fail one of them
            if not self._common(cand) or not _is_word(cand.replace(" ", "")) or is_offensive(cand):
                continue
            score = self.norms.get(cand)  # WordNet gives lemmas: the exact entry first
            single = " " not in cand
            if score is None and not single and (self.min_concreteness is not None
                                                 or concreteness_window is not None):
                continue  # a phrase is rated as a whole or not at all
            if self.zipf_window is not None and abs(zipf(cand) - base) > self.zipf_window:
                continue
            if score is None and single:
                score = self.norms.score(cand, cls)
            if self.min_concreteness is not None and (score is None or score < self.min_concreteness):
                continue
            if concreteness_window is not None and unit.score is not None and (
                    score is None or abs(score - unit.score) > concreteness_window):
                continue
            if cls == "NOUN" and not _head_final_noun(cand):
                continue
            out.append(Candidate(cand, score, antonym, lexname))
        return tuple(out)

    def keeps_false(self, unit: Unit, cand: Candidate) -> bool:
        """Whether ``cand`` is read first as the same kind of thing as the unit's sense, names no person the
        unit's could be (``wordnet.people_apart``) and is no WordNet synonym, hypernym or hyponym of the unit's
        word (checked last and lazily, on the few candidates a miner looks at: each check reads the
        candidate's senses and walks their hypernyms)."""
        key = (unit.lemma, unit.cls, cand)
        found = self._false.get(key)
        if found is None:
            found = self._false[key] = self._keeps_false(unit, cand)
        return found

    def _keeps_false(self, unit: Unit, cand: Candidate) -> bool:
        if cand.kind is not None and wn.main_lexname(cand.word, unit.cls) != cand.kind:
            return False  # read first as another kind of thing: "girl" -> "dish", "bat" -> "lead"
        if unit.cls == "NOUN" and not wn.people_apart(unit.lemma, cand.word):
            return False  # the same person may be either: "girl" -> "lady", "man" -> "cook"
        return cand.antonym or wn.taxonomic_relation(unit.lemma, cand.word, unit.cls) is None


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


@word_cache
def written(word: str, tag: str) -> tuple[str, list[str]]:
    """``word`` (a lemma) inflected for ``tag``, and its words as the caption language model reads them
    (``corpus.words``). The list is shared: never changed by its readers."""
    from negkit.mining.corpus import words

    new = inflect(word, tag)
    return new, words(new)


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


class LexicalMiner(CorpusUser, NormsMiner):
    """A miner that replaces units with WordNet words (``min_concreteness``, ``zipf_window``, ``senses``,
    ``concreteness_window``, ``min_corpus_count``, ``plausibility``, ``max_logprob_drop``)."""

    min_concreteness: float | None
    zipf_window: float | None
    senses: int
    concreteness_window: float | None = None
    min_corpus_count: int = 0
    plausibility: bool = False
    max_logprob_drop: float | None = None
    max_scored: int = 10  # candidates scored by the language model per word (the corpus' most frequent)
    fit_weight: float = 1.0  # nats of the co-occurrence fit per context word in the plausibility key
    min_fit: float | None = None
    max_sibling_pmi: float | None = None  # off unless a miner sets it (``negkit.mining.siblings``)
    min_sibling_swaps: int = 3
    _replacer: Replacer | None = None
    _transient = ("_nlp", "_norms", "_replacer", "_corpus")

    def wants_corpus(self) -> bool:
        return bool(self.min_corpus_count) or self.plausibility or self.max_sibling_pmi is not None

    def sibling_stats(self) -> Any:
        """The corpus' ``SiblingStats`` when ``max_sibling_pmi`` is set and the corpus has group information."""
        if self.max_sibling_pmi is None:
            return None
        corpus = self.caption_corpus()
        return getattr(corpus, "siblings", None) if corpus is not None else None

    def _sibling_swap(self, unit: Unit, word: str, siblings: Any) -> bool:
        """Whether captions of one image use ``word`` for what the unit names (``SiblingStats.interchangeable``)."""
        assert self.max_sibling_pmi is not None
        return siblings.interchangeable(unit.lemma, word, self.min_sibling_swaps, self.max_sibling_pmi)

    def use_corpus(self, path: Any) -> None:
        super().use_corpus(path)
        self._replacer = None

    def prepare(self) -> None:
        super().prepare()
        if self._replacer is None:
            from negkit.lexicon.wordnet import wordnet

            wordnet()  # fail early, with the install hint, if WordNet is missing
            load_tables()
            self._replacer = Replacer(self._norms, min_concreteness=self.min_concreteness,
                                      zipf_window=self.zipf_window, senses=self.senses,
                                      concreteness_window=self.concreteness_window,
                                      min_corpus_count=self.min_corpus_count, corpus=self.caption_corpus())
            if self._replacer.corpus is not None and self._corpus_path:
                from negkit.mining.candidate_table import preload_table

                preload_table(self._replacer, self._corpus_path)  # built once per corpus, then loaded

    def replacements(self, tokens: Sequence[Token], unit: Unit, rng: random.Random, kind: str,
                     deferred: Deferred | None = None, view: CaptionWords | None = None,
                     wider: bool = False, backoff: bool = False) -> Iterator[Negative]:
        """Negatives replacing ``unit``. Without plausibility ranking: antonyms first, then co-hyponyms, each
        group in random order. With it: only words the captions use in this slot (``attested``), the most
        plausible first (``plausibility_key``: the language model's log-probability against the caption plus
        how well the new word goes with the caption's other words); those that lose more than
        ``max_logprob_drop`` nats, or go worse than chance with the other words (``min_fit``), go to
        ``deferred`` instead (the caller offers them last). ``wider``: the second tier of words
        (``Replacer.wider``: cousins rather than sisters), through the same tests. ``backoff``: the words of
        both tiers, through the slot tests with their back-off to kinds of the noun (``attested``)."""
        assert self._replacer is not None
        context = view.context(unit) if view is not None else context_lemmas(tokens, unit)
        if backoff:
            words = self._replacer(unit, context) + self._replacer.wider(unit, context)
        else:
            words = self._replacer.wider(unit, context) if wider else self._replacer(unit, context)
        # a word the caption already has makes a muddle, not a negative ("a dog and two cats" -> "two dogs")
        found = [c for c in words if c.word not in context]
        if unit.cls == "REL":  # "up and down the sidewalk" -> "up and up": a relation the caption names beside it
            near = {t.lower for t in chain(tokens[max(0, unit.start - 3):unit.start], tokens[unit.end:unit.end + 3])}
            found = [c for c in found if c.word not in near]
        pronoun = None
        if unit.cls in ("NOUN", "ADJ"):
            pronoun = _pronoun_gender(tokens, unit) if view is None else view.pronoun_gender(unit)
        regender = backoff and pronoun is not None and _sole_gendered(tokens, unit)
        if pronoun is not None and not regender:
            # "A man walking his dog" -> never "A woman (a female player) walking his dog"
            found = [c for c in found if wn.gender(c.word) in (None, pronoun)]
        corpus = self.caption_corpus() if self.plausibility else None
        replacer = self._replacer
        siblings = self.sibling_stats()
        if corpus is None:
            antonyms = [c for c in found if c.antonym]
            others = [c for c in found if not c.antonym]
            for cand in chain(lazy_shuffle(antonyms, rng), lazy_shuffle(others, rng)):
                if replacer.keeps_false(unit, cand) and not (
                        siblings is not None and self._sibling_swap(unit, cand.word, siblings)):
                    yield self._replaced(tokens, unit, cand.word, kind)
            return
        view = view if view is not None else CaptionWords(tokens)
        pool: Sequence[tuple[Candidate, str, Sequence[str]]] = ()
        if found and self.max_scored > 0:
            slot = SlotTest(corpus, view, tokens, unit, backoff)
            if unit.cls == "NUM":  # its new text depends on the caption's words: tested afresh
                pool = self._pool(tokens, unit, found, slot, view, corpus, backoff, siblings)
            else:
                # the pool depends only on the words, what the slot test reads (``SlotTest.key``), the unit's word,
                # tag and capitals: the same in every caption where these are the same
                original = tokens[unit.start].text
                caps = 2 if original.isupper() and len(original) > 1 else 1 if original[:1].isupper() else 0
                # the corpus (and so this memo) is shared by every miner of the process: the sibling test's
                # settings are in the key (the replacer's are, through the words it found)
                sibling_key = (self.max_sibling_pmi, self.min_sibling_swaps) if siblings is not None else None
                key = (unit.lemma, unit.cls, unit.tag, caps, slot.key, self.max_scored, sibling_key,
                       words if len(found) == len(words) else tuple(found))
                pools = corpus.memo("_pools")
                pool = pools.get(key)
                if pool is None:
                    pool = self._pool(tokens, unit, found, slot, view, corpus, backoff, siblings)
                    if len(pools) < MEMO_SIZE:
                        pools[key] = pool
        if not pool:
            return
        fit = _Fit(corpus, context) if unit.cls != "NUM" else _no_fit  # a count goes with any thing
        drops = view.deltas(corpus.lm, unit.start, unit.end, [(new, words) for _, new, words in pool])
        scored = []  # (drop, random tie-break, new text, span, new word), in pool order
        for (cand, new, _), drop in zip(pool, drops):
            span = unit
            if regender and wn.gender(cand.word) not in (None, pronoun):  # "a man ... his" -> "a woman ... her"
                # scored as the word's change alone: the pronoun follows from it, and a model of a few thousand
                # captions has seen "she" too rarely to judge it
                span, new = _regendered(tokens, unit, new)
            scored.append((drop, rng.random(), new, span, cand.word))
        # another count makes no new kind of scene: the model only picks the likeliest ("two" -> "three"),
        # its drop measures how rare the count is in the captions, not how absurd the scene
        max_drop = self.max_logprob_drop if unit.cls != "NUM" else None
        min_fit = self.min_fit if unit.cls != "NUM" else None
        unlikely = [max_drop is not None and drop < -max_drop for drop, *_ in scored]
        if all(u or (min_fit is not None and fit(t[4]) < min_fit) for u, t in zip(unlikely, scored)):
            # nothing to offer now (most words' lot: the language model finds most candidates implausible). Only
            # the order of the deferred reads their scores, and most captions get a negative from another word
            # before they are offered: computed then. Deferred in tie-break order, which the scores' stable sort
            # keeps for equal scores, as the eager order below does.
            if deferred is not None:
                for drop, _, new, span, word in sorted(scored, key=lambda t: t[1]):
                    deferred.append((partial(self._plausibility, drop, fit, word, len(context)),
                                     partial(_edited, view, span, new, kind)))
            return
        keyed = []
        for (drop, rnd, new, span, word), drop_unlikely in zip(scored, unlikely):
            word_fit = fit(word)
            keyed.append((drop + self.fit_weight * word_fit * len(context), drop_unlikely, word_fit, rnd, new, span))
        keyed.sort(key=lambda t: (-t[0], t[3]))
        for score, drop_unlikely, word_fit, _, new, span in keyed:
            if not (drop_unlikely or (min_fit is not None and word_fit < min_fit)):
                yield _edited(view, span, new, kind)
            elif deferred is not None:
                deferred.append((score, partial(_edited, view, span, new, kind)))

    def _plausibility(self, drop: float, fit: Callable[[str], float], word: str, context_size: int) -> float:
        """The ranking's key of a candidate: its drop plus the weighted fit (as ``replacements`` computes it)."""
        return drop + self.fit_weight * fit(word) * context_size

    def _pool(self, tokens: Sequence[Token], unit: Unit, found: list[Candidate], slot: SlotTest, view: CaptionWords,
              corpus: Any, backoff: bool, siblings: Any = None) -> tuple[tuple[Candidate, str, Sequence[str]], ...]:
        """The candidates ``replacements`` scores: the first ``max_scored`` of ``found`` (the corpus' most
        frequent first when there are more) that pass the slot test, the sibling test (``siblings``: the
        corpus' ``SiblingStats``, or None) and ``keeps_false``, each with its new text (inflected and
        capitalised like the unit) and that text's words."""
        if len(found) > self.max_scored:  # the corpus' most frequent first; each test below costs more
            found = sorted(found, key=lambda c: -corpus.count(c.word))
        # the back-off pass's counts take a plural the captions write, or none ("two persons": in no caption)
        plural = partial(corpus_plural, corpus) if backoff else _inflected
        replacer = self._replacer
        assert replacer is not None
        pool = []
        words_of, numeric = view._words, unit.cls == "NUM"
        original = tokens[unit.start].text
        for c in found:
            if numeric:
                new = count_text(unit, c.word, tokens, plural)
                if new is None:
                    continue
                new_words = words_of(new)
                if not slot(new, new_words):
                    continue
            else:
                # the slot tests read the words lower-cased: the capitals (``surface``) only for those that
                # pass (an ASCII word's lower case is the same whatever its capitals)
                new, new_words = written(c.word, unit.tag)
                if not new.isascii():
                    new = surface(unit, c.word, tokens)
                    new_words = words_of(new)
                if not slot(new, new_words):
                    continue
                new = match_case(new, original)
            if siblings is not None and self._sibling_swap(unit, c.word, siblings):
                continue  # the captions of one image use both for the same thing: may leave it true
            if replacer.keeps_false(unit, c):
                pool.append((c, new, new_words))
                if len(pool) >= self.max_scored:
                    break
        return tuple(pool)

    @staticmethod
    def _replaced(tokens: Sequence[Token], unit: Unit, word: str, kind: str, inflected: bool = False) -> Negative:
        if not inflected:
            word = (count_text(unit, word, tokens) or word) if unit.cls == "NUM" else surface(unit, word, tokens)
        new = word
        return Negative(render(tokens, [(unit.start, unit.end, new)]), kind, unit.score,
                        (Edit(unit.start, unit.text, new),))


# (plausibility, or a function computing it; the negative's builder): ``replacements`` and ``ranked`` defer
# implausible candidates to it, and ``by_plausibility`` offers them
Deferred = list[tuple[float | Callable[[], float], Callable[[], Negative]]]


def by_plausibility(deferred: Deferred) -> list[Callable[[], Negative]]:
    """The builders of ``deferred``, the most plausible first; equal scores in the order they were deferred."""
    scores = [score() if callable(score) else score for score, _ in deferred]
    return [deferred[i][1] for i in sorted(range(len(deferred)), key=lambda i: -scores[i])]


class _Fit:
    """``corpus.fit(word, context)`` for the new words of one unit, through the corpus' memo of fits (per word
    and context: the same wherever a caption's lemmas are the same)."""

    def __init__(self, corpus: Any, context: frozenset[str]) -> None:
        self.corpus, self.context = corpus, context
        self.memo = corpus.memo("_fits")
        self.counts: list[tuple[str, int]] | None = None  # ``corpus.context_counts(context)``, read once

    def __call__(self, word: str) -> float:
        found = self.memo.get((word, self.context))
        if found is None:
            if self.counts is None:
                self.counts = self.corpus.context_counts(self.context)
            found = self.corpus.fit_in(self.counts, word)
            if len(self.memo) < MEMO_SIZE:
                self.memo[(word, self.context)] = found
        return found


def _no_fit(word: str) -> float:
    return 0.0


def _edited(view: CaptionWords, unit: Unit, new: str, kind: str) -> Negative:
    """``LexicalMiner._replaced(view.tokens, unit, new, kind, inflected=True)``, rendered by ``view``."""
    return Negative(view.render(unit.start, unit.end, new), kind, unit.score, (Edit(unit.start, unit.text, new),))


class CaptionWords:
    """A tagged caption as the caption language model reads it (``corpus.words``), and the words of the
    caption with one token span replaced, without rendering the text (the model scores many candidates)."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        from negkit.mining.corpus import words

        self.tokens = tokens
        self.cuts = [0]
        for t in tokens:
            self.cuts.append(self.cuts[-1] + len(t.text) + len(t.ws))
        self.text = "".join(t.text + t.ws for t in tokens)
        self.base = words(self.text)
        self._words = words
        self._prefix: dict[int, list[str]] = {}
        self._suffix: dict[int, list[str]] = {}
        self._contexts: dict[tuple[int, int], frozenset[str]] = {}
        self._padded = [BOS, BOS, *self.base, EOS]  # as the language model reads it (``delta``)
        self._cuts: dict[tuple[int, int], tuple[int, int, bool] | tuple[()]] = {}
        self._base_sums: dict[tuple[int, int], float] = {}

    def context(self, unit: Unit) -> frozenset[str]:
        """``context_lemmas(tokens, unit)``, the caption's lemmas read once for all its units (and the same
        set for a unit's later passes)."""
        start, end = unit.start, unit.end
        found = self._contexts.get((start, end))
        if found is None:
            content = self.__dict__.get("_content")
            if content is None:
                content = self._content = [(i, lemma(t.lower, t.pos)) for i, t in enumerate(self.tokens)
                                           if t.pos in _CONTEXT_POS]
            found = self._contexts[(start, end)] = frozenset(lem for i, lem in content if not start <= i < end)
        return found

    def pronoun_gender(self, unit: Unit) -> str | None:
        """``_pronoun_gender(tokens, unit)``, the caption's pronouns read once."""
        marks = self.__dict__.get("_marks")
        if marks is None:  # (index, gender) of each gendered pronoun, left to right
            marks = self._marks = [(i, m) for i, t in enumerate(self.tokens)
                                   for m in [_PRONOUN_GENDER.get(t.lower)] if m is not None]
        for i, mark in marks:
            if i >= unit.end:
                return mark if wn.gender(unit.lemma) == mark else None
        return None

    def render(self, start: int, end: int, new: str) -> str:
        """``render(tokens, [(start, end, new)])``: the caption with one span replaced."""
        tokens, cuts = self.tokens, self.cuts
        if start and new and tokens[start - 1].lower in ("a", "an"):
            prev = tokens[start - 1]
            head = self.text[:cuts[start - 1]] + article_for(new, prev.text) + prev.ws
        else:
            head = self.text[:cuts[start]]
        return (head + new + tokens[end - 1].ws + self.text[cuts[end]:]).strip()

    def prefix(self, start: int) -> list[str]:
        found = self._prefix.get(start)
        if found is None:
            found = self._prefix[start] = self._words(self.text[:self.cuts[start]])
        return found

    def suffix(self, end: int) -> list[str]:
        found = self._suffix.get(end)
        if found is None:
            found = self._suffix[end] = self._words(self.text[self.cuts[end]:])
        return found

    def edited(self, start: int, end: int, new: str, new_words: Sequence[str] | None = None) -> list[str]:
        """The words with tokens ``[start, end)`` replaced by ``new`` (and a preceding a/an made to agree);
        ``new_words``: ``words(new)``, when the caller has them."""
        before = self.prefix(start)
        if start and self.tokens[start - 1].lower in ("a", "an") and before and new:
            before = [*before[:-1], article_for(new, "a")]
        return [*before, *(self._words(new) if new_words is None else new_words), *self.suffix(end)]

    def delta(self, lm: Any, start: int, end: int, new: str, new_words: Sequence[str]) -> float:
        """``lm.delta(self.base, self.edited(start, end, new, new_words))``, the same float (see ``deltas``)."""
        return self.deltas(lm, start, end, [(new, new_words)])[0]

    def deltas(self, lm: Any, start: int, end: int, edits: Iterable[tuple[str, Sequence[str]]]) -> list[float]:
        """``delta`` of each (new, new_words) of ``edits`` for tokens ``[start, end)``, without comparing the
        words before and after the edit again for every candidate: where the caption's words before ``start``
        and after ``end`` are a prefix and a suffix of ``base`` (a token cut that splits no word), the trigrams
        that differ are found from the edit's place, and summed as ``lm._sum`` sums them; elsewhere
        ``lm.delta`` itself runs."""
        cut = self._cuts.get((start, end))
        if cut is None:
            cut = self._cuts[(start, end)] = self._cut(start, end) or ()
        if not cut:
            return [lm.delta(self.base, self.edited(start, end, new, new_words)) for new, new_words in edits]
        head, rest, article = cut  # padded[:head]: BOS, BOS and the words before; padded[rest:]: after and EOS
        a, sums = self._padded, self._base_sums
        len_a, before, after = len(a), a[:head], a[rest:]
        memo = lm._memo
        known, score = memo.get, lm._score
        out = []
        for new, new_words in edits:
            # lm.delta's scan for the first and last words that differ, started where they may first differ
            if article and new:
                b = [*a[:head - 1], article_for(new, "a"), *new_words, *after]
                lo = head - 1
            else:
                b = [*before, *new_words, *after]
                lo = head
            len_b = len(b)
            while lo < len_a and lo < len_b and a[lo] == b[lo]:
                lo += 1
            tail = len_a - rest
            if tail > len_a - lo or tail > len_b - lo:
                tail = min(len_a - lo, len_b - lo)
            while tail < len_a - lo and tail < len_b - lo and a[-1 - tail] == b[-1 - tail]:
                tail += 1
            end_a, end_b = min(len_a, len_a - tail + 2), min(len_b, len_b - tail + 2)
            sa = sums.get((lo, end_a))
            if sa is None:
                sa = sums[(lo, end_a)] = lm._sum(a, lo, end_a)
            scores = []
            for i in range(lo, end_b):
                key = (b[i - 2], b[i - 1], b[i])
                found = known(key)
                scores.append(found if found is not None else score(key, memo))
            out.append(sum(scores) - sa)  # lm._sum(b, lo, end_b) - sa
        return out

    def _cut(self, start: int, end: int) -> tuple[int, int, bool] | None:
        """For ``delta``: where the words of tokens ``[start, end)`` begin and end in ``[BOS, BOS, *base,
        EOS]``, and whether an "a"/"an" before them agrees with the new words; None when the token cut splits
        a word ("t" of "t-shirt")."""
        before, after = self.prefix(start), self.suffix(end)
        base, n = self.base, len(self.base)
        if len(before) + len(after) > n or base[:len(before)] != before or base[n - len(after):] != after:
            return None
        article = bool(start and self.tokens[start - 1].lower in ("a", "an") and before)
        return 2 + len(before), 2 + n - len(after), article


_MODIFIER_POS = frozenset({"NOUN", "PROPN"})


def _preposition(tokens: Sequence[Token], unit: Unit) -> str | None:
    """The relation phrase of the relation table whose object the noun is ("on a red couch" -> on, "in front
    of the house" -> in front of): at most a determiner, number, possessive or adjective in between."""
    i = unit.start - 1
    while i >= 0 and tokens[i].pos in ("DET", "NUM", "ADJ") and unit.start - i <= 2:
        i -= 1
    for m in (3, 2, 1):
        if i - m + 1 >= 0:
            phrase = " ".join(t.lower for t in tokens[i - m + 1:i + 1])
            if phrase in RELATION_OPPOSITES and tokens[i - m + 1].pos in ("ADP", "ADV", "ADJ", "SCONJ"):
                return phrase
    return None


def _governor(tokens: Sequence[Token], unit: Unit) -> str | None:
    """The lemma of the verb whose object the noun is, or of the adjective right before it ("hit a ball" ->
    hit, "frosted glass" -> frosted), read from the tags: a verb, then at most a determiner or number."""
    i = unit.start - 1
    if i >= 0 and tokens[i].pos == "ADJ" and tokens[i].tag not in ("JJR", "JJS"):
        return lemma(tokens[i].lower, "ADJ")
    while i >= 0 and tokens[i].pos in ("DET", "NUM") and unit.start - i <= 2:
        i -= 1
    if i >= 0 and tokens[i].pos == "VERB" and i < unit.start - 1:
        return lemma(tokens[i].lower, "VERB")
    return None
_DETERMINED = frozenset({"DET", "NUM", "PRON", "ADJ", "NOUN", "PROPN", "ADV", "CCONJ", "PUNCT"})
MAX_KINDS = 200  # synsets read below a noun's parent by ``_below`` (bounds the cost under broad ones)


def _below(synset: Any) -> dict[str, None]:
    """The one-word lemmas of ``synset`` and of the synsets below it, breadth first, at most ``MAX_KINDS``."""
    lines = wn.synset_lines()
    out: dict[str, None] = {}
    frontier, seen = [synset], 1
    while frontier:
        below = []
        for node in frontier:
            out.update(dict.fromkeys(n.lower() for n in node.lemma_names if "_" not in n and n.islower()))
            for child in lines.related(node, wn.HYPONYM):
                if seen < MAX_KINDS:
                    seen += 1
                    below.append(child)
        frontier = below
    return out


_KNOWN_FAMILIES: dict[str, tuple[str, ...]] = {}  # ``preload_families``, until ``clear_word_caches``


def preload_families(families: dict[str, tuple[str, ...]]) -> None:
    """Answer ``family`` from these results (computed by it before, for the same WordNet: the candidate
    table) until ``clear_word_caches``."""
    _KNOWN_FAMILIES.update(families)


@on_clear_word_caches
def _forget_families() -> None:
    _KNOWN_FAMILIES.clear()


@word_cache
def family(noun: str) -> tuple[str, ...]:
    """``noun`` and the one-word lemmas of the things of its kind: every word below its first sense's
    hypernym ("boat" -> under "vessel": boat, ship, canoe, ...; at most ``MAX_KINDS`` synsets). For the
    caption's own noun only: what a caption says of a relation or an adjective with a thing of the same kind
    it could say with this one ("a blue ship": a blue boat is seen)."""
    known = _KNOWN_FAMILIES.get(noun)
    return known if known is not None else _family(noun)


def _family(noun: str, below: Callable[[Any], dict[str, None]] = _below) -> tuple[str, ...]:
    found = wn.senses(noun, "NOUN", 1)
    out = dict.fromkeys([noun])
    if found:
        parents = wn.synset_lines().related(found[0], wn.HYPERNYM)
        out.update(below(parents[0] if parents else found[0]))
    return tuple(out)


def family_table(nouns: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``family`` of each of ``nouns``, for the candidate table; the words below one parent are read once and
    shared by its nouns."""
    below: dict[Any, dict[str, None]] = {}

    def shared(synset: Any) -> dict[str, None]:
        found = below.get(synset)
        if found is None:
            found = below[synset] = _below(synset)
        return found

    return {noun: _family(noun, shared) for noun in nouns}


def _seen_with_kind(count: Callable[[str], int], noun: str, backoff: bool) -> bool:
    """Whether ``count`` is positive for the caption's ``noun`` or, with ``backoff``, for a thing of its kind
    (``family``). Only for the caption's own noun: a new noun's kind includes the very noun it replaces."""
    if count(noun) > 0:
        return True
    return backoff and any(count(k) > 0 for k in family(noun)[1:])


def attested(corpus: Any, view: CaptionWords, tokens: Sequence[Token], unit: Unit, new: str,
             backoff: bool = False) -> bool:
    """Whether the captions use ``new`` (the replacement as written, every word of it) at all, and in the
    unit's slot where the slot is a constrained one. A relation's new phrase must be seen before the object's
    noun ("on a sidewalk" -> "under a sidewalk" is never seen); a noun must be seen with the verb it is the
    object of or the adjective before it ("serve the ball" -> "serve the net"), and after a noun that
    modifies it (a compound: "water balloon" -> "water plane", "stop sign" ->
    "stop display" are never seen), or as a bare singular noun after a preposition or verb ("on display"
    -> "on picture"). The pair of the word before and the new word's first word must occur in the captions;
    any other slot is free. ``backoff``: a new relation or adjective may instead be seen with a thing of the
    same kind as the caption's noun (``family``: "a red boat" is attested by "a red ship"); a new noun's
    tests stay exact (its kind includes the noun it replaces, so backing off would attest anything)."""
    return SlotTest(corpus, view, tokens, unit, backoff)(new)


class SlotTest:
    """``attested`` for one unit of one caption: what depends only on the slot (the relation's object, the
    adjective's head noun, the noun's preposition, governor and the word before it) is read once, and each
    candidate (``__call__``) pays only for its own words."""

    def __init__(self, corpus: Any, view: CaptionWords, tokens: Sequence[Token], unit: Unit,
                 backoff: bool = False) -> None:
        self.corpus, self.view, self.backoff, self.cls = corpus, view, backoff, unit.cls
        self.noun: str | None = None  # REL: the object's noun; ADJ: the head noun; None: no such noun
        self.free = False  # any new word (as written, seen in the captions) passes
        self.after: str | None = None  # VERB: the particle or preposition after it; NOUN: the word before
        self.relation: str | None = None  # NOUN: the preposition before it
        self.head: str | None = None  # NOUN: the word that governs it
        self.head_noun: str | None = None  # NOUN: the noun it modifies ("kitchen" in "kitchen floor")
        self.subject: str | None = None  # VERB: the person or animal doing it
        self.object: str | None = None  # VERB: the noun it acts on
        self.article = False  # NOUN: right after "a"/"an", so a count noun
        if unit.cls == "REL":
            for tok in tokens[unit.end:unit.end + RELATION_REACH]:
                if tok.pos in _MODIFIER_POS:  # the object's first noun: "under a red couch" -> couch
                    self.noun = lemma(tok.lower, "NOUN")
                    break
        elif unit.cls == "ADJ":  # the adjective and the noun it describes share a caption ("old sink" -> "young sink")
            self.free = True
            for j in range(unit.end, min(unit.end + 3, len(tokens))):
                if tokens[j].pos not in ("NOUN", "PROPN", "ADJ", "CCONJ", "PUNCT"):
                    break
                if tokens[j].pos == "NOUN" and (j + 1 == len(tokens) or tokens[j + 1].pos != "NOUN"):  # the head
                    self.noun, self.free = lemma(tokens[j].lower, "NOUN"), False
                    break
        elif unit.cls == "VERB":  # its frame: the word after it, when a particle or preposition ("standing next
            # to" -> "holding next to" is never seen), and the nouns it relates: its subject ("cattle walking" ->
            # "cattle skiing") and its object ("taking a picture" -> "attempting a picture") must be seen with it
            if unit.end < len(tokens) and tokens[unit.end].pos in ("ADP", "ADV", "PART"):
                after = view.suffix(unit.end)
                if after:
                    self.after = after[0]
            self.subject, self.object = _subject(tokens, unit), _object(tokens, unit)
            self.free = self.after is None and self.subject is None and self.object is None
        elif unit.cls != "NOUN" or (unit.start == 0 and not (
                unit.end < len(tokens) and tokens[unit.end].pos == "NOUN")):
            self.free = True
        else:
            self.relation = _preposition(tokens, unit)
            self.head = _governor(tokens, unit)
            prev = tokens[unit.start - 1] if unit.start else None
            compound = prev is not None and prev.pos in _MODIFIER_POS and prev.ws != "" and \
                standalone(tokens, unit.start - 1)
            bare = prev is not None and unit.tag == "NN" and prev.pos not in _DETERMINED and unit.end - unit.start == 1
            before = view.prefix(unit.start) if compound or bare else None
            self.after = before[-1] if before else None  # the pair (word before, new first word) must be seen
            # a noun that modifies the next one ("kitchen floor", ``modifier_units``): the pair (new last word, that
            # noun) must be seen, a compound the captions write ("bathroom floor")
            after = view.suffix(unit.end) if unit.end < len(tokens) and tokens[unit.end].pos == "NOUN" else None
            self.head_noun = after[0] if after else None
            self.article = prev is not None and prev.lower in ("a", "an") and prev.pos == "DET"
        # all that the test reads of the caption: a new word's result is the same in every slot with this key
        self.key = (True,) if self.free else (
            self.cls, self.noun, self.after, self.relation, self.head, self.backoff, self.head_noun, self.subject,
            self.object, self.article)
        self._memo = corpus.memo("_slots")

    def __call__(self, new: str, new_words: Sequence[str] | None = None) -> bool:
        """``new_words``: ``words(new)``, when the caller has them."""
        key = (self.key, new)
        found = self._memo.get(key)
        if found is None:
            found = self._test(new, new_words)
            if len(self._memo) < MEMO_SIZE:
                self._memo[key] = found
        return found

    def _test(self, new: str, new_words: Sequence[str] | None) -> bool:
        corpus = self.corpus
        if new_words is None:
            new_words = self.view._words(new)
        counts = corpus.counts
        for w in new_words:
            if not counts.get(w):
                return False  # the word as written, not only its lemma: "collections", "wives" are in no caption
        if self.free:
            return True
        cls = self.cls
        if cls == "REL":
            if self.noun is None:
                return False  # no noun to check it against ("on it" -> "under it", "going down" -> "going up")
            return _seen_with_kind(partial(_relation_count, corpus, new.lower()), self.noun, self.backoff)
        if cls == "ADJ":
            return _seen_with_kind(partial(corpus.together, lemma(new_words[-1], "ADJ")), self.noun, self.backoff)
        if cls == "VERB":
            if self.after is not None and not corpus.lm.ctx2.get((new_words[-1], self.after), (0, 0))[0]:
                return False
            verb = lemma(new_words[-1], "VERB")
            for noun in (self.subject, self.object):
                if noun is not None and not _seen_with_kind(partial(corpus.together, verb), noun, self.backoff):
                    return False  # "a cow driving down", "cattle skiing", "attempting a picture": never seen
            return True
        noun = lemma(new_words[-1], "NOUN")
        if self.relation is not None and not corpus.relation_object(self.relation, noun):
            return False  # "tricks on a ramp" -> "on a gear", "sleeps in a hammock" -> "in a couch": never seen
        if self.head is not None and not corpus.together(self.head, noun):
            return False  # "serve the ball" -> "serve the net", "frosted glass" -> "frosted food": never seen together
        if self.head_noun is not None and not corpus.lm.ctx2.get((new_words[-1], self.head_noun), (0, 0))[0]:
            return False  # "computer desk" -> "motor desk": a compound no caption writes
        if self.article and not _countable(corpus, new_words[0], noun):
            return False  # "a banana tree" -> "a parsley", "a collection" -> "a people": a count of a mass
        if self.after is None or not new_words:
            return True
        return corpus.lm.ctx2.get((self.after, new_words[0]), (0, 0))[0] > 0


def _countable(corpus: Any, first: str, noun: str) -> bool:
    """Whether the captions count the noun: they write it after "a"/"an" (its first word ``first``, as
    written), or write a plural of it that is not the singular."""
    ctx2 = corpus.lm.ctx2
    if ctx2.get(("a", first), (0, 0))[0] or ctx2.get(("an", first), (0, 0))[0]:
        return True
    return any(corpus.counts.get(form) for form in plurals(noun) if form != noun)  # "parsley": its own plural


def _subject(tokens: Sequence[Token], unit: Unit) -> str | None:
    """The lemma of the person or animal the verb tells of: the nearest noun before it, when animate (the
    nouns ``edit_matters`` lets a verb change for)."""
    for tok in reversed(tokens[:unit.start]):
        if tok.pos == "NOUN":
            noun = lemma(tok.lower, "NOUN")
            return noun if wn.animate(noun) else None
        if tok.pos in ("PROPN", "PRON"):
            return None
    return None


def _object(tokens: Sequence[Token], unit: Unit) -> str | None:
    """The lemma of the verb's object: the head of a noun right after it, at most a determiner, number,
    possessive or adjective in between ("taking a big picture" -> picture)."""
    i = unit.end
    while i < len(tokens) and tokens[i].pos in ("DET", "NUM", "ADJ", "PRON") and i - unit.end < 3:
        if tokens[i].pos == "PRON" and tokens[i].tag != "PRP$":
            return None
        i += 1
    if i >= len(tokens) or tokens[i].pos != "NOUN":
        return None
    while i + 1 < len(tokens) and tokens[i + 1].pos == "NOUN":
        i += 1
    return lemma(tokens[i].lower, "NOUN")


def _relation_count(corpus: Any, relation: str, noun: str) -> int:
    return corpus.relation_object(relation, noun)


_CONTEXT_POS = frozenset({"NOUN", "PROPN", "VERB", "ADJ"})
_PRONOUN_GENDER = {"he": "m", "his": "m", "him": "m", "himself": "m", "she": "f", "her": "f", "hers": "f",
                   "herself": "f"}


_OTHER_GENDER = {"he": "she", "him": "her", "his": "her", "himself": "herself", "she": "he", "hers": "his",
                 "herself": "himself"}


def _sole_gendered(tokens: Sequence[Token], unit: Unit) -> bool:
    """Whether the unit's noun is the caption's only gendered word before its pronouns: no other noun with a
    gender (``wordnet.gender``), no gendered pronoun before the unit (so the later ones refer to it)."""
    for i, tok in enumerate(tokens):
        if unit.start <= i < unit.end:
            continue
        if i < unit.start and tok.lower in _PRONOUN_GENDER:
            return False
        if tok.pos in ("NOUN", "PROPN") and (tok.pos == "PROPN" or wn.gender(lemma(tok.lower, "NOUN"))):
            return False
    return True


def _regendered(tokens: Sequence[Token], unit: Unit, new: str) -> tuple[Unit, str]:
    """The span from the unit to its last gendered pronoun, with ``new`` for the unit and each pronoun of the
    other gender ("his" -> "her"; "her" -> "his" before a noun, else "him")."""
    last = max(i for i, t in enumerate(tokens) if i >= unit.end and t.lower in _PRONOUN_GENDER)
    out = [new + tokens[unit.end - 1].ws]
    for tok in tokens[unit.end:last + 1]:
        word = tok.lower
        if word == "her":
            other = "his" if tok.tag == "PRP$" else "him"
        else:
            other = _OTHER_GENDER.get(word)
        out.append((match_case(other, tok.text) if other else tok.text) + tok.ws)
    span = unit._replace(end=last + 1, text=_text(tokens, unit.start, last + 1))
    return span, "".join(out).rstrip()


def _pronoun_gender(tokens: Sequence[Token], unit: Unit) -> str | None:
    """The gender of the first gendered pronoun after ``unit`` when the unit's noun has that gender."""
    for tok in tokens[unit.end:]:
        mark = _PRONOUN_GENDER.get(tok.lower)
        if mark is not None:
            return mark if wn.gender(unit.lemma) == mark else None
    return None


def edit_matters(tokens: Sequence[Token], unit: Unit, skip: frozenset[str] = frozenset()) -> bool:
    """Whether changing ``unit`` can make the caption false and keep it fluent: not a noun that only
    modifies the next noun ("computer desk" -> "motor desk"), not a group before "of" ("a bunch of", "a herd
    of": ``wordnet.collective``), not an adjective that stands for a noun ("each other"), not the verb of a
    thing rather than a person or animal (a bus "sitting" or "standing" in a field is the same bus), not an
    adjective of a word in ``skip`` (the picture words: "an old photo" -> "a young photo")."""
    if unit.cls == "ADJ" and skip:
        for j in range(unit.end, min(unit.end + 3, len(tokens))):
            if tokens[j].pos not in ("NOUN", "ADJ", "CCONJ", "PUNCT"):
                break
            if tokens[j].pos == "NOUN" and (j + 1 == len(tokens) or tokens[j + 1].pos != "NOUN"):
                return lemma(tokens[j].lower, "NOUN") not in skip
    if unit.cls == "NOUN" and unit.end < len(tokens) and tokens[unit.end].pos == "NOUN":
        return False
    if unit.cls == "ADJ" and unit.start and tokens[unit.start - 1].pos == "DET" and (
            unit.end == len(tokens) or tokens[unit.end].pos in ("ADP", "SCONJ", "AUX", "PART", "PRON", "DET")):
        return False  # a determiner's adjective with no noun stands for one: "next to each other" -> "each same"
    if unit.cls == "NOUN" and unit.end < len(tokens) and tokens[unit.end].lower == "of" and wn.collective(unit.lemma):
        return False  # it says how many, not what: "a bunch of cars" -> "an assortment of cars"
    if unit.cls == "VERB" and 0 < unit.start and unit.end < len(tokens) and tokens[unit.end].pos == "NOUN" and \
            tokens[unit.start - 1].pos in ("ADJ", "ADV", "NOUN"):
        return False  # part of a modifier: "a tasty looking sandwich", "a leaf covered forest"
    if unit.cls == "VERB":
        for tok in reversed(tokens[:unit.start]):
            if tok.pos in ("NOUN", "PROPN"):
                return tok.pos == "PROPN" or wn.animate(lemma(tok.lower, "NOUN"))
            if tok.pos == "PRON":
                return tok.lower not in ("it", "this", "that", "which")
    return True


def context_lemmas(tokens: Sequence[Token], unit: Unit) -> frozenset[str]:
    """The lemmas of the caption's content words other than ``unit``'s (for choosing its sense)."""
    return frozenset(lemma(t.lower, t.pos) for i, t in enumerate(tokens)
                     if t.pos in _CONTEXT_POS and not unit.start <= i < unit.end)


def ranked(corpus: Any, caption: str, negatives: Iterable[Negative], rng: random.Random,
           max_drop: float | None, deferred: Deferred | None) -> list[Negative]:
    """``negatives`` most plausible first (the caption language model's log-probability of each, against
    the caption's; ties in random order). Those that lose more than ``max_drop`` nats go to ``deferred``
    (when given; dropped otherwise)."""
    from negkit.mining.corpus import words

    base = words(caption)
    lm = corpus.lm
    keyed = [(lm.delta(base, words(neg.text)), rng.random(), neg) for neg in negatives]
    keyed.sort(key=lambda t: (-t[0], t[1]))
    if max_drop is None:
        return [neg for _, _, neg in keyed]
    keep = [neg for d, _, neg in keyed if d >= -max_drop]
    if deferred is not None:
        deferred.extend((d, partial(_same, neg)) for d, _, neg in keyed if d < -max_drop)
    return keep


def _same(neg: Negative) -> Negative:
    return neg
