"""Built-in evaluators for published benchmarks: SugarCrepe, ARO, Winoground, VALSE.

Registered as classes so that ``negkit validate`` builds them and rejects bad settings (an unknown
subset, say); they import numpy, never torch, and read their files only when they run.
"""

from __future__ import annotations

from negkit.eval.tasks.aro import ARO
from negkit.eval.tasks.sugarcrepe import SugarCrepe
from negkit.eval.tasks.valse import VALSE
from negkit.eval.tasks.winoground import Winoground
from negkit.hookspecs import hookimpl


@hookimpl
def register_evaluators(register):
    for cls in (SugarCrepe, ARO, Winoground, VALSE):
        register(cls)
