"""The ``wordnet-replace`` miner: SugarCrepe / FSC-CLIP-style replacement of an entity, attribute or relation."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any, Literal

from negkit.mining.base import Negative
from negkit.mining.lexical import DEPICTION_WORDS, LexicalMiner, find_units, order_units
from negkit.mining.tagged import Token, interleave
from negkit.seeding import caption_rng

Target = Literal["entity", "attribute", "relation"]
_CLASSES = {"entity": ("NOUN",), "attribute": ("ADJ",), "relation": ("VERB", "REL")}
_KIND = {"NOUN": "replace-obj", "ADJ": "replace-att", "VERB": "replace-rel", "REL": "replace-rel"}


class WordnetReplace(LexicalMiner):
    """Replace one entity (noun), attribute (adjective) or relation (verb, or a spatial word such as
    "on" / "behind") with a WordNet antonym or co-hyponym, as SugarCrepe's replace-obj / replace-att /
    replace-rel negatives and FSC-CLIP's WordNet replacements do. The word is chosen uniformly at random
    (concreteness plays no part, unlike ``concrete-plant``); the replacement is re-inflected like the
    original and is never a WordNet synonym of it. Relation words come from a table of opposites.
    Each negative still records the concreteness of the replaced word (``None`` if the norms lack it).

    Parameters:
        targets: what may be replaced: any of "entity", "attribute", "relation".
        zipf_window: largest difference in Zipf frequency between replacement and original (drops rare
            WordNet words such as "hyaena"); None for no frequency filter.
        min_concreteness: lowest concreteness (1-5) of a replacement; None (default) for no threshold.
        min_corpus_count: keep only replacements the training captions use at least this often (0, the
            default: off, as in SugarCrepe's generator).
        plausibility: rank the candidates by the training captions' language model (off by default).
        corpus: a captions file to count and model when no mining stage hands in the training captions.
        senses: how many WordNet senses of a word give replacements (physical senses first for nouns).
        skip_words: lemmas never replaced (default: words about the picture, "photo", "view", ...).
        norms: concreteness norms used for the recorded scores (see concrete-plant).
        norms_scale: the (low, high) scale of a user CSV's scores.
        spacy_model: spaCy pipeline; another installed English pipeline is used if it is missing.
        batch_size: captions per ``nlp.pipe`` batch.
    """

    name = "wordnet-replace"

    def __init__(
        self,
        targets: tuple[Target, ...] = ("entity", "attribute", "relation"),
        zipf_window: float | None = 2.0,
        min_concreteness: float | None = None,
        min_corpus_count: int = 0,
        plausibility: bool = False,
        corpus: str = "",
        senses: int = 1,
        skip_words: tuple[str, ...] = DEPICTION_WORDS,
        norms: str = "brysbaert",
        norms_scale: tuple[float, float] | None = None,
        spacy_model: str = "en_core_web_sm",
        batch_size: int = 256,
    ) -> None:
        unknown = set(targets) - set(_CLASSES)
        if unknown or not targets:
            raise ValueError(f"targets must be a non-empty list of entity, attribute, relation; got {list(targets)!r}")
        if senses < 1:
            raise ValueError(f"senses must be >= 1, got {senses}")
        self.targets = tuple(targets)
        self.classes = frozenset(c for t in targets for c in _CLASSES[t])
        self.zipf_window = zipf_window
        self.min_concreteness = min_concreteness
        self.senses = senses
        self.min_corpus_count = min_corpus_count
        self.plausibility = plausibility
        self.corpus = corpus
        self.skip_words = frozenset(w.lower() for w in skip_words)
        self._set_resources(norms, norms_scale, spacy_model, batch_size)

    def candidates(self, doc: Any, tokens: list[Token], caption: str, k: int, seed: int) -> Iterable[Negative]:
        units = find_units(tokens, self._norms, self.classes, self.skip_words)
        if not units:
            return ()
        rng = caption_rng(caption, seed, self.name)
        ordered = order_units(units, "uniform", rng, include_unrated=True)
        # one replacement per word in turn, then a second round: k negatives touch k different words
        return interleave([self.replacements(tokens, unit, random.Random(rng.random()), _KIND[unit.cls])
                           for unit in ordered])
