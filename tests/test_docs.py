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


# -- docs that run -----------------------------------------------------------------------------------------
# A ```python or ```toml block in docs/*.md carries a marker on the line just above its fence:
#   <!-- test: module NAME -->  python: the source of module NAME (importable by the doc's other blocks, and
#                               registered as a plugin for them, as `pip install` of the tutorial would)
#   <!-- test: python -->       python: run; then every `Test*` class it defines runs its `test_*` methods
#   <!-- test: recipe -->       toml: a recipe or part of one; laid over a minimal recipe, it must validate
#   <!-- test: pyproject -->    toml: its `negkit` entry points name modules of the same page
#   <!-- test: cli -->          bash: each line that starts with `negkit ` runs in-process and exits 0
#   <!-- test: no REASON -->    not run, and says why
DOCS = sorted((REPO / "docs").glob("*.md"))
MARKER = re.compile(r"^<!-- test: (module|python|recipe|pyproject|cli|no)(?: (.+?))? -->$")
# What a recipe snippet is laid over: each section the snippet does not define.
BASE_RECIPE = {"data": '[data]\nsource = "shapes"\n', "model": '[model]\nname = "negkit-tiny"\npretrained = ""\n',
               "losses": '[[losses]]\nname = "infonce"\n'}


def doc_blocks(path):
    """``(line, language, marker kind or None, marker argument, text)`` of every fenced block."""
    lines = path.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if m := re.match(r"^```(\w*)\s*$", lines[i]):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            marker = MARKER.match(lines[i - 1].strip()) if i else None
            blocks.append((i + 1, m.group(1), marker and marker.group(1), marker and marker.group(2),
                           "\n".join(lines[i + 1:end]) + "\n"))
            i = end
        i += 1
    return blocks


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_python_and_toml_block_says_whether_it_runs(path):
    for line, lang, kind, arg, _ in doc_blocks(path):
        where = f"{path.relative_to(REPO)}:{line}"
        if lang in ("python", "toml"):
            assert kind, f"{where}: a ```{lang} block needs a marker above it (see tests/test_docs.py)"
        if kind == "no":
            assert arg, f"{where}: <!-- test: no REASON --> needs its reason"
        if kind in ("module", "python"):
            assert lang == "python", f"{where}: <!-- test: {kind} --> marks a python block"
        if kind in ("recipe", "pyproject"):
            assert lang == "toml", f"{where}: <!-- test: {kind} --> marks a toml block"


RUNNABLE = [p for p in DOCS if any(kind not in (None, "no") for _, _, kind, _, _ in doc_blocks(p))]


def test_the_tutorial_runs():
    assert REPO / "docs" / "writing-a-miner-plugin.md" in RUNNABLE


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: p.name)
def test_docs_run(path, tmp_path, monkeypatch, capsys):
    import importlib
    import shlex
    import sys
    import tomllib
    from contextlib import ExitStack

    from negkit.cli import main
    from negkit.testing import registered_plugin

    blocks = doc_blocks(path)
    monkeypatch.syspath_prepend(str(tmp_path))
    modules = {arg: text for _, _, kind, arg, text in blocks if kind == "module"}
    for name, text in modules.items():
        (tmp_path / f"{name}.py").write_text(text)
    with ExitStack() as stack:
        for name in modules:
            monkeypatch.delitem(sys.modules, name, raising=False)
            stack.enter_context(registered_plugin(importlib.import_module(name), name=name))
        for line, _, kind, _, text in blocks:
            where = f"{path.relative_to(REPO)}:{line}"
            if kind == "python":
                namespace = {"__name__": f"doc_block_{line}"}
                exec(compile(text, where, "exec"), namespace)
                for cls in [v for k, v in namespace.items() if k.startswith("Test") and isinstance(v, type)]:
                    for test in [m for m in dir(cls) if m.startswith("test_")]:
                        getattr(cls(), test)()
            elif kind == "recipe":
                defined = tomllib.loads(text)
                recipe_path = tmp_path / f"block-{line}.toml"
                recipe_path.write_text("".join(v for k, v in BASE_RECIPE.items() if k not in defined) + text)
                validate_recipe_file(recipe_path)
            elif kind == "pyproject":
                points = tomllib.loads(text)["project"]["entry-points"]["negkit"]
                assert set(points.values()) <= set(modules), f"{where}: entry points name no module of the page"
            elif kind == "cli":
                for command in [c for c in text.splitlines() if c.startswith("negkit ")]:
                    try:
                        main(shlex.split(command, comments=True)[1:])
                    except SystemExit as exc:
                        assert exc.code in (0, None), f"{where}: `{command}` exited {exc.code}: " \
                                                      f"{capsys.readouterr().err}"

