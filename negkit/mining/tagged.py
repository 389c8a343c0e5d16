"""Shared machinery of the spaCy-based miners: batch tagging, per-caption dispatch, text edits.

A ``SpacyMiner`` tags all distinct captions of a batch with one ``nlp.pipe`` call, then mines each caption
from its tokens alone, so the result for a caption never depends on the rest of the batch. Token edits
are applied to spaCy's own tokens and whitespace, so everything the miner did not touch stays as written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from negkit.lexicon.words import article_for
from negkit.mining.base import Miner, Negative, keep_valid

# captions longer than this many characters are not tagged (they are not captions); no negatives
MAX_CHARS = 20_000


class Token(NamedTuple):
    text: str
    ws: str  # whitespace after the token
    lower: str
    tag: str  # Penn Treebank tag
    pos: str  # universal POS


class SpacyMiner(Miner):
    """Base class of miners that tag captions with spaCy (see the module doc).

    Subclasses set ``needs_parser`` when they use dependencies or noun chunks, keep ``spacy_model`` and
    ``batch_size`` as constructor parameters, and implement ``candidates(doc, tokens, caption, k, seed)``:
    a lazy iterable of ``Negative`` in preference order (``keep_valid`` keeps the first ``k`` valid ones).
    """

    needs_parser = False
    _transient: tuple[str, ...] = ("_nlp",)

    spacy_model: str
    batch_size: int
    _nlp: Any = None

    def _pipeline(self) -> Any:
        if self._nlp is None:
            from negkit.lexicon.spacy_pipeline import load_pipeline

            self._nlp = load_pipeline(self.spacy_model, parser=self.needs_parser)
        return self._nlp

    def prepare(self) -> None:
        """Load the heavy resources now (the first ``mine`` call does it otherwise)."""
        self._pipeline()

    def mine(self, captions: Sequence[str], *, k: int, seed: int) -> list[list[Negative]]:
        if k <= 0 or not captions:
            return [[] for _ in captions]
        self.prepare()
        nlp = self._pipeline()
        distinct = [c for c in dict.fromkeys(captions) if isinstance(c, str) and c.strip() and len(c) <= MAX_CHARS]
        found: dict[str, list[Negative]] = {}
        new = tuple.__new__  # Token(...) without the named tuple's Python-level __new__: the same tuples
        for caption, doc in zip(distinct, nlp.pipe(distinct, batch_size=self.batch_size)):
            tokens = [new(Token, (t.text, t.whitespace_, t.lower_, t.tag_, t.pos_)) for t in doc]
            found[caption] = keep_valid(caption, self.candidates(doc, tokens, caption, k, seed), k)
        return [list(found.get(c, ())) for c in captions]

    def candidates(self, doc: Any, tokens: list[Token], caption: str, k: int, seed: int) -> Iterable[Negative]:
        raise NotImplementedError


def render(tokens: Sequence[Token], edits: Sequence[tuple[int, int, str]]) -> str:
    """The caption with the token spans ``[start, end)`` of ``edits`` replaced by new text.

    Spans must not overlap. The whitespace after a replaced span is the span's own trailing whitespace;
    an "a"/"an" right before an edited span is made to agree with the new text.
    """
    by_start = {start: (end, new) for start, end, new in edits}
    out: list[str] = []
    i = 0
    edited_last = False
    while i < len(tokens):
        if i in by_start:
            end, new = by_start[i]
            if out and not edited_last and tokens[i - 1].lower in ("a", "an") and new:
                out[-1] = article_for(new, tokens[i - 1].text) + tokens[i - 1].ws
            out.append(new + tokens[end - 1].ws)
            i = end
            edited_last = True
        else:
            out.append(tokens[i].text + tokens[i].ws)
            i += 1
            edited_last = False
    return "".join(out).strip()


_JOINERS = frozenset({"-", "/", "–", "_"})


def standalone(tokens: Sequence[Token], i: int) -> bool:
    """Whether token ``i`` is a word of its own, not a piece of a hyphenated word ("t" in "t-shirt")."""
    if i > 0 and not tokens[i - 1].ws and tokens[i - 1].text in _JOINERS:
        return False
    return not (not tokens[i].ws and i + 1 < len(tokens) and tokens[i + 1].text in _JOINERS)


def span_text(tokens: Sequence[Token], start: int, end: int) -> str:
    """The text of tokens ``[start, end)`` as written (inner whitespace kept, trailing dropped)."""
    return "".join(t.text + t.ws for t in tokens[start:end]).rstrip()


def interleave(streams: Sequence[Iterator[Negative]]) -> Iterator[Negative]:
    """One item from each stream in turn until all are exhausted (diversity across edit types)."""
    live = list(streams)
    while live:
        nxt = []
        for stream in live:
            item = next(stream, None)
            if item is not None:
                yield item
                nxt.append(stream)
        live = nxt


def swapped(tokens: Sequence[Token], a: tuple[int, int], b: tuple[int, int]) -> tuple[str, str]:
    """The new texts for spans ``a`` and ``b`` (``a`` first) when their contents are exchanged, with a
    sentence-initial capital kept at the start ("A dog near a cat" -> "A cat near a dog")."""
    text_a, text_b = span_text(tokens, *a), span_text(tokens, *b)
    new_a, new_b = text_b, text_a
    if a[0] == 0 and text_a[:1].isupper() and tokens[b[0]].pos != "PROPN":
        new_a = new_a[:1].upper() + new_a[1:]
        if tokens[0].pos != "PROPN" and tokens[0].text != "I" and not text_a.isupper():
            new_b = new_b[:1].lower() + new_b[1:]
    return new_a, new_b
