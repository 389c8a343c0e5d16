"""Miners held to their contract (``Miner.mine`` in ``negkit/mining/base.py``), with one line that names the culprit.

A plugin's miner that raises, or returns anything but one list of ``Negative`` per caption, would otherwise fail
deep inside negkit (``'str' object has no attribute 'text'``) or in a worker process, naming no one. Here it
becomes a ``PluginError`` naming the miner, the plugin that registers it and that plugin's version, and the first
caption at fault; nothing is written to the mining cache.
"""

from __future__ import annotations

from typing import Any

from negkit.errors import NegkitError, PluginError
from negkit.mining.base import Miner, Negative


def checked_mine(miner: Miner, captions: list[str], k: int, seed: int) -> list[list[Negative]]:
    """``miner.mine`` held to its contract: an exception, or anything but one list of ``Negative`` (with text)
    per caption, is a ``PluginError`` naming the miner, its plugin and version, and the first caption at fault."""
    try:
        mined = miner.mine(captions, k=k, seed=seed)
    except NegkitError:
        raise  # the miner's own one-line message (missing resources, bad settings)
    except Exception as exc:
        raise PluginError(f"{_miner_label(miner)} raised {_one_line(exc)} on caption "
                          f"{_first_raising(miner, captions, k, seed)!r}; the mining cache is unchanged") from None
    if not isinstance(mined, (list, tuple)) or len(mined) != len(captions):
        got = f"{len(mined)} lists" if isinstance(mined, (list, tuple)) else f"a {type(mined).__name__}"
        raise PluginError(f"{_miner_label(miner)} returned {got} for {len(captions)} captions (first "
                          f"{captions[0] if captions else ''!r}); mine() must return one list per caption")
    for caption, negs in zip(captions, mined):
        bad = _not_negatives(negs)
        if bad:
            raise PluginError(f"{_miner_label(miner)} returned {bad} for caption {caption!r}; mine() must return "
                              f"a list of Negative (with text a str) per caption")
    return mined


def _not_negatives(negs: Any) -> str | None:
    if not isinstance(negs, (list, tuple)):
        return f"a {type(negs).__name__} instead of a list"
    for neg in negs:
        if not isinstance(neg, Negative):
            return f"a {type(neg).__name__} ({_short(neg)}) instead of a Negative"
        if not isinstance(neg.text, str) or not isinstance(neg.kind, str):
            return f"a Negative with text {_short(neg.text)} and kind {_short(neg.kind)} (both must be str)"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def _first_raising(miner: Miner, captions: list[str], k: int, seed: int) -> str:
    """The first caption that makes ``miner`` raise on its own (the batch's first when none does alone)."""
    for caption in captions[:2000]:
        try:
            miner.mine([caption], k=k, seed=seed)
        except Exception:  # noqa: BLE001 - looking for the culprit
            return caption
    return captions[0] if captions else ""


def _miner_label(miner: Miner) -> str:
    name = getattr(miner, "name", type(miner).__name__)
    try:
        from negkit.plugins import get_host

        host = get_host()
        provider = host.ref("miners", name).provider
        version = {p.name: p.version for p in host.plugins}.get(provider)
        return f"miner {name!r} (plugin {provider}{' ' + version if version else ''})"
    except Exception:  # noqa: BLE001 - a miner built outside the registry
        return f"miner {name!r} (module {type(miner).__module__})"
