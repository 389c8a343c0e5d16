"""Losses: the Loss contract and LossInputs. Knows only torch."""

from negkit.losses.base import Loss, LossInputs

__all__ = ["Loss", "LossInputs"]
