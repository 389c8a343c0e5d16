"""Built-in miners that read the caption with spaCy, WordNet and concreteness norms.

The classes are registered directly (they import no torch); spaCy, NLTK and the norms are loaded
inside the miners on their first ``mine`` call.
"""

from __future__ import annotations

from negkit.hookspecs import hookimpl
from negkit.mining.concrete import AbstractFirst, ConcretePlant, RandomWord
from negkit.mining.replace import WordnetReplace
from negkit.mining.swaps import NegclipSwap, RandomSwap


@hookimpl
def register_miners(register):
    for cls in (ConcretePlant, RandomWord, AbstractFirst, WordnetReplace, RandomSwap, NegclipSwap):
        register(cls)
