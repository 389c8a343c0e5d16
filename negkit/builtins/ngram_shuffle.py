"""Built-in word-order miner: ``ngram-shuffle`` (needs no language resources)."""

from __future__ import annotations

from negkit.hookspecs import hookimpl
from negkit.mining.ngram_shuffle import NgramShuffle


@hookimpl
def register_miners(register):
    register(NgramShuffle)
