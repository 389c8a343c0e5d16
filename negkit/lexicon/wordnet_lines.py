"""Lemma names and pointers of WordNet synsets, read straight from the data files NLTK found.

The sister-term search of ``negkit.lexicon.wordnet`` reads a few dozen synsets per word only for their
lemma names and hyponym pointers. NLTK builds a full ``Synset`` for each one: every pointer, verb frame
and lemma object, and the gloss through regular expressions with a timeout. That full parse was most of
what ConcretePlant spent above spaCy tagging on a cold run (see docs/performance.md, "Mining"), so the
search reads just those fields from the same files. NLTK still finds the data, reads the indexes and
morphology and gives the senses of the word itself.

Each data file is read into memory once per process (data.noun is 15 MB); lines are then sliced by
byte offset. Sharing nothing mutable keeps it safe in forked mining workers (a file handle opened before
a fork would share its read position with the children).
"""

from __future__ import annotations

from typing import Any, NamedTuple

DATA_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "s": "data.adj", "r": "data.adv"}
HYPONYM_POINTERS = ("~", "~i")


class SynsetLine(NamedTuple):
    pos: str  # as NLTK gives it: n, v, a, s, r
    offset: int
    name: str  # NLTK's synset name ("dog.n.01"): the first lemma and its sense number
    lemma_names: tuple[str, ...]  # as written in WordNet ("hot_dog", "Felis_catus"), syntactic markers dropped


class SynsetLines:
    """``SynsetLine`` records of one WordNet installation, cached by (pos, offset)."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._data: dict[str, bytes] = {}
        self._lines: dict[tuple[str, int], SynsetLine] = {}
        self._pointers: dict[tuple[str, int], tuple[tuple[str, str, int], ...]] = {}

    def get(self, pos: str, offset: int) -> SynsetLine:
        """The synset at ``offset`` of the data file for ``pos``."""
        key = (pos, offset)
        found = self._lines.get(key)
        if found is None:
            found = self._lines[key] = self._parse(pos, offset)
        return found

    def pointers(self, pos: str, offset: int) -> tuple[tuple[str, str, int], ...]:
        """(symbol, pos, offset) of the synset's synset-to-synset pointers ("@" hypernym, "~" hyponym, ...)."""
        key = (pos, offset)
        found = self._pointers.get(key)
        if found is None:
            fields = self._fields(pos, offset)
            at = 4 + 2 * int(fields[3], 16)
            found = self._pointers[key] = tuple(
                (fields[i], fields[i + 2], int(fields[i + 1]))
                for i in range(at + 1, at + 1 + 4 * int(fields[at]), 4) if fields[i + 3] == "0000")
        return found

    def hyponyms(self, pos: str, offset: int) -> list[SynsetLine]:
        """The hyponyms and instance hyponyms of a synset, sorted by name (NLTK keeps pointers in sets)."""
        return sorted((self.get(p, o) for symbol, p, o in self.pointers(pos, offset) if symbol in HYPONYM_POINTERS),
                      key=lambda s: s.name)

    def _file(self, pos: str) -> bytes:
        name = DATA_FILES[pos]
        data = self._data.get(name)
        if data is None:
            with self._reader.abspath(name).open() as stream:  # a path or a zip member: binary either way
                data = self._data[name] = stream.read()
        return data

    def _fields(self, pos: str, offset: int) -> list[str]:
        # offset lex_filenum ss_type w_cnt (word lex_id)* p_cnt (symbol offset pos source/target)* ... | gloss
        data = self._file(pos)
        end = data.find(b"\n", offset)
        fields = data[offset:end if end >= 0 else len(data)].split(b"|", 1)[0].decode("utf-8").split()
        if not (0 < offset < len(data) and data[offset - 1] == ord("\n") and fields and fields[0] == f"{offset:08d}"):
            raise ValueError(f"no WordNet synset at offset {offset} of {DATA_FILES[pos]}")
        return fields

    def _parse(self, pos: str, offset: int) -> SynsetLine:
        fields = self._fields(pos, offset)
        names = tuple(_without_marker(w) for w in fields[4:4 + 2 * int(fields[3], 16):2])
        return SynsetLine(fields[2], offset, self._name(fields[2], offset, names[0]), names)

    def _name(self, pos: str, offset: int, first_lemma: str) -> str:
        lemma = first_lemma.lower()
        # NLTK's own rule (sense number = place of the offset in the lemma's index entry), from the
        # index map NLTK has already loaded; a reader without it gives the name the slow way
        index = getattr(self._reader, "_lemma_pos_offset_map", None)
        try:
            return f"{lemma}.{pos}.{index[lemma][pos].index(offset) + 1:02d}"
        except (TypeError, KeyError, ValueError):
            return self._reader.synset_from_pos_and_offset(pos, offset).name()


def _without_marker(word: str) -> str:
    # adjectives may carry a syntactic marker: "galore(ip)", "elect(p)"
    return word[:word.index("(")] if word.endswith(")") and "(" in word else word
