"""Exact large-batch accumulation: N micro-batches of B give the loss and gradients of one batch of N*B.

Contrastive losses compare every sample with every other one, so summing the gradients of N separate
micro-batches (``train.accum_mode = "sum"``) is NOT a batch of N*B: each micro-batch only sees its own B
in-batch negatives. The exact mode follows open_clip's ``accum_freq``, in negkit's own code:

1. every micro-batch goes through the towers without gradients and its ``LossInputs`` are cached;
2. each micro-batch goes through again with gradients, its fresh features take the place of its cached
   ones in the full set, and the loss of the full set is backpropagated. The cached features are
   constants, so each backward adds exactly the gradient that flows through that micro-batch's features;
   after the last one the gradients are those of the single large batch.

Which fields are per-sample is decided from the ``LossInputs`` dataclass itself: every tensor field except
the shared scalars (``logit_scale``, ``logit_bias``) has one row per sample and is cached and concatenated,
so a field added to ``LossInputs`` (image negatives, ...) needs no change here. The shared scalars come from
the fresh forward and take 1/N of their gradient in each of the N backward passes.

The random state is replayed: the second forward of a micro-batch runs under the random state of its first,
so dropout or stochastic depth give the same features twice, and the recomputation is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import fields
from typing import Any, TypeVar

import torch
from torch import Tensor

from negkit.losses.base import LossInputs

SHARED_FIELDS = ("logit_scale", "logit_bias")  # one value for the whole batch, not one row per sample
MODES = ("exact", "sum")

B = TypeVar("B")


def row_fields(x: LossInputs) -> list[str]:
    """The names of ``x``'s per-sample tensor fields (dim 0 is the batch)."""
    return [f.name for f in fields(x) if f.name not in SHARED_FIELDS and isinstance(getattr(x, f.name), Tensor)]


def detached(x: LossInputs) -> LossInputs:
    """``x`` with every tensor detached (the cache of a micro-batch)."""
    values = {f.name: getattr(x, f.name) for f in fields(x)}
    return type(x)(**{k: v.detach() if isinstance(v, Tensor) else v for k, v in values.items()})


def share_scalar(t: Tensor | None, n: int) -> Tensor | None:
    """The same value with 1/n of its gradient: it enters n backward passes, each adding 1/n."""
    if t is None or n <= 1:
        return t
    return t / n + t.detach() * (1 - 1 / n)


def concat_rows(parts: Sequence[LossInputs], shared: LossInputs, n_shares: int = 1) -> LossInputs:
    """One ``LossInputs`` whose per-sample fields are those of ``parts`` in order, and whose scalars and
    other fields are ``shared``'s (scalars taking 1/``n_shares`` of their gradient)."""
    values: dict[str, Any] = {}
    rows = set(row_fields(shared))
    for f in fields(shared):
        value = getattr(shared, f.name)
        if f.name in rows:
            pieces = [getattr(p, f.name) for p in parts]
            if any(p is None for p in pieces):
                raise ValueError(f"LossInputs.{f.name} is missing in some micro-batches")
            try:
                value = torch.cat(pieces)
            except RuntimeError as exc:
                shapes = ", ".join(str(tuple(p.shape)) for p in pieces)
                raise ValueError(f"cannot join LossInputs.{f.name} of the micro-batches ({shapes}): {exc}") from None
        elif f.name in SHARED_FIELDS:
            value = share_scalar(value, n_shares)
        values[f.name] = value
    return type(shared)(**values)


def _rng_state() -> tuple[Tensor, Tensor | None]:
    cuda = torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state: tuple[Tensor, Tensor | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1])


def exact_accumulation(batches: Sequence[B], build: Callable[[B], LossInputs],
                       objective: Callable[[LossInputs], tuple[Tensor, dict[str, Tensor]]],
                       backward: Callable[[Tensor, dict[str, Tensor]], Any],
                       sync: Callable[[bool], AbstractContextManager] = lambda last: nullcontext()) -> Any:
    """Accumulate the gradient of the loss of all ``batches`` together.

    ``build`` runs the towers on one micro-batch (and gathers across processes); ``objective`` turns the
    full ``LossInputs`` into ``(loss, terms)``; ``backward(loss, terms)`` checks and backpropagates (the
    caller's scaling, gradient scaler and non-finite check) and its result for the first micro-batch is
    returned. ``sync(last)`` is entered around each backward (DDP's ``no_sync`` for all but the last).
    """
    if not batches:
        raise ValueError("no micro-batches to accumulate")
    states, cache = [], []
    with torch.no_grad():
        for batch in batches:
            states.append(_rng_state())
            cache.append(detached(build(batch)))
    after = _rng_state()
    first: Any = None
    n = len(batches)
    try:
        for j, batch in enumerate(batches):
            with sync(j == n - 1):
                _set_rng_state(states[j])
                fresh = build(batch)
                full = concat_rows([*cache[:j], fresh, *cache[j + 1:]], fresh, n)
                loss, terms = objective(full)
                result = backward(loss, terms)
                if j == 0:
                    first = result
    finally:
        _set_rng_state(after)
    return first
