"""One registered component from its name and arguments: the arguments checked against its constructor,
the component built with one-line errors, and its parameters with every default filled in.

``negkit.recipe`` makes a ``ComponentSpec`` of each component table and checks it; ``negkit.factory`` builds a
recipe's components from those specs; ``negkit try``, the audits and the speed benchmarks build single
components the same way. Nothing here imports torch or a component's module until it is built.
"""

from __future__ import annotations

import inspect
import tomllib
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from negkit.errors import NegkitError, RecipeError


@dataclass
class ComponentSpec:
    """One component table: its registry kind, recipe name, weight and constructor arguments."""

    kind: str  # registry kind: miners, losses, datasets, evaluators, samplers
    name: str
    key: str  # where it sits in the recipe: "miners[0]", "data", ...
    args: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0

    def build(self, where: str | None = None) -> Any:
        """Construct the component (imports it if it was registered lazily); ``where`` names the recipe."""
        from negkit.plugins import get_host

        cls = get_host().ref(self.kind, self.name).load()
        try:
            return cls(**self.args)
        except NegkitError:
            raise
        except (TypeError, ValueError) as exc:
            raise RecipeError(f"{self.name}: {exc}", path=where, key=self.key) from exc


def check_arguments(ref: Any, args: dict[str, Any], *, where: str, key: str) -> None:
    """Bind ``args`` to the component's constructor and check them against its type hints."""
    sig = ref.signature()
    params = sig.parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = [n for n, p in params.items() if p.kind not in (inspect.Parameter.VAR_POSITIONAL,
                                                                 inspect.Parameter.VAR_KEYWORD)]
    for arg in args:
        if arg not in params and not takes_kwargs:
            raise RecipeError(
                f"{ref.name!r} takes no argument '{arg}'; its arguments: {', '.join(accepted) or '(none)'}",
                path=where, key=key)
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty
               and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
               and n not in args]
    if missing:
        raise RecipeError(f"{ref.name!r} needs argument '{missing[0]}'", path=where, key=key)
    hints = ref.type_hints()
    for arg, value in args.items():
        hint = hints.get(arg)
        if hint is None:
            continue
        try:
            TypeAdapter(hint).validate_python(value, strict=False)
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            raise RecipeError(f"{arg}: {msg} (got {value!r}; expected {_hint_text(hint)})", path=where,
                              key=key) from None
        except Exception:  # a hint pydantic cannot check (a protocol, a forward ref): the constructor will
            continue


def _hint_text(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def resolved_params(ref: Any, args: dict[str, Any]) -> dict[str, Any]:
    """The constructor's parameters with their defaults filled in and ``args`` laid over them (the keys a
    ``**kwargs`` constructor takes included): what a component built from ``args`` was configured with."""
    params: dict[str, Any] = {}
    for pname, param in ref.signature().parameters.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if param.default is not inspect.Parameter.empty:
            params[pname] = param.default
    params.update(args)
    return params


def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML if it parses (``3``, ``true``, ``[1, 2]``, ``"x"``), else the raw string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
