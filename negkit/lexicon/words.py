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
    from lemminflect import getInflection

    parts = word.split(" ")
    at = 0 if tag.startswith("V") else len(parts) - 1
    forms = getInflection(parts[at], tag=tag, inflect_oov=tag[0] in "NV")
    if forms:
        parts[at] = forms[0]
    return " ".join(parts)


@word_cache
def plurals(noun: str) -> tuple[str, ...]:
    """Every plural form lemminflect gives the lemma ``noun``, its preferred first ("bus" -> "buses",
    "busses"); the singular only where it is the preferred plural ("sheep"), not a mass reading ("fish")."""
    from lemminflect import getInflection

    forms = getInflection(noun, tag="NNS", inflect_oov=True)
    return tuple(f for i, f in enumerate(forms) if f != noun or i == 0)


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
