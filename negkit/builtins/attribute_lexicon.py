"""The ``attribute-lexicon`` miner (rule-based colour / size / material / count swaps)."""

from __future__ import annotations

from negkit.hookspecs import hookimpl
from negkit.mining.attribute_lexicon import AttributeLexicon


@hookimpl
def register_miners(register):
    register(AttributeLexicon)
