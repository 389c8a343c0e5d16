"""The caches' keys read the code that makes their content (``negkit.code_digest``): negkit's version does not
change with every edit, so a table, base or reference made by older code must never be handed back."""

from __future__ import annotations

import sys

import pytest

from negkit.code_digest import source_digest


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "digested"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("", encoding="utf-8")
    (root / "sub" / "__init__.py").write_text("", encoding="utf-8")
    (root / "sub" / "loop.py").write_text("STEPS = 1\n", encoding="utf-8")
    (root / "tiny.json").write_text('{"width": 8}', encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    source_digest.cache_clear()
    yield root
    source_digest.cache_clear()
    for name in [n for n in sys.modules if n == "digested" or n.startswith("digested.")]:
        del sys.modules[name]


def digest() -> str:
    source_digest.cache_clear()
    return source_digest(("digested",))


def test_the_digest_follows_code_and_configs_in_subpackages_and_nothing_else(package):
    first = digest()
    assert digest() == first
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "loop.cpython-311.pyc").write_bytes(b"\x00")
    (package / "notes.txt").write_text("not code", encoding="utf-8")
    assert digest() == first  # bytecode and other files are not what runs
    (package / "sub" / "loop.py").write_text("STEPS = 2\n", encoding="utf-8")
    second = digest()
    assert second != first
    (package / "tiny.json").write_text('{"width": 16}', encoding="utf-8")
    assert digest() not in (first, second)


def test_a_module_counts_by_its_file(package):
    (package / "extra.py").write_text("X = 1\n", encoding="utf-8")
    source_digest.cache_clear()
    first = source_digest((), ("digested.extra",))
    (package / "extra.py").write_text("X = 2\n", encoding="utf-8")
    source_digest.cache_clear()
    assert source_digest((), ("digested.extra",)) != first


def test_a_base_or_reference_made_by_other_code_is_another_entry(package, tmp_path, monkeypatch):
    from negkit import base_stage
    from negkit.recipe import load_recipe

    path = tmp_path / "base.toml"
    path.write_text('[data]\nsource = "shapes"\n\n[model]\nname = "negkit-tiny"\npretrained = ""\n', encoding="utf-8")
    recipe = load_recipe(path)
    monkeypatch.setattr(base_stage, "TRAINING_CODE", ("digested",))
    source_digest.cache_clear()
    before = base_stage.base_fingerprint(recipe)
    assert base_stage.base_fingerprint(recipe) == before
    (package / "sub" / "loop.py").write_text("STEPS = 3\n", encoding="utf-8")
    source_digest.cache_clear()
    assert base_stage.base_fingerprint(recipe) != before
    monkeypatch.setattr(base_stage, "EVAL_CODE", ("digested",))
    source_digest.cache_clear()
    key = base_stage.reference_key(recipe, "cpu")
    assert base_stage.reference_key(recipe, "cpu") == key
    (package / "tiny.json").write_text('{"width": 32}', encoding="utf-8")
    source_digest.cache_clear()
    assert base_stage.reference_key(recipe, "cpu") != key
