"""Built-in batch samplers, registered by import path so that listing and validating never import torch."""

from __future__ import annotations

from negkit.hookspecs import hookimpl

SAMPLERS = (
    "negkit.train.samplers:RandomSampler",
    "negkit.train.samplers:NeighboursSampler",
    "negkit.train.samplers:PrecomputedSampler",
    "negkit.train.shared_sampler:SharedAttributeSampler",
)


@hookimpl
def register_samplers(register):
    for path in SAMPLERS:
        register(path)
