"""An example negkit plugin. negkit imports this module through the ``negkit`` entry point."""

from negkit import hookimpl
from negkit_example.miner import RelationFlip


@hookimpl
def register_miners(register):
    register(RelationFlip)


@hookimpl
def register_losses(register):
    # By import path: torch is only imported when a recipe uses the loss.
    register("negkit_example.loss:PairwiseMargin")
