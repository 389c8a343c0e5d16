"""WordNet synsets as light records read straight from the data files NLTK found.

``negkit.lexicon.wordnet`` reads a few dozen synsets per word (its senses, their parents, the parents'
other children), and only a few fields of each: lemma names, lexicographer file, pointers. NLTK builds
a full ``Synset`` for each one: every pointer, verb frame and lemma object, and the gloss through regular
expressions with a timeout. On a cold run that parse was most of what ConcretePlant spent above spaCy
tagging (docs/performance.md, "Mining"). So the reads here take just those fields from the same files.
NLTK still finds the data and gives its index and morphology.

Records carry NLTK's synset names ("dog.n.01"), and relations are sorted by name as
``negkit.lexicon.wordnet`` sorted NLTK's synsets. Results are therefore the same as through NLTK; the
tests compare the two.

Each data file is read into memory once per process (data.noun is 15 MB), and lines are then sliced by
byte offset. Nothing mutable is shared, so forked mining workers are safe. A file handle opened before
a fork would share its read position with the children.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

DATA_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "s": "data.adj", "r": "data.adv"}
INDEX_FILES = ("index.noun", "index.verb", "index.adj", "index.adv")  # and morphology: what NLTK's reader reads


class SynsetLine(NamedTuple):
    pos: str  # as NLTK gives it: n, v, a, s (adjective satellite), r
    offset: int
    name: str  # NLTK's synset name ("dog.n.01"): the first lemma and its sense number
    lemma_names: tuple[str, ...]  # as written in WordNet ("hot_dog", "Felis_catus"), syntactic markers dropped
    lexname: str  # lexicographer file ("noun.animal")


class LemmaPointer(NamedTuple):
    symbol: str  # "!" antonym, "+" derivation, ...
    source: int  # index of the lemma in its synset's lemma_names
    target: SynsetLine
    target_lemma: int  # index into target.lemma_names


class SynsetLines:
    """``SynsetLine`` records of one WordNet installation (an NLTK ``WordNetCorpusReader``), cached."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._data: dict[str, bytes] = {}
        self._lexnames: list[str] | None = None
        self._lines: dict[tuple[str, int], SynsetLine] = {}
        self._pointers: dict[tuple[str, int], tuple[tuple[str, str, int, str], ...]] = {}
        self._depths: dict[tuple[str, int], int] = {}

    def get(self, pos: str, offset: int) -> SynsetLine:
        """The synset at byte ``offset`` of the data file for ``pos``."""
        key = (pos, offset)
        found = self._lines.get(key)
        if found is None:
            fields = self._fields(pos, offset)
            names = tuple(_without_marker(w) for w in fields[4:4 + 2 * int(fields[3], 16):2])
            found = self._lines[key] = SynsetLine(fields[2], offset, self._name(fields[2], offset, names[0]), names,
                                                  self._lexname(int(fields[1])))
        return found

    def synsets(self, lemma: str, pos: str) -> list[SynsetLine]:
        """The senses of ``lemma`` (words joined by "_") for ``pos``, most frequent first, found as NLTK's
        ``synsets(lemma, pos)`` finds them (its morphology, then its index)."""
        reader = self._reader
        try:  # NLTK's own index map and morphology: no synset is parsed
            index, morphy = reader._lemma_pos_offset_map, reader._morphy
        except AttributeError:  # a reader without them: the public way, one full parse per sense
            return [self.get(s.pos(), s.offset()) for s in reader.synsets(lemma, pos)]
        return [self.get(pos, offset) for form in morphy(lemma.lower(), pos, True)
                for offset in index.get(form, {}).get(pos, ())]

    def related(self, line: SynsetLine, symbols: tuple[str, ...]) -> list[SynsetLine]:
        """The synsets ``line`` points to with any of ``symbols`` ("@" hypernym, "@i" instance hypernym,
        "~" hyponym, "&" similar to, ...), sorted by name (NLTK keeps pointers in sets)."""
        return sorted((self.get(p, o) for symbol, p, o, lemmas in self._pointers_of(line)
                       if symbol in symbols and lemmas == "0000"), key=lambda s: s.name)

    def lemma_pointers(self, line: SynsetLine, symbol: str) -> list[LemmaPointer]:
        """The pointers from single lemmas of ``line`` (WordNet's lexical pointers: antonymy is one)."""
        return [LemmaPointer(s, int(lemmas[:2], 16) - 1, self.get(p, o), int(lemmas[2:], 16) - 1)
                for s, p, o, lemmas in self._pointers_of(line) if s == symbol and lemmas != "0000"]

    def min_depth(self, line: SynsetLine) -> int:
        """Length of the shortest hypernym path to a root, as NLTK's ``Synset.min_depth``."""
        key = (line.pos, line.offset)
        found = self._depths.get(key)
        if found is None:
            self._depths[key] = 0  # a cycle (none in WordNet 3.0) ends here instead of recursing forever
            parents = self.related(line, ("@", "@i"))
            found = self._depths[key] = 1 + min(map(self.min_depth, parents)) if parents else 0
        return found

    def gloss(self, line: SynsetLine) -> str:
        """The synset's definition and examples, as written after the "|" of its data line."""
        data = self._file(DATA_FILES[line.pos])
        end = data.find(b"\n", line.offset)
        row = data[line.offset:end if end >= 0 else len(data)]
        return row.split(b"|", 1)[1].decode("utf-8").strip() if b"|" in row else ""

    def fingerprint(self) -> str:
        """Where the data files are and their sizes and times (not their bytes: reading them is what
        ``get`` avoids until a synset is needed), for caches of results computed from them."""
        parts = [str(getattr(self._reader, "root", ""))]
        for name in [*sorted(set(DATA_FILES.values())), "lexnames", *INDEX_FILES]:
            pointer = self._reader.abspath(name)
            where = getattr(pointer, "path", None) or getattr(getattr(pointer, "zipfile", None), "filename", None)
            try:
                stat = os.stat(where) if where else None
            except OSError:
                stat = None
            parts.append(f"{name}:{where}:{stat.st_size if stat else ''}:{stat.st_mtime_ns if stat else ''}")
        return "|".join(parts)

    def _pointers_of(self, line: SynsetLine) -> tuple[tuple[str, str, int, str], ...]:
        key = (line.pos, line.offset)
        found = self._pointers.get(key)
        if found is None:
            fields = self._fields(line.pos, line.offset)
            at = 4 + 2 * int(fields[3], 16)
            found = self._pointers[key] = tuple((fields[i], fields[i + 2], int(fields[i + 1]), fields[i + 3])
                                                for i in range(at + 1, at + 1 + 4 * int(fields[at]), 4))
        return found

    def _fields(self, pos: str, offset: int) -> list[str]:
        # offset lex_filenum ss_type w_cnt (word lex_id)* p_cnt (symbol offset pos source/target)* ... | gloss
        data = self._file(DATA_FILES[pos])
        end = data.find(b"\n", offset)
        fields = data[offset:end if end >= 0 else len(data)].split(b"|", 1)[0].decode("utf-8").split()
        if not (0 < offset < len(data) and data[offset - 1] == ord("\n") and fields and fields[0] == f"{offset:08d}"):
            raise ValueError(f"no WordNet synset at offset {offset} of {DATA_FILES[pos]}")
        return fields

    def _file(self, name: str) -> bytes:
        data = self._data.get(name)
        if data is None:
            with self._reader.abspath(name).open() as stream:  # a path or a zip member: binary either way
                data = self._data[name] = stream.read()
        return data

    def _lexname(self, number: int) -> str:
        if self._lexnames is None:  # "lexnames": one "NN<tab>noun.animal<tab>1" line per file
            self._lexnames = [line.split()[1] for line in self._file("lexnames").decode("utf-8").splitlines()
                              if line.strip()]
        return self._lexnames[number]

    def _name(self, pos: str, offset: int, first_lemma: str) -> str:
        lemma = first_lemma.lower()
        # NLTK's rule (sense number = place of the offset in the lemma's index entry), from the index
        # map NLTK has already loaded; a reader without it gives the name the slow way
        try:
            return f"{lemma}.{pos}.{self._reader._lemma_pos_offset_map.get(lemma, {})[pos].index(offset) + 1:02d}"
        except (AttributeError, KeyError, ValueError):
            return self._reader.synset_from_pos_and_offset(pos, offset).name()


def _without_marker(word: str) -> str:
    # adjectives may carry a syntactic marker: "galore(ip)", "elect(p)"
    return word[:word.index("(")] if word.endswith(")") and "(" in word else word
