"""Mining one caption with a miner built from command-line parameters (``negkit try``)."""

from __future__ import annotations

from negkit.errors import RecipeError
from negkit.mining.base import Negative


def preview_miner(name: str, caption: str, *, k: int, seed: int = 0, params: list[str] | tuple[str, ...] = ()
                  ) -> list[Negative]:
    from negkit.components import ComponentSpec, check_arguments, parse_value
    from negkit.plugins import get_host

    args = {}
    for item in params:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise RecipeError(f"--set {item!r}: expected name=value, e.g. --set n=3")
        args[key.strip()] = parse_value(value)
    ref = get_host().ref("miners", name)
    check_arguments(ref, args, where="negkit try", key=f"miner {name}")
    miner = ComponentSpec("miners", name, f"miner {name}", args).build()
    return miner.mine([caption], k=k, seed=seed)[0]
