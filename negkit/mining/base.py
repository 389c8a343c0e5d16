"""The miner contract: captions in, negative captions out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

# A caption that makes every built-in miner load what it needs (nouns, colours, sizes, a relation):
# mined once before timing or forking, so that lazily loaded resources are in place.
WARM_UP = "Two small dogs play with a red ball on a wooden bench next to the tall tree."


@dataclass(frozen=True)
class Edit:
    """One change a miner made: the word (or span) at ``index`` went from ``before`` to ``after``.

    ``index`` counts tokens of the original caption as the miner tokenised it (spaCy tokens for the
    spaCy-based miners, whitespace words otherwise); it is for audits and reports, not for rebuilding text.
    """

    index: int
    before: str
    after: str


@dataclass(frozen=True)
class Negative:
    """A negative caption and how it was made."""

    text: str
    kind: str  # what was done: "replace-noun", "swap-adj", "shuffle-ngram", ...
    concreteness: float | None = None  # of the edited word(s), 1-5 (Brysbaert scale); None if unknown
    edits: tuple[Edit, ...] = field(default=())

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "kind": self.kind,
            "concreteness": self.concreteness,
            "edits": [[e.index, e.before, e.after] for e in self.edits],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Negative:
        return cls(d["text"], d["kind"], d.get("concreteness"),
                   tuple(Edit(int(i), b, a) for i, b, a in d.get("edits") or ()))


class Miner(ABC):
    """Base class of hard-negative miners.

    Subclasses set ``name`` (kebab-case, the recipe name) and take their parameters as keyword
    arguments of ``__init__`` with defaults, so recipes can set them and ``negkit validate`` can check
    them. Heavy resources (spaCy, WordNet, norms) are loaded lazily on the first ``mine`` call, never in
    ``__init__`` or at import, so that miners stay cheap to build, validate and pickle to workers.
    """

    name: ClassVar[str]

    @abstractmethod
    def mine(self, captions: Sequence[str], *, k: int, seed: int) -> list[list[Negative]]:
        """Up to ``k`` negatives for each caption, in the order of ``captions``.

        Contract (checked by ``negkit.testing.MinerContract``):
        - deterministic in (caption, seed): the same caption gives the same negatives whatever else is in
          the batch, the batch size or the number of processes (use ``negkit.mining.caption_rng``);
        - never the caption itself, never two equal negatives (use ``negkit.mining.keep_valid``);
        - never raises on odd text (empty, emoji, HTML, very long, no content word): return ``[]``.
        """

    def __getstate__(self) -> dict:
        # Lazily loaded resources (spaCy pipelines, WordNet readers) are dropped when a miner is pickled
        # to a worker process; subclasses name them in ``_transient`` and reload them on first use.
        state = self.__dict__.copy()
        for attr in getattr(self, "_transient", ()):
            state[attr] = None
        return state


def keep_valid(caption: str, candidates: Iterable[Negative], k: int) -> list[Negative]:
    """The first ``k`` candidates that differ from the caption and from each other (whitespace-normalised)."""

    def norm(text: str) -> str:
        return " ".join(text.split()).lower()

    seen = {norm(caption)}
    out: list[Negative] = []
    if k <= 0:
        return out
    for neg in candidates:
        key = norm(neg.text)
        if not key or key in seen:
            continue
        seen.add(key)
        out.append(neg)
        if len(out) >= k:  # stop before pulling another candidate: lazy miners pay for each one
            break
    return out
