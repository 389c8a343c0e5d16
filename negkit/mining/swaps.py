"""Swap miners: ``random-swap`` (two content words) and ``negclip-swap`` (two spans of the same type)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from itertools import combinations, islice
from typing import Any, Literal

from negkit.mining.base import Edit, Negative
from negkit.mining.corpus import CorpusUser
from negkit.mining.lexical import NormsMiner, ranked
from negkit.mining.tagged import Token, interleave, render, standalone, swapped
from negkit.seeding import caption_rng

Span = tuple[int, int]
# beyond this many pairs, pairs are drawn at random instead of listed (2,000-word captions)
MAX_LISTED_PAIRS = 5_000


def random_pairs(spans: Sequence[Span], texts: Sequence[str], rng: random.Random) -> Iterator[tuple[Span, Span]]:
    """Pairs of non-overlapping spans with different (lower-case) texts, in random order, each once."""
    n = len(spans)
    if n * (n - 1) // 2 <= MAX_LISTED_PAIRS:
        pairs = list(combinations(range(n), 2))
        rng.shuffle(pairs)
    else:
        pairs = [tuple(sorted(rng.sample(range(n), 2))) for _ in range(MAX_LISTED_PAIRS)]
    seen: set[tuple[int, int]] = set()
    for i, j in pairs:
        if (i, j) in seen:
            continue
        seen.add((i, j))
        a, b = spans[i], spans[j]
        if a[1] <= b[0] and texts[i] != texts[j]:
            yield a, b


def swap_negative(tokens: Sequence[Token], a: Span, b: Span, kind: str, concreteness: float | None) -> Negative:
    new_a, new_b = swapped(tokens, a, b)
    old_a = "".join(t.text + t.ws for t in tokens[a[0]:a[1]]).rstrip()
    old_b = "".join(t.text + t.ws for t in tokens[b[0]:b[1]]).rstrip()
    return Negative(render(tokens, [(a[0], a[1], new_a), (b[0], b[1], new_b)]), kind, concreteness,
                    (Edit(a[0], old_a, new_a), Edit(b[0], old_b, new_b)))


MAX_RANKED = 50  # swaps scored by the language model per caption, with plausibility


class _ScoredSwapMiner(CorpusUser, NormsMiner):
    plausibility: bool = False
    _transient = ("_nlp", "_norms", "_corpus")

    def wants_corpus(self) -> bool:
        return self.plausibility

    def _ranked(self, caption: str, negatives: Iterable[Negative], rng: random.Random) -> Iterable[Negative]:
        """``negatives`` as they come, or (with ``plausibility``) the first ``MAX_RANKED`` most plausible first."""
        corpus = self.caption_corpus()
        if corpus is None:
            return negatives
        return ranked(corpus, caption, islice(negatives, MAX_RANKED), rng, None, None)

    def _concreteness(self, tokens: Sequence[Token], *spans: Span) -> float | None:
        """Mean concreteness of the content words in ``spans``; None when one span has no rated word."""
        means = []
        for start, end in spans:
            scores = [s for t in tokens[start:end] if t.pos in ("NOUN", "PROPN", "ADJ", "VERB", "ADV")
                      and (s := self._norms.score(t.lower, t.pos)) is not None]
            if not scores:
                return None
            means.append(sum(scores) / len(scores))
        return sum(means) / len(means)


class RandomSwap(_ScoredSwapMiner):
    """Exchange two content words of the caption chosen uniformly at random: the simplest LLM-free
    negative ("a dog on a sofa" -> "a sofa on a dog"). Words keep their form as written. Each negative
    records the mean concreteness of the two words (None when the norms lack either).

    Parameters:
        pos: universal POS tags that count as content words.
        plausibility: rank the swaps by the training captions' language model, most plausible first (off by
            default, faithful to the paper).
        corpus: a captions file for that model when no mining stage hands in the training captions.
        norms: concreteness norms for the recorded scores (see concrete-plant).
        norms_scale: the (low, high) scale of a user CSV's scores.
        spacy_model: spaCy pipeline; another installed English pipeline is used if it is missing.
        batch_size: captions per ``nlp.pipe`` batch.
    """

    name = "random-swap"

    def __init__(
        self,
        pos: tuple[Literal["NOUN", "PROPN", "ADJ", "VERB", "ADV", "NUM"], ...] = ("NOUN", "PROPN", "ADJ", "VERB",
                                                                                  "ADV", "NUM"),
        plausibility: bool = False,
        corpus: str = "",
        norms: str = "brysbaert",
        norms_scale: tuple[float, float] | None = None,
        spacy_model: str = "en_core_web_sm",
        batch_size: int = 256,
    ) -> None:
        if not pos:
            raise ValueError("pos must name at least one POS tag")
        self.pos = frozenset(pos)
        self.plausibility = plausibility
        self.corpus = corpus
        self._set_resources(norms, norms_scale, spacy_model, batch_size)

    def candidates(self, doc: Any, tokens: list[Token], caption: str, k: int, seed: int) -> Iterable[Negative]:
        words = [i for i, t in enumerate(tokens) if t.pos in self.pos and t.lower.replace("-", "").isalnum()
                 and standalone(tokens, i)]
        if len(words) < 2:
            return ()
        rng = caption_rng(caption, seed, self.name)
        spans = [(i, i + 1) for i in words]
        pairs = random_pairs(spans, [tokens[i].lower for i in words], rng)
        return self._ranked(caption, (swap_negative(tokens, a, b, "swap-word", self._concreteness(tokens, a, b))
                                      for a, b in pairs), rng)


SpanType = Literal["noun-chunk", "noun", "adj", "verb-phrase"]
# dependents that belong to a verb phrase when they follow the verb ("riding a horse down the street")
_VP_DEPS = frozenset({"dobj", "dative", "prt", "prep", "attr", "acomp", "oprd", "advmod", "npadvmod", "xcomp"})


class NegclipSwap(_ScoredSwapMiner):
    """NegCLIP-style swaps (Yuksekgonul et al. 2023): exchange two spans of the same type: noun chunks,
    nouns, adjectives or verb phrases ("a man riding a horse and holding a flag" -> "a man holding a flag
    and riding a horse"). The span type is chosen at random among those with two swappable spans, then
    the pair; with k > 1 the types take turns. Needs the dependency parser (noun chunks, verb phrases).
    Each negative records the mean concreteness of the swapped spans' content words.

    Parameters:
        span_types: which span types may be swapped: any of "noun-chunk", "noun", "adj", "verb-phrase".
        plausibility: rank the swaps by the training captions' language model, most plausible first (off by
            default, faithful to the paper).
        corpus: a captions file for that model when no mining stage hands in the training captions.
        norms: concreteness norms for the recorded scores (see concrete-plant).
        norms_scale: the (low, high) scale of a user CSV's scores.
        spacy_model: spaCy pipeline (with a parser); another installed English pipeline is used if missing.
        batch_size: captions per ``nlp.pipe`` batch.
    """

    name = "negclip-swap"
    needs_parser = True

    def __init__(
        self,
        span_types: tuple[SpanType, ...] = ("noun-chunk", "noun", "adj", "verb-phrase"),
        plausibility: bool = False,
        corpus: str = "",
        norms: str = "brysbaert",
        norms_scale: tuple[float, float] | None = None,
        spacy_model: str = "en_core_web_sm",
        batch_size: int = 256,
    ) -> None:
        unknown = set(span_types) - {"noun-chunk", "noun", "adj", "verb-phrase"}
        if unknown or not span_types:
            raise ValueError("span_types must be a non-empty list of noun-chunk, noun, adj, verb-phrase; "
                             f"got {list(span_types)!r}")
        self.span_types = tuple(span_types)
        self.plausibility = plausibility
        self.corpus = corpus
        self._set_resources(norms, norms_scale, spacy_model, batch_size)

    def spans(self, doc: Any, tokens: Sequence[Token], span_type: str) -> list[Span]:
        """The spans of one type in a parsed doc, left to right, non-overlapping."""
        if span_type == "noun-chunk":
            return [(c.start, c.end) for c in doc.noun_chunks]
        if span_type in ("noun", "adj"):
            pos = "NOUN" if span_type == "noun" else "ADJ"
            return [(t.i, t.i + 1) for t in doc if t.pos_ == pos and t.is_alpha and standalone(tokens, t.i)]
        out: list[Span] = []
        for tok in doc:
            if tok.pos_ != "VERB" or (out and tok.i < out[-1][1]):
                continue
            end = max([c.right_edge.i for c in tok.rights if c.dep_ in _VP_DEPS], default=tok.i)
            out.append((tok.i, end + 1))
        return out

    def candidates(self, doc: Any, tokens: list[Token], caption: str, k: int, seed: int) -> Iterable[Negative]:
        rng = caption_rng(caption, seed, self.name)
        types = list(self.span_types)
        rng.shuffle(types)
        streams = []
        for span_type in types:
            spans = self.spans(doc, tokens, span_type)
            if len(spans) < 2:
                continue
            texts = [" ".join(t.lower for t in tokens[s:e]) for s, e in spans]
            pairs = random_pairs(spans, texts, random.Random(rng.random()))
            streams.append(self._swaps(tokens, pairs, f"swap-{span_type}"))
        return self._ranked(caption, interleave(streams), rng)

    def _swaps(self, tokens: list[Token], pairs: Iterator[tuple[Span, Span]], kind: str) -> Iterator[Negative]:
        for a, b in pairs:
            yield swap_negative(tokens, a, b, kind, self._concreteness(tokens, a, b))
