"""The built-in shapes world: the ``shapes`` data source and its ``shapes-compositional`` benchmark.

Registered as classes (they import only Pillow and numpy), so ``negkit validate`` builds them and an
impossible world fails there.
"""

from __future__ import annotations

from negkit.data.shapes.world import ShapesWorld
from negkit.eval.compositional import ShapesCompositional
from negkit.hookspecs import hookimpl


@hookimpl
def register_datasets(register):
    register(ShapesWorld)


@hookimpl
def register_evaluators(register):
    register(ShapesCompositional)
