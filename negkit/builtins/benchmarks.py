"""Built-in evaluators for published benchmarks: SugarCrepe, ARO, Winoground, VALSE.

Registered as classes so that ``negkit validate`` builds them and rejects bad settings (an unknown
subset, say); they import numpy, never torch, and read their files only when they run.
"""

from __future__ import annotations

from negkit.eval.benchmarks.aro import ARO
from negkit.eval.benchmarks.sugarcrepe import SugarCrepe
from negkit.eval.benchmarks.valse import VALSE
from negkit.eval.benchmarks.winoground import Winoground
from negkit.hookspecs import hookimpl


@hookimpl
def register_evaluators(register):
    for cls in (SugarCrepe, ARO, Winoground, VALSE):
        register(cls)
