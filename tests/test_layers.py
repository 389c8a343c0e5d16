"""The import rules of DESIGN.md ("Which way imports run"), checked on the source with ``ast``.

Every ``import`` counts: module level, inside functions (lazy), and under ``if TYPE_CHECKING``. The rules are
data (``FLOORS``, ``RULES``, ``EXCEPTIONS``) so that this file reads like the design page; a failure names the
file, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Floors, lowest first. Imports point down (or stay on their floor), never up.
FLOORS: list[tuple[str, set[str]]] = [
    ("ground floor", {"errors", "hookspecs", "seeding", "rundir", "images", "version", "distributed", "atomic",
                      "interrupts", "locks", "code_digest"}),
    ("lexicon, data, losses, registry/plugins/recipe (with the recipe's typed sections and single-component "
     "building)", {"lexicon", "data", "losses", "registry", "plugins", "recipe", "sections", "components"}),
    ("mining, train, eval, report (and the built-ins that register them)", {"mining", "train", "eval", "report",
                                                                           "builtins"}),
    ("pipeline (and what runs beside it: model_eval, sweep, base_stage; the recipe -> component factory; the "
     "public facade, negkit/__init__.py; the plugin-test helpers)", {"pipeline", "model_eval", "sweep", "base_stage",
                                                                    "factory", "__init__", "testing"}),
    ("cli", {"cli", "__main__"}),
]

TORCH = {"torch", "torchvision", "open_clip"}  # open_clip and torchvision import torch
ALL = "*"


@dataclass(frozen=True)
class Rule:
    text: str  # the rule as DESIGN.md says it
    rooms: set[str] | str  # the rooms it constrains (ALL = every room), or modules ("negkit.mining.siblings")
    forbidden_rooms: set[str] = frozenset()  # negkit rooms they must not import
    forbidden_packages: set[str] = frozenset()  # third-party top-level packages they must not import
    only_rooms: set[str] | None = None  # when set: the only negkit rooms they may import
    only_packages: set[str] | None = None  # when set: the only non-stdlib packages they may import
    no_torch_through_negkit: bool = False  # nor any negkit module that imports torch when it is imported


RULES: list[Rule] = [
    Rule("nothing imports cli (cli calls the library; the library never calls cli)", ALL,
         forbidden_rooms={"cli"}),
    Rule("lexicon and mining never import torch (miners run in worker processes and in `negkit try`)",
         {"lexicon", "mining"}, forbidden_packages=TORCH, no_torch_through_negkit=True),
    Rule("losses know only torch and LossInputs", {"losses"}, only_rooms={"losses"}, only_packages={"torch"}),
    Rule("eval knows only EvalContext and the model's encode functions (no train, no open_clip)", {"eval"},
         forbidden_rooms={"train", "pipeline"}, forbidden_packages={"open_clip"}),
    Rule("train, eval and report reach plugins through the registry by name, never by importing builtins",
         {"train", "eval", "report"}, forbidden_rooms={"builtins"}),
    Rule("builtins are loaded by the plugin host only; nothing else imports them", ALL,
         forbidden_rooms={"builtins"}),
    Rule("report reads run directories; it does not import train", {"report"}, forbidden_rooms={"train"}),
    Rule("the sibling statistic (negkit.mining.siblings) is counting over captions: no third-party package, no "
         "other room (the corpus pickles it; any mining process loads it)", {"negkit.mining.siblings"},
         only_rooms=set(), only_packages=set()),
    Rule("mining, train, eval and report take built components (negkit.factory) and typed sections "
         "(negkit.sections), never the recipe", {"mining", "train", "eval", "report"}, forbidden_rooms={"recipe"}),
]

# (importing room, imported room): why it is allowed although a rule above forbids it.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("plugins", "builtins"): "the plugin host loads the built-ins through the same hooks as any plugin",
    ("__main__", "cli"): "`python -m negkit` starts the CLI",
}


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    module: str  # absolute dotted name, resolved to a submodule where ``from pkg import sub`` names one
    lazy: bool  # inside a function or ``if TYPE_CHECKING``: not run when the file is imported

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    def where(self, root: Path) -> str:
        return f"{self.file.relative_to(root.parent)}:{self.line}"


def module_name(path: Path, root: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str:
    """``negkit.mining.stage`` -> ``mining``; the package itself is its facade, ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_module(module: str, root: Path) -> bool:
    rel = Path(*module.split(".")[1:])
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def imports_of(path: Path, root: Path) -> Iterator[Import]:
    """Every import in one file, with relative imports made absolute."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lazy_nodes: set[int] = set()
    for node in ast.walk(tree):
        is_type_checking = isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or is_type_checking:
            lazy_nodes.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        lazy = id(node) in lazy_nodes
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name, lazy)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if module.split(".")[0] == root.name and _is_module(sub, root):
                    yield Import(path, node.lineno, sub, lazy)
                else:
                    yield Import(path, node.lineno, module, lazy)


def all_imports(root: Path) -> dict[str, list[Import]]:
    return {module_name(p, root): list(imports_of(p, root)) for p in sorted(root.rglob("*.py"))}


def pulls_in_torch(graph: dict[str, list[Import]], root: Path) -> dict[str, list[str]]:
    """For each negkit module that imports torch when it is imported: the chain of modules that does it."""
    chains: dict[str, list[str]] = {}
    for module, imports in graph.items():
        hit = next((imp for imp in imports if not imp.lazy and imp.top in TORCH), None)
        if hit:
            chains[module] = [module, hit.module]
    grew = True
    while grew:  # a module that imports a torch-importing module imports torch too
        grew = False
        for module, imports in graph.items():
            if module in chains:
                continue
            for imp in imports:
                via = next((m for m in _with_parents(imp.module) if m in chains), None)
                if not imp.lazy and imp.top == root.name and via:
                    chains[module] = [module, *chains[via]]
                    grew = True
                    break
    return chains


def _with_parents(module: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a/__init__``, ``a/b/__init__`` and ``a/b/c`` (or ``a/b/c/__init__``)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def top_level_rooms(root: Path) -> set[str]:
    rooms = {p.stem for p in root.glob("*.py")}
    rooms |= {p.parent.name for p in root.glob("*/__init__.py")}
    return rooms


def violations(root: Path, floors: list[tuple[str, set[str]]] = FLOORS, rules: list[Rule] = RULES,
               exceptions: dict[tuple[str, str], str] = EXCEPTIONS) -> list[str]:
    found: list[str] = []
    graph = all_imports(root)
    torchy = pulls_in_torch(graph, root)
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    floor: Callable[[str], int | None] = lambda room: next(  # noqa: E731
        (i for i, (_, rooms) in enumerate(floors) if room in rooms), None)
    for room in sorted(top_level_rooms(root)):
        if floor(room) is None:
            found.append(f"{root.name}/{room}: a top-level module or package on no floor; add it to FLOORS in "
                         f"tests/test_layers.py (and to DESIGN.md's floors)")
    for module, imports in graph.items():
        src = room_of(module)
        for imp in imports:
            how = " (lazy)" if imp.lazy else ""
            at = imp.where(root)
            target = room_of(imp.module) if imp.top == root.name else None
            if target == src:
                target = None  # inside one room: no rule
            if target is not None and (src, target) in exceptions:
                continue
            if target is not None and floor(src) is not None and floor(target) is not None \
                    and floor(target) > floor(src):
                found.append(f"{at}: imports {imp.module}{how}, one floor up or more: {src!r} is on "
                             f"\"{floors[floor(src)][0]}\", {target!r} on \"{floors[floor(target)][0]}\"; "
                             f"rule: imports point down only")
            for rule in rules:
                if rule.rooms != ALL and src not in rule.rooms and module not in rule.rooms:
                    continue  # a rule names rooms, or single modules by their dotted name
                broken = False
                if target is not None and target in rule.forbidden_rooms:
                    broken = True
                if target is not None and rule.only_rooms is not None and target not in rule.only_rooms:
                    broken = True
                if imp.top != root.name and imp.top in rule.forbidden_packages:
                    broken = True
                if (imp.top != root.name and rule.only_packages is not None and imp.top not in stdlib
                        and imp.top not in rule.only_packages):
                    broken = True
                if rule.no_torch_through_negkit and imp.top == root.name:
                    chain = next((torchy[m] for m in _with_parents(imp.module) if m in torchy), None)
                    if chain:
                        found.append(f"{at}: imports {imp.module}{how}, which imports torch "
                                     f"({' -> '.join(chain)}); rule: {rule.text}")
                if broken:
                    found.append(f"{at}: imports {imp.module}{how}; rule: {rule.text}")
    return found


def test_the_import_rules_of_design_md_hold():
    found = violations(REPO / "negkit")
    assert not found, "import rules broken (DESIGN.md, \"Which way imports run\"):\n" + "\n".join(found)


def test_every_floor_room_exists():
    """A room renamed or removed must leave the table too, or the table stops describing the code."""
    rooms = top_level_rooms(REPO / "negkit")
    stale = {room for _, floor_rooms in FLOORS for room in floor_rooms} - rooms
    assert not stale, f"FLOORS names rooms that no longer exist: {sorted(stale)}"


# -- the checker itself: each kind of violation is caught --------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "negkit"
    for rel, text in {"__init__.py": "", "errors.py": "", "mining/__init__.py": "", "losses/__init__.py": "",
                      "builtins/__init__.py": "", "cli/__init__.py": "", "report/__init__.py": "",
                      "train/__init__.py": "", "plugins.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(("files", "expected"), [
    ({"errors.py": "from negkit.mining import stage\n", "mining/stage.py": ""},
     "negkit/errors.py:1: imports negkit.mining.stage, one floor up"),
    ({"mining/a.py": "def f():\n    import torch\n"}, "negkit/mining/a.py:2: imports torch (lazy); rule: lexicon"),
    ({"mining/a.py": "from negkit.losses import base\n", "losses/base.py": "import torch\n"},
     "negkit/mining/a.py:1: imports negkit.losses.base, which imports torch (negkit.losses.base -> torch)"),
    ({"losses/a.py": "import numpy\n"}, "negkit/losses/a.py:1: imports numpy; rule: losses know only torch"),
    ({"losses/a.py": "from ..errors import X\n"}, "negkit/losses/a.py:1: imports negkit.errors; rule: losses"),
    ({"report/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from negkit.train import x\n"},
     "negkit/report/a.py:3: imports negkit.train (lazy); rule: report reads run directories"),
    ({"train/a.py": "from negkit.builtins import shapes\n", "builtins/shapes.py": ""},
     "negkit/train/a.py:1: imports negkit.builtins.shapes; rule: train, eval and report"),
    ({"train/a.py": "from negkit.cli import app\n", "cli/app.py": ""},
     "negkit/train/a.py:1: imports negkit.cli.app, one floor up"),
    ({"newroom.py": ""}, "negkit/newroom: a top-level module or package on no floor"),
    ({"mining/siblings.py": "import numpy\n"}, "negkit/mining/siblings.py:1: imports numpy; rule: the sibling"),
    ({"mining/siblings.py": "from negkit import errors\n"},
     "negkit/mining/siblings.py:1: imports negkit.errors; rule: the sibling"),
    ({"mining/a.py": "from negkit.recipe import Recipe\n", "recipe.py": ""},
     "negkit/mining/a.py:1: imports negkit.recipe; rule: mining, train, eval and report take built components"),
])
def test_the_checker_catches(tmp_path, files, expected):
    found = violations(_tree(tmp_path, files))
    assert any(v.startswith(expected) for v in found), found


def test_the_checker_allows_the_plugin_host_and_downward_imports(tmp_path):
    root = _tree(tmp_path, {"plugins.py": "def load():\n    import negkit.builtins\n",
                            "train/a.py": "from negkit import errors\nfrom ..mining import x\n"})
    assert violations(root) == []
