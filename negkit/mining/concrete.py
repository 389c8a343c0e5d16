"""ConcretePlant and its controls: perturb the words of a caption chosen by their concreteness.

``concrete-plant`` edits the most concrete words (the method), ``random-word`` words chosen uniformly
and ``abstract-first`` the least concrete words (the controls the paper's claim needs). All three are
one class, ``ConcretenessMiner``: same tagging, same norms, same replacement and swap machinery, same
filters; only ``policy``, the order in which words are tried, differs.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, ClassVar, Literal

from negkit.lexicon import wordnet as wn
from negkit.mining.base import Edit, Negative
from negkit.mining.lexical import (
    DEPICTION_WORDS,
    CaptionWords,
    Deferred,
    LexicalMiner,
    Unit,
    by_plausibility,
    edit_matters,
    find_units,
    modifier_units,
    number_units,
    order_units,
    ranked,
    surface,
)
from negkit.mining.tagged import Token, render, swapped
from negkit.seeding import caption_rng

Operation = Literal["replace", "swap", "both"]


class ConcretenessMiner(LexicalMiner):
    """Replace or swap the caption's content words, trying them in the order set by ``policy``.

    Content words are nouns (and noun compounds the norms rate, "hot dog"), adjectives, verbs and
    relation words ("on", "behind", "in front of"). Each is scored with concreteness norms; words the
    norms do not rate are never edited. For each word in policy order the miner tries:

    - replace: a WordNet antonym or co-hyponym of the word's sense that fits the caption ("dog" -> "cat",
      "red" -> "blue", "man" -> "woman", "sitting" -> "standing"; relations from a table of opposites:
      "on" -> "under"), of the same class, with a concreteness within ``concreteness_window`` of the
      original's and a Zipf frequency within ``zipf_window`` of it, used at least ``min_corpus_count``
      times in the training captions, never offensive, never a WordNet synonym, hypernym or hyponym of the
      original (a change that can leave the caption true), re-inflected like the original
      ("dogs" -> "cats", "a apple" -> "an apple");
    - swap: exchange it with another word of the same class, each re-inflected for the other's slot
      (with ``operation = "both"``, only once no word of the caption has a replacement).

    With ``plausibility`` the candidates of a word are ranked by a trigram language model of the training
    captions (most plausible first); a candidate that loses more than ``max_logprob_drop`` nats against the
    caption is offered only after every word has been tried. So the three policies differ only in which
    word they edit.

    Every negative carries ``concreteness``: the score of the replaced word, or the mean of the two
    swapped words.

    Parameters:
        operation: "replace", "swap", or "both" (replace, and swap when no word has a replacement that passes
            the filters).
        min_concreteness: lowest concreteness (1-5) a replacement word may have (not applied to relations);
            None (default): no absolute floor, only ``concreteness_window``.
        concreteness_window: largest difference in concreteness between a replacement and the original
            word (not applied to relations); None for no limit.
        min_corpus_count: keep only replacements the training captions use at least this often (0: off).
        plausibility: rank candidates by the captions' language model and defer implausible ones.
        max_logprob_drop: with ``plausibility``, the largest loss in log-probability (nats) against the
            caption before a candidate is deferred; None to rank only.
        min_fit: with ``plausibility``, the lowest co-occurrence fit of a new word with the caption's other
            content words (``CaptionCorpus.fit``: the mean log ratio of captions with both words to what chance
            gives; below 0: the words go together less often than chance) before it is deferred; None: off.
        fit_weight: with ``plausibility``, the weight of that fit (per context word, in nats) beside the
            language model's log-probability when candidates are ranked; 0 ranks by the language model only.
        keep_implausible: with ``operation = "both"``, offer the swaps and the ``wider`` words the ranking
            deferred after everything else (higher coverage); by default they are dropped and such a caption
            gets no negative.
        max_sibling_pmi: where the training data says which captions describe the same image (``image_id``,
            ``filename``, a list of captions per image), reject a replacement that the captions of one image
            use for the same thing as the original word ("fence" / "railing", "woman" / "lady"): one with at
            least ``min_sibling_swaps`` caption pairs of one image where one caption has only the old word and
            the other only the new one, and a PMI of those swaps against chance above this
            (``negkit.mining.siblings``); None: off. Without group information (one caption per image) it has
            no effect. 1.1 lies between the largest value of a contrast that must stay ("man" / "woman", 0.85)
            and the smallest of a near-synonym ("mountain" / "hill", 1.34) on the SugarCrepe dev half
            (docs/miners.md, "Captions of the same image").
        min_sibling_swaps: with ``max_sibling_pmi``, the fewest such caption pairs that can reject a word.
        wider: when the caption still needs negatives after every word's replacements and every plausible
            swap, try each word again (same policy order) with a wider set of words through the same slot,
            sense and plausibility tests: its cousins in WordNet (the words below its grandparent,
            ``wordnet.wider_replacements``), its antonyms and sisters with a concreteness window
            ``WIDER_WINDOW`` times wider, and the caption's counts ("two dogs" -> "three dogs"; class "num").
            Candidates the ranking finds implausible are dropped, as swaps are (``keep_implausible``).
        backoff: with ``plausibility``, when the caption still needs negatives after the ``wider`` pass, try
            each word's words of both tiers once more, where a relation or adjective the captions use only
            with a thing of the same kind as the caption's noun (below its WordNet parent, ``lexical.family``)
            counts as seen with it ("a red ship" attests "a red boat"); with the counts made plural with the
            words that agree with them ("a dog that is" -> "two dogs that are", ``number_units``) and a
            gendered noun changed with its later pronouns ("a man ... his" -> "a woman ... her").
        corpus: a captions file to count and model when no mining stage hands in the training captions
            ("" = the stage's; without either the corpus filters are off, with a warning).
        zipf_window: largest difference in Zipf frequency between a replacement and the original word.
        edits_per_word: negatives made from one word before moving on to the next one.
        sample: draw the order of words at random, with probability rising with concreteness
            (falling, for abstract-first) instead of strictly by score. Ignored by random-word.
        temperature: with ``sample``, weight = exp(+-(score - 3) / temperature); lower is greedier.
        classes: which word classes may be edited: any of "noun", "adj", "verb", "rel", and "num" (the count
            before a plural noun, "two dogs" -> "three dogs"; only in the ``wider`` pass).
        skip_words: lemmas never edited; by default the words about the picture rather than the scene
            ("picture", "photo", "image", "view", "scene", ...), which the norms rate as concrete but whose
            change does not make the caption false.
        norms: concreteness norms: "brysbaert" (default), "glasgow", "lancaster", "combined", or the path
            of a CSV file of word,score rows.
        norms_scale: the (low, high) scale of a user CSV's scores, e.g. [1, 7]; rescaled to 1-5.
        senses: how many WordNet senses of a word (most frequent first; physical senses first for nouns)
            compete for the caption: the one whose gloss and relatives share most words with the caption
            gives the replacements.
        spacy_model: spaCy pipeline; another installed English pipeline is used if it is missing.
        batch_size: captions per ``nlp.pipe`` batch.
    """

    policy: ClassVar[str] = "concrete"
    kind_prefix: ClassVar[str] = ""

    def __init__(
        self,
        operation: Operation = "both",
        min_concreteness: float | None = None,
        concreteness_window: float | None = 1.0,
        zipf_window: float = 1.5,
        min_corpus_count: int = 2,
        plausibility: bool = True,
        max_logprob_drop: float | None = 7.0,
        min_fit: float | None = -0.5,
        fit_weight: float = 1.0,
        keep_implausible: bool = False,
        max_sibling_pmi: float | None = 1.1,
        min_sibling_swaps: int = 3,
        wider: bool = True,
        backoff: bool = True,
        corpus: str = "",
        edits_per_word: int = 1,
        sample: bool = False,
        temperature: float = 1.0,
        classes: tuple[Literal["noun", "adj", "verb", "rel", "num"], ...] = ("noun", "adj", "verb", "rel", "num"),
        skip_words: tuple[str, ...] = DEPICTION_WORDS,
        norms: str = "brysbaert",
        norms_scale: tuple[float, float] | None = None,
        senses: int = 4,
        spacy_model: str = "en_core_web_sm",
        batch_size: int = 256,
    ) -> None:
        if operation not in ("replace", "swap", "both"):
            raise ValueError(f"operation must be 'replace', 'swap' or 'both', got {operation!r}")
        if edits_per_word < 1 or senses < 1:
            raise ValueError("edits_per_word and senses must be >= 1")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        unknown = set(classes) - {"noun", "adj", "verb", "rel", "num"}
        if unknown or not classes:
            raise ValueError(f"classes must be a non-empty list of noun, adj, verb, rel, num; got {list(classes)!r}")
        self.operation = operation
        if min_corpus_count < 0:
            raise ValueError(f"min_corpus_count must be >= 0, got {min_corpus_count}")
        self.min_concreteness = min_concreteness
        self.concreteness_window = concreteness_window
        self.zipf_window = zipf_window
        self.min_corpus_count = min_corpus_count
        self.plausibility = plausibility
        self.max_logprob_drop = max_logprob_drop
        self.min_fit = min_fit
        self.fit_weight = fit_weight
        self.keep_implausible = keep_implausible
        if min_sibling_swaps < 1:
            raise ValueError(f"min_sibling_swaps must be >= 1, got {min_sibling_swaps}")
        self.max_sibling_pmi = max_sibling_pmi
        self.min_sibling_swaps = min_sibling_swaps
        self.wider = wider
        self.backoff = backoff
        self.corpus = corpus
        self.edits_per_word = edits_per_word
        self.sample = sample
        self.temperature = temperature
        self.classes = frozenset(c.upper() for c in classes)
        self.skip_words = frozenset(w.lower() for w in skip_words)
        self.senses = senses
        self._set_resources(norms, norms_scale, spacy_model, batch_size)

    def candidates(self, doc: Any, tokens: list[Token], caption: str, k: int, seed: int) -> Iterable[Negative]:
        units = [u for u in find_units(tokens, self._norms, self.classes, self.skip_words)
                 if edit_matters(tokens, u, self.skip_words)]
        if not units:
            return ()
        rng = caption_rng(caption, seed, self.name)
        ordered = order_units(units, self.policy, rng, sample=self.sample, temperature=self.temperature)
        return self._edits(tokens, ordered, rng)

    def _wider_units(self, tokens: list[Token], ordered: list[Unit], rng: random.Random) -> list[Unit]:
        """The units of the wider pass: the same, and the caption's counts (``number_units``) when
        ``classes`` has "num", in the same policy order."""
        numbers = number_units(tokens, self._norms, self.skip_words) if "NUM" in self.classes else []
        if not numbers:
            return ordered
        extra = order_units(numbers, self.policy, rng, sample=self.sample, temperature=self.temperature)
        return self._merged(ordered, extra, rng)

    def _agreeing_units(self, tokens: list[Token], ordered: list[Unit], rng: random.Random) -> list[Unit]:
        """The units of the back-off pass: the words, and the counts of ``number_units`` with ``agree``
        (those whose noun later words agree with, too), in the same policy order."""
        if "NUM" not in self.classes:
            return ordered
        extra = number_units(tokens, self._norms, self.skip_words, agree=True)
        return self._merged(ordered, extra, rng) if extra else ordered

    def _merged(self, ordered: list[Unit], extra: list[Unit], rng: random.Random) -> list[Unit]:
        """``ordered`` and ``extra`` in one policy order: shuffled together for "uniform", else by score."""
        if self.policy == "uniform":
            merged = [*ordered, *extra]
            rng.shuffle(merged)
            return merged
        sign = 1.0 if self.policy == "concrete" else -1.0
        return sorted([*ordered, *extra], key=lambda u: -sign * (u.score or 0.0))  # stable: ties keep order

    def _edits(self, tokens: list[Token], ordered: list[Unit], rng: random.Random) -> Iterator[Negative]:
        # Replacements of every word (in policy order) come before any swap: a swap reverses roles and
        # makes an absurd scene more often than a replacement does.
        deferred: Deferred = []
        replaced = set()
        view = None  # the caption's words for the language model: one per caption, shared by its words and passes
        if self.operation in ("replace", "both"):
            view = CaptionWords(tokens) if self.plausibility else None
            for unit in ordered:
                made = 0
                for neg in self.replacements(tokens, unit, rng, f"replace-{unit.cls.lower()}", deferred, view):
                    yield neg
                    made += 1
                    if made >= self.edits_per_word:
                        break
                if made:
                    replaced.add(unit.start)
        if self.operation == "both":  # a replacement the ranking deferred still beats a role reversal
            for build in by_plausibility(deferred):
                yield build()
            deferred = []
        if self.operation in ("swap", "both"):
            for unit in ordered:
                if unit.start in replaced and self.operation == "both":
                    continue
                yield from islice(self._swaps(tokens, unit, ordered, rng, deferred), self.edits_per_word)
        if self.operation in ("replace", "both") and self.wider:
            # reached only when the caption still needs negatives (the miner is lazy): the cousins of each
            # word, in the same policy order, before giving the caption no negative
            view = (view if view is not None else CaptionWords(tokens)) if self.plausibility else None
            for unit in self._wider_units(tokens, ordered, rng):
                yield from islice(self.replacements(tokens, unit, rng, f"replace-{unit.cls.lower()}", deferred, view,
                                                    wider=True), self.edits_per_word)
        if self.operation in ("replace", "both") and self.backoff and self.plausibility:
            # still nothing: every word's words of both tiers again, where a relation or adjective seen only
            # with a thing of the noun's kind counts as seen with it ("a red ship" for "a red boat")
            view = view if view is not None else CaptionWords(tokens)
            for unit in self._agreeing_units(tokens, ordered, rng):
                yield from islice(self.replacements(tokens, unit, rng, f"replace-{unit.cls.lower()}", deferred, view,
                                                    backoff=True), self.edits_per_word)
            # last: the nouns that only modify the next noun ("kitchen floor"), which ``edit_matters`` leaves out,
            # where the new compound must be one the captions write ("bathroom floor"; never "motor desk")
            modifiers = modifier_units(tokens, self._norms, self.classes, self.skip_words)
            for unit in order_units(modifiers, self.policy, rng, sample=self.sample, temperature=self.temperature):
                yield from islice(self.replacements(tokens, unit, rng, "replace-noun", deferred, view, backoff=True),
                                  self.edits_per_word)
        if self.operation == "swap" or self.keep_implausible:  # else a role reversal or a wider word the model
            # finds implausible is never offered: the caption gets no negative rather than an absurd one
            for build in by_plausibility(deferred):  # implausible ones last, the least implausible first
                yield build()

    def _swaps(self, tokens: list[Token], unit: Unit, ordered: list[Unit], rng: random.Random,
               deferred: Deferred) -> Iterable[Negative]:
        # a person or animal and a thing never trade places: "a rug laying on a cat", "a hospital bed in a girl"
        swaps = (self._swap(tokens, unit, other) for other in ordered
                 if other.cls == unit.cls and other.lemma != unit.lemma and other.start != unit.start
                 and (unit.cls != "NOUN" or wn.animate(unit.lemma) == wn.animate(other.lemma)))
        corpus = self.caption_corpus() if self.plausibility else None
        if corpus is None:
            return swaps
        return ranked(corpus, render(tokens, []), swaps, rng, self.max_logprob_drop, deferred)

    @staticmethod
    def _swap(tokens: list[Token], unit: Unit, other: Unit) -> Negative:
        a, b = (unit, other) if unit.start < other.start else (other, unit)
        if a.cls == "REL":
            new_a, new_b = swapped(tokens, (a.start, a.end), (b.start, b.end))
        else:  # each word takes the other's slot's inflection: "a dog and two cats" -> "a cat and two dogs"
            new_a, new_b = surface(a, b.lemma, tokens), surface(b, a.lemma, tokens)
        text = render(tokens, [(a.start, a.end, new_a), (b.start, b.end, new_b)])
        conc = (a.score + b.score) / 2 if a.score is not None and b.score is not None else None
        return Negative(text, f"swap-{unit.cls.lower()}", conc,
                        (Edit(a.start, a.text, new_a), Edit(b.start, b.text, new_b)))


class ConcretePlant(ConcretenessMiner):
    __doc__ = ("ConcretePlant: perturb the most concrete words of the caption first (or, with sample, "
               "words drawn with probability rising with concreteness).\n\n" + ConcretenessMiner.__doc__)
    name = "concrete-plant"
    policy = "concrete"


class RandomWord(ConcretenessMiner):
    __doc__ = ("Control for ConcretePlant: the word to perturb is chosen uniformly among the content words "
               "(same machinery and filters).\n\n" + ConcretenessMiner.__doc__)
    name = "random-word"
    policy = "uniform"


class AbstractFirst(ConcretenessMiner):
    __doc__ = ("Control for ConcretePlant: perturb the least concrete words first (same machinery and "
               "filters).\n\n" + ConcretenessMiner.__doc__)
    name = "abstract-first"
    policy = "abstract"
