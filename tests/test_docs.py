"""Docs stay true: every hook documented with its exact signature, every recipe key and every shipped recipe."""

import inspect
import re

import pytest
from conftest import REPO

from negkit import hookspecs
from negkit.recipe import SECTIONS, validate_recipe_file


def hookspec_functions():
    return [(name, fn) for name, fn in vars(hookspecs).items()
            if callable(fn) and hasattr(fn, "negkit_spec")]


def test_there_are_hooks():
    assert {name for name, _ in hookspec_functions()} == {
        "register_miners", "register_losses", "register_datasets", "register_evaluators", "register_samplers"}


@pytest.mark.parametrize("name, fn", hookspec_functions())
def test_every_hook_is_documented_with_its_exact_signature(name, fn):
    docs = (REPO / "docs" / "plugins.md").read_text()
    headings = [line for line in docs.splitlines() if line.startswith("## ")]
    sig = inspect.signature(fn)  # annotations are strings (postponed evaluation): show them as written
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    signature = f"{name}({params}) -> {sig.return_annotation}"
    assert any(signature in h for h in headings), f"docs/plugins.md needs a heading with `{signature}`"


def _section_keys(text):
    keys, section = {}, None
    for line in text.splitlines():
        if m := re.match(r"^## \[\[?(\w+)\]\]?\s*$", line):
            section = m.group(1)
            keys[section] = set()
        elif (m := re.match(r"^### (\w+)\s*$", line)) and section:
            keys[section].add(m.group(1))
    return keys


def test_every_recipe_key_is_documented():
    documented = _section_keys((REPO / "docs" / "recipes.md").read_text())
    for section, model in SECTIONS.items():
        missing = set(model.model_fields) - documented.get(section, set())
        assert not missing, f"docs/recipes.md: [{section}] lacks ### {sorted(missing)}"
    assert "source" in documented["data"]
    for section in ("miners", "losses"):
        assert {"name", "weight"} <= documented[section]
    assert "name" in documented["eval"]


RECIPES = sorted((REPO / "recipes").rglob("*.toml"))


def test_there_are_recipes():
    assert any(p.name == "quickstart.toml" for p in RECIPES)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_recipe_validates_and_says_how_to_run_it(path):
    text = path.read_text()
    assert text.lstrip().startswith("#"), f"{path} must open with a comment: what it does, how to run it"
    assert "negkit run" in text.split("\n[")[0], f"{path}'s opening comment must say how to run it"
    validate_recipe_file(path)
