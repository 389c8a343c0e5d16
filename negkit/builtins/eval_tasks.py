"""Built-in evaluators for published evaluation sets: the eleven of FSC-CLIP's compositionality table (ARO, CREPE,
EqBen, ImageCoDe, SugarCrepe, SVO-Probes, VALSE, VL-CheckList, What'sUp, Winoground, SPEC), their suite, and
the clip-benchmark wrapper for zero-shot classification and retrieval.

Registered as classes so that ``negkit validate`` builds them and rejects bad settings (an unknown
subset, say); they import numpy, never torch, and read their files only when they run.
"""

from __future__ import annotations

from negkit.eval.tasks.clip_benchmark import ClipBenchmark
from negkit.eval.tasks.suite import BENCHMARKS, CompositionalSuite
from negkit.hookspecs import hookimpl


@hookimpl
def register_evaluators(register):
    for cls in (*BENCHMARKS.values(), CompositionalSuite, ClipBenchmark):
        register(cls)
