"""Built-in losses, registered by import path so that listing and validating never import torch."""

from __future__ import annotations

from negkit.hookspecs import hookimpl

LOSSES = (
    "negkit.losses.clip:ClipLoss",
    "negkit.losses.infonce:InfoNCE",
    "negkit.losses.cement:Cement",
    "negkit.losses.hn_ce:HardNegativeCE",
    "negkit.losses.hinge:Hinge",
)


@hookimpl
def register_losses(register):
    for path in LOSSES:
        register(path)
