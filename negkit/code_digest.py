"""A digest of the source of the code that makes a cached result, for the caches' keys.

negkit's version does not change with every edit, and a plugin's version need not either: a cache keyed only by
versions would hand back a table or weights made by code that has since changed. Each cache adds the digest of
the packages and modules that decide its content (``source_digest``): the mining stage of its miners' code, the
base stage of the training code, the kept reference evaluation of the evaluators'.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

SUFFIXES = frozenset({".py", ".json", ".toml"})  # code, and the configs shipped beside it (model architectures)


@functools.cache
def source_digest(packages: tuple[str, ...], modules: tuple[str, ...] = ()) -> str:
    """A digest of every code or config file (``SUFFIXES``) of ``packages`` (their subpackages included) and of
    the files of ``modules`` (a component's own module: a plugin's too). Once per process and arguments."""
    files: dict[str, None] = {}
    for package in packages:  # found, not imported: reading the training code's files needs no torch
        spec = _spec(package)
        for root in (spec.submodule_search_locations or ()) if spec else ():
            found = [f for f in Path(root).rglob("*") if f.suffix in SUFFIXES and "__pycache__" not in f.parts]
            files.update(dict.fromkeys(str(f) for f in sorted(found)))
    for name in modules:
        loaded = sys.modules.get(name)
        spec = None if loaded else _spec(name)
        origin = getattr(loaded, "__file__", None) if loaded else getattr(spec, "origin", None)
        if origin:
            files[origin] = None
    h = hashlib.blake2b(digest_size=16)
    for path in files:
        h.update(Path(path).name.encode())
        try:
            h.update(Path(path).read_bytes())
        except OSError:
            h.update(b"?")
    return h.hexdigest()


def _spec(name: str) -> importlib.machinery.ModuleSpec | None:
    """Where the module ``name`` is, or None where it cannot be found (a test's module seen from a worker)."""
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
