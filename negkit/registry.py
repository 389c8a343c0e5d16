"""Name -> component registries, one per kind. Components are classes, or import paths read lazily."""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import inspect
from dataclasses import dataclass, field
from typing import Any

from negkit.errors import DuplicateComponentError, NegkitError, PluginLoadError, UnknownComponentError

KINDS = ("miners", "losses", "datasets", "evaluators", "samplers")
SINGULAR = {"miners": "miner", "losses": "loss", "datasets": "dataset", "evaluators": "evaluator",
            "samplers": "sampler"}


@dataclass
class ComponentRef:
    """One registered component: a class, or a ``"module:Class"`` path imported on first use."""

    kind: str
    provider: str
    target: type | str
    _name: str | None = None
    _signature: inspect.Signature | None = None
    _hints: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        if self._name is None:
            if isinstance(self.target, str):
                self._name = _lazy_name(self.target)
            else:
                self._name = getattr(self.target, "name", None)
            if not isinstance(self._name, str) or not self._name:
                raise NegkitError(
                    f"plugin {self.provider!r} registered a {SINGULAR[self.kind]} without a `name` class attribute"
                )
        return self._name

    @property
    def is_loaded(self) -> bool:
        return not isinstance(self.target, str)

    def load(self) -> type:
        """Import (if lazy) and return the component class."""
        if isinstance(self.target, str):
            module, _, attr = self.target.partition(":")
            try:
                self.target = getattr(importlib.import_module(module), attr)
            except Exception as exc:  # a plugin's import error is the user's problem to see, in one line
                raise PluginLoadError(
                    f"{SINGULAR[self.kind]} {self.name!r} from plugin {self.provider!r} failed to import "
                    f"({self.target}): {type(exc).__name__}: {exc}"
                ) from exc
        return self.target

    def signature(self) -> inspect.Signature:
        """The constructor signature, without importing a lazy component."""
        if self._signature is None:
            if self.is_loaded:
                self._signature = inspect.signature(self.target)  # type: ignore[arg-type]
            else:
                self._signature = _lazy_signature(str(self.target)) or inspect.signature(self.load())
        return self._signature

    def type_hints(self) -> dict[str, Any]:
        """Constructor parameter annotations, resolved where possible (unresolvable ones are skipped)."""
        if self._hints is None:
            self._hints = {}
            for pname, param in self.signature().parameters.items():
                ann = param.annotation
                if ann is inspect.Parameter.empty:
                    continue
                if isinstance(ann, str):
                    ann = _resolve_annotation(ann, self)
                if ann is not None:
                    self._hints[pname] = ann
        return self._hints

    def class_flag(self, attr: str, default: bool = False) -> bool:
        """A boolean class attribute (e.g. a loss's ``uses_image_negatives``), read from source when lazy."""
        if self.is_loaded:
            return bool(getattr(self.target, attr, default))
        node = _class_node(str(self.target))
        for stmt in node.body if node is not None else []:
            if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in stmt.targets) \
                    and isinstance(stmt.value, ast.Constant):
                return bool(stmt.value.value)
        return default

    @property
    def doc(self) -> str:
        if self.is_loaded:
            return inspect.getdoc(self.target) or ""
        return _lazy_doc(str(self.target))

    @property
    def qualname(self) -> str:
        if isinstance(self.target, str):
            return self.target
        return f"{self.target.__module__}:{self.target.__qualname__}"


class Registry:
    """All components of one kind, by name."""

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown component kind {kind!r}")
        self.kind = kind
        self._items: dict[str, ComponentRef] = {}

    def add(self, ref: ComponentRef) -> None:
        name = ref.name
        if name in self._items:
            first = self._items[name]
            raise DuplicateComponentError(
                f"{SINGULAR[self.kind]} name {name!r} is registered twice: by plugin {first.provider!r} "
                f"({first.qualname}) and by plugin {ref.provider!r} ({ref.qualname}); disable one with "
                f"NEGKIT_DISABLE_PLUGINS"
            )
        self._items[name] = ref

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def ref(self, name: str, *, failed: dict[str, str] | None = None) -> ComponentRef:
        """The entry for ``name``; unknown names raise with close matches and every valid name."""
        try:
            return self._items[name]
        except KeyError:
            pass
        what = SINGULAR[self.kind]
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        broken = ""
        if failed:
            broken = " Plugins that failed to load (they may provide it): " + "; ".join(
                f"{p}: {e}" for p, e in failed.items()
            ) + "."
        raise UnknownComponentError(
            f"unknown {what} {name!r}.{hint} Valid {self.kind}: {', '.join(self.names()) or '(none)'}.{broken}"
        )

    def get(self, name: str) -> type:
        return self.ref(name).load()

    def refs(self) -> list[ComponentRef]:
        return [self._items[n] for n in self.names()]


# -- lazy components: read name, signature and docstring from source, not by importing -------------


def _class_node(target: str) -> ast.ClassDef | None:
    module, _, attr = target.partition(":")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    with open(spec.origin, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), filename=spec.origin)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == attr:
            return node
    return None


def _lazy_name(target: str) -> str | None:
    node = _class_node(target)
    if node is not None:
        for stmt in node.body:
            value = None
            if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "name" for t in stmt.targets):
                value = stmt.value
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == "name":
                value = stmt.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
    cls = ComponentRef("miners", "?", target).load()  # fall back to importing
    return getattr(cls, "name", None)


def _lazy_doc(target: str) -> str:
    node = _class_node(target)
    return (ast.get_docstring(node) or "") if node is not None else ""


_NO_DEFAULT = inspect.Parameter.empty


def _lazy_signature(target: str) -> inspect.Signature | None:
    """The ``__init__`` signature from source, or None when the class does not define one itself."""
    node = _class_node(target)
    if node is None:
        return None
    init = next(
        (s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None
    )
    if init is None:
        return None
    a = init.args
    params: list[inspect.Parameter] = []
    positional = a.posonlyargs + a.args
    defaults: list[Any] = [_NO_DEFAULT] * (len(positional) - len(a.defaults)) + [_literal(d) for d in a.defaults]
    for arg, default in list(zip(positional, defaults))[1:]:  # drop self
        params.append(inspect.Parameter(arg.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                                        annotation=_ann(arg.annotation)))
    if a.vararg:
        params.append(inspect.Parameter(a.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        params.append(inspect.Parameter(arg.arg, inspect.Parameter.KEYWORD_ONLY,
                                        default=_NO_DEFAULT if default is None else _literal(default),
                                        annotation=_ann(arg.annotation)))
    if a.kwarg:
        params.append(inspect.Parameter(a.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params)


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return f"<{ast.unparse(node)}>"


def _ann(node: ast.expr | None) -> Any:
    return inspect.Parameter.empty if node is None else ast.unparse(node)


def _resolve_annotation(text: str, ref: ComponentRef) -> Any:
    import collections.abc as cabc
    import typing

    namespace: dict[str, Any] = {**vars(typing), **{k: getattr(cabc, k) for k in cabc.__all__}}
    namespace.update({"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict,
                      "tuple": tuple, "None": None})
    if ref.is_loaded:
        namespace.update(vars(importlib.import_module(ref.target.__module__)))  # type: ignore[union-attr]
    try:
        return eval(text, namespace)  # noqa: S307 - annotations of registered classes, not user input
    except Exception:
        return None
