"""Word frequency (wordfreq) and inflection (lemminflect) for building replacement words."""

from __future__ import annotations

import functools
import math

from negkit.lexicon import word_cache
from negkit.lexicon.norms import lemmas

__all__ = ["article_for", "inflect", "lemma", "load_tables", "match_case", "plurals", "zipf"]

# Penn Treebank tags lemminflect can inflect into, and which word of a multi-word replacement carries
# the inflection: the head noun is last ("hot dogs"), the verb first ("standing up").
_INFLECTED = {"NNS", "NNPS", "VBD", "VBG", "VBN", "VBZ", "VBP", "JJR", "JJS", "RBR", "RBS"}
_UPOS_OF_TAG = {"N": "NOUN", "V": "VERB", "J": "ADJ", "R": "ADV"}


@word_cache
def zipf(word: str) -> float:
    """The Zipf frequency of ``word`` in English (wordfreq's 'best' list): log10 of occurrences per
    billion words, 0 for unseen words; multi-word phrases combine their words as wordfreq does."""
    freq = _frequencies().get(word)
    if freq is not None:  # a plain word of the list: skip wordfreq's tokeniser (most lookups)
        return round(math.log10(freq) + 9, 2)
    if word.isascii() and word.isalpha() and word.islower():
        return 0.0  # one plain token the list lacks: what wordfreq answers too, without its tokeniser
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


@functools.lru_cache(maxsize=1)
def _frequencies() -> dict[str, float]:
    from wordfreq import get_frequency_dict

    return get_frequency_dict("en")


def load_tables() -> None:
    """Load wordfreq's and lemminflect's tables now (each loads on first use otherwise), so that a miner's
    ``prepare`` pays for them rather than its first batch."""
    from lemminflect import getAllLemmas, getInflection

    _frequencies()
    getAllLemmas("dogs")
    getInflection("dog", tag="NNS")
    _inflection_tables()


@word_cache
def lemma(word: str, upos: str | None = None) -> str:
    """The lemminflect lemma of a lower-case ``word`` for universal POS ``upos`` (the word itself if none)."""
    found = lemmas(word, upos)
    return found[0] if found else word


@word_cache
def inflect(word: str, tag: str) -> str:
    """``word`` (a lemma, possibly several words) inflected for Penn tag ``tag``: ("cat", "NNS") -> "cats",
    ("stand up", "VBG") -> "standing up". Unchanged when the tag carries no inflection or lemminflect has
    no form for it."""
    if tag not in _INFLECTED:
        return word
    parts = word.split(" ")
    at = 0 if tag.startswith("V") else len(parts) - 1
    forms = _inflection(parts[at], tag, tag[0] in "NV")
    if forms:
        parts[at] = forms[0]
    return " ".join(parts)


@word_cache
def plurals(noun: str) -> tuple[str, ...]:
    """Every plural form lemminflect gives the lemma ``noun``, its preferred first ("bus" -> "buses",
    "busses"); the singular only where it is the preferred plural ("sheep"), not a mass reading ("fish")."""
    forms = _inflection(noun, "NNS", True)
    return tuple(f for i, f in enumerate(forms) if f != noun or i == 0)


def _inflection(lemma: str, tag: str, inflect_oov: bool) -> tuple[str, ...]:
    """lemminflect's ``getInflection(lemma, tag, inflect_oov)``. Where its dictionary has the form, the form is
    read from its tables directly: ``getInflection`` deep-copies the lemma's every form on each call (most of
    the cost of inflecting a word cold)."""
    tables = _inflection_tables()
    if tables is not None and lemma.islower() and tag not in ("NNP", "NNPS"):
        main, overrides = tables
        form = {**main.get(lemma, {}), **overrides.get(lemma, {})}.get(tag)
        if form and isinstance(form, (tuple, list)):  # else lemminflect's alternate tags and rules decide
            return tuple(w.lower() for w in form)  # its caps style of a lower-case lemma
    from lemminflect import getInflection

    return tuple(getInflection(lemma, tag=tag, inflect_oov=inflect_oov))


@functools.lru_cache(maxsize=1)
def _inflection_tables() -> tuple[dict, dict] | None:
    """lemminflect's inflection and override tables, as ``getInflection`` reads them; None when this
    lemminflect version lays them out otherwise."""
    try:
        from lemminflect.core.Inflections import Inflections

        inflections = Inflections()
        return inflections._getInflDict(), inflections._getOverridesDict()
    except (ImportError, AttributeError):
        return None


def match_case(new: str, original: str) -> str:
    """``new`` with the capitalisation pattern of ``original`` ("Dog" -> "Cat", "DOG" -> "CAT")."""
    if original.isupper() and len(original) > 1:
        return new.upper()
    if original[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def article_for(word: str, original_article: str) -> str:
    """"a" or "an" before ``word`` (by its first letter), in the case of ``original_article``."""
    article = "an" if word[:1].lower() in "aeiou" else "a"
    return match_case(article, original_article)
