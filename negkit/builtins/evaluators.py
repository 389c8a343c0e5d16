"""General evaluators for any data source: retrieval, zero-shot and linear probes.

Registered as classes (numpy at import; scikit-learn only inside ``evaluate``), so ``negkit validate``
builds them and bad settings fail there.
"""

from __future__ import annotations

from negkit.eval.linear_probe import LinearProbe
from negkit.eval.retrieval import Retrieval
from negkit.eval.zero_shot import ZeroShot
from negkit.hookspecs import hookimpl


@hookimpl
def register_evaluators(register):
    register(Retrieval)
    register(ZeroShot)
    register(LinearProbe)
