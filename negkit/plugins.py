"""The plugin host: loads built-ins and entry-point plugins and collects what they register."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import pkgutil
import threading
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from negkit import hookspecs
from negkit.errors import NegkitError
from negkit.registry import KINDS, ComponentRef, Registry

ENTRY_POINT_GROUP = "negkit"
LOAD_ENV = "NEGKIT_LOAD_PLUGINS"
DISABLE_ENV = "NEGKIT_DISABLE_PLUGINS"
HOOK_FOR_KIND = {kind: f"register_{kind}" for kind in KINDS}


class PluginLoadWarning(UserWarning):
    """A plugin failed to import or to register; negkit goes on without it."""


@dataclass
class PluginInfo:
    """One row of ``negkit list-plugins``."""

    name: str
    source: str  # "builtin" or "entry point"
    module: str
    version: str | None = None
    error: str | None = None
    registers: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # component name -> what a user should know

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "module": self.module,
            "registers": self.registers,
            "error": self.error,
            "notes": self.notes,
        }


class PluginHost:
    """A pluggy manager plus the registries filled from its hooks."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("negkit")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self.registries: dict[str, Registry] = {kind: Registry(kind) for kind in KINDS}
        self._collected = False

    # -- loading ---------------------------------------------------------------------------------

    def load_builtins(self) -> None:
        import negkit.builtins as package

        for mod in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if mod.name.startswith("_"):
                continue
            module = importlib.import_module(f"{package.__name__}.{mod.name}")
            self.add_plugin(module, PluginInfo(f"negkit.{mod.name}", "builtin", module.__name__, _negkit_version()))

    def load_entry_points(self) -> None:
        only = _env_list(LOAD_ENV)
        disabled = set(_env_list(DISABLE_ENV) or [])
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if only is not None and ep.name not in only:
                continue
            if ep.name in disabled:
                continue
            version = ep.dist.version if ep.dist is not None else None
            info = PluginInfo(ep.name, "entry point", ep.value, version)
            try:
                module = ep.load()
            except Exception as exc:  # any import failure of a third-party plugin must not stop negkit
                self._fail(info, f"failed to import: {type(exc).__name__}: {exc}")
                continue
            self.add_plugin(module, info)

    def add_plugin(self, module: ModuleType | object, info: PluginInfo) -> None:
        """Register a plugin object (usually a module) under ``info.name``."""
        if self._collected:
            raise RuntimeError("plugins must be added before components are collected")
        try:
            self.pm.register(module, name=info.name)
        except Exception as exc:
            self._fail(info, f"failed to register: {type(exc).__name__}: {exc}")
            return
        self.plugins.append(info)

    def remove_plugin(self, name: str) -> None:
        self.pm.unregister(name=name)
        self.plugins = [p for p in self.plugins if p.name != name]

    def _fail(self, info: PluginInfo, message: str) -> None:
        info.error = message
        self.plugins.append(info)
        warnings.warn(f"plugin {info.name!r} {message}", PluginLoadWarning, stacklevel=3)

    # -- collecting components ---------------------------------------------------------------------

    def collect(self) -> None:
        """Call every register_* hook, attributing each registration to its plugin."""
        by_name = {p.name: p for p in self.plugins}
        for kind, hook_name in HOOK_FOR_KIND.items():
            caller = getattr(self.pm.hook, hook_name)
            for impl in reversed(caller.get_hookimpls()):  # registration order
                info = by_name.get(impl.plugin_name)
                if info is None or info.error:
                    continue
                added: list[ComponentRef] = []

                def register(target: Any, _kind: str = kind, _provider: str = impl.plugin_name,
                             _added: list[ComponentRef] = added) -> None:
                    if not isinstance(target, (type, str)):
                        raise NegkitError(f"register() takes a class or 'module:Class' path, got {target!r}")
                    _added.append(ComponentRef(_kind, _provider, target))

                try:
                    impl.function(register=register)
                    names = [ref.name for ref in added]
                except Exception as exc:
                    self._fail(info, f"raised in {hook_name}: {type(exc).__name__}: {exc}")
                    continue
                for ref in added:
                    self.registries[kind].add(ref)
                    if kind == "losses" and not _uses_image_negatives(ref):
                        info.notes[ref.name] = "does not use image negatives"
                if names:
                    info.registers.setdefault(kind, []).extend(names)
        self._collected = True

    @property
    def failed(self) -> dict[str, str]:
        return {p.name: p.error for p in self.plugins if p.error}

    def ref(self, kind: str, name: str) -> ComponentRef:
        if kind not in self.registries:
            raise NegkitError(f"unknown component kind {kind!r}; expected one of {', '.join(KINDS)}")
        return self.registries[kind].ref(name, failed=self.failed)


_host: PluginHost | None = None
_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _host
    with _lock:
        if _host is None:
            host = PluginHost()
            host.load_builtins()
            host.load_entry_points()
            host.collect()
            _host = host
        return _host


def reset_host(host: PluginHost | None = None) -> None:
    """Forget the loaded plugins (tests; after changing the NEGKIT_* variables)."""
    global _host
    with _lock:
        _host = host


def get_component(kind: str, name: str) -> type:
    """The registered class for ``name`` in ``kind`` (miners, losses, datasets, evaluators, samplers)."""
    return get_host().ref(kind, name).load()


def _uses_image_negatives(ref: ComponentRef) -> bool:
    try:
        return ref.class_flag("uses_image_negatives")
    except Exception:  # a plugin class negkit cannot read: say nothing rather than fail the listing
        return True


def _env_list(var: str) -> list[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def _negkit_version() -> str:
    from negkit.version import __version__

    return __version__


def plugin_records() -> list[dict[str, Any]]:
    """The loaded plugins as JSON records (name, source, module, version, what each registers)."""
    return [p.as_dict() for p in get_host().plugins]
