"""TOML recipes: parse, apply ``--set`` overrides, validate sections and bind component arguments."""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from negkit.components import ComponentSpec, check_arguments, parse_value  # noqa: F401 - re-exported
from negkit.errors import NegkitError, RecipeError
from negkit.sections import (  # noqa: F401 - re-exported: the sections are part of what a recipe is
    LoraSettings,
    MiningConfig,
    ModelConfig,
    PrecisionName,
    ReportConfig,
    RunConfig,
    Section,
    TrainConfig,
)

SECTIONS: dict[str, type[Section]] = {
    "run": RunConfig,
    "model": ModelConfig,
    "mining": MiningConfig,
    "train": TrainConfig,
    "report": ReportConfig,
}
COMPONENT_ARRAYS = {"miners": "miners", "losses": "losses", "eval": "evaluators"}
ALL_SECTIONS = ("run", "data", "model", "mining", "miners", "losses", "sampler", "train", "eval", "report")
WEIGHTED = {"miners", "losses"}


@dataclass
class Recipe:
    """A validated recipe. ``raw`` is the resolved TOML (overrides applied), as written to recipe.json."""

    raw: dict[str, Any]
    run: RunConfig
    data: ComponentSpec
    model: ModelConfig
    mining: MiningConfig
    train: TrainConfig
    report: ReportConfig
    miners: list[ComponentSpec]
    losses: list[ComponentSpec]
    eval: list[ComponentSpec]
    sampler: ComponentSpec = field(default_factory=lambda: ComponentSpec("samplers", "random", "sampler"))
    path: Path | None = None
    overrides: list[str] = field(default_factory=list)

    @property
    def run_name(self) -> str:
        return self.run.name or (self.path.stem if self.path else "run")

    @property
    def mining_seed(self) -> int:
        return self.run.seed if self.mining.seed is None else self.mining.seed

    def components(self) -> list[ComponentSpec]:
        return [self.data, self.sampler, *self.miners, *self.losses, *self.eval]

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe with every default filled in."""
        out: dict[str, Any] = {"run": {**self.run.model_dump(), "name": self.run_name}}
        out["data"] = {"source": self.data.name, **self.data.args}
        out["model"] = self.model.model_dump()
        out["mining"] = self.mining.model_dump()
        out["miners"] = [{"name": c.name, "weight": c.weight, **c.args} for c in self.miners]
        out["losses"] = [{"name": c.name, "weight": c.weight, **c.args} for c in self.losses]
        out["sampler"] = {"name": self.sampler.name, **self.sampler.args}
        out["train"] = self.train.model_dump()
        out["eval"] = [{"name": c.name, **c.args} for c in self.eval]
        out["report"] = self.report.model_dump()
        return out


# -- loading ------------------------------------------------------------------------------------------------


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = (), *,
                check_components: bool = True) -> Recipe:
    """Read, override and validate a recipe file. Raises ``RecipeError`` naming the file and key."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise RecipeError("recipe file not found (give the path to a .toml recipe, e.g. recipes/quickstart.toml)",
                          path=where)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"TOML syntax error: {exc}", path=where) from exc
    except UnicodeDecodeError as exc:
        raise RecipeError(f"not a UTF-8 text file: {exc}", path=where) from exc
    return recipe_from_dict(raw, path=path, overrides=overrides, check_components=check_components)


def recipe_from_dict(raw: dict[str, Any], *, path: Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                     check_components: bool = True) -> Recipe:
    where = str(path) if path else "<recipe>"
    raw = copy.deepcopy(raw)
    for item in overrides:
        apply_override(raw, item, where=where)
    unknown = [k for k in raw if k not in ALL_SECTIONS]
    if unknown:
        raise RecipeError(f"unknown section [{unknown[0]}]; allowed sections: {', '.join(ALL_SECTIONS)}",
                          path=where, key=unknown[0])
    sections: dict[str, Any] = {}
    for name, model in SECTIONS.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise RecipeError(f"must be a table ([{name}]), got {type(table).__name__}", path=where, key=name)
        sections[name] = _validate_section(model, table, name, where)

    data = raw.get("data")
    if not isinstance(data, dict) or "source" not in data:
        raise RecipeError("missing required key 'source' (a dataset name, e.g. source = \"shapes\"; "
                          "see `negkit list-plugins`)", path=where, key="data")
    data_args = {k: v for k, v in data.items() if k != "source"}
    data_spec = ComponentSpec("datasets", _component_name(data["source"], where, "data.source"), "data", data_args)

    sampler = raw.get("sampler", {"name": "random"})
    if not isinstance(sampler, dict):
        raise RecipeError(f"must be a table ([sampler]), got {type(sampler).__name__}", path=where, key="sampler")
    sampler_spec = ComponentSpec("samplers", _component_name(sampler.get("name", "random"), where, "sampler.name"),
                                 "sampler", {k: v for k, v in sampler.items() if k != "name"})

    arrays: dict[str, list[ComponentSpec]] = {}
    for section, kind in COMPONENT_ARRAYS.items():
        tables = raw.get(section, [])
        if not isinstance(tables, list):
            raise RecipeError(f"must be an array of tables ([[{section}]]), got {type(tables).__name__}",
                              path=where, key=section)
        specs = []
        for i, table in enumerate(tables):
            key = f"{section}[{i}]"
            if not isinstance(table, dict):
                raise RecipeError("must be a table", path=where, key=key)
            if "name" not in table:
                raise RecipeError("missing required key 'name'", path=where, key=key)
            args = {k: v for k, v in table.items() if k not in ("name", "weight")}
            weight = table.get("weight", 1.0)
            if "weight" in table and section not in WEIGHTED:
                raise RecipeError("'weight' is not a key of evaluator tables", path=where, key=key)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise RecipeError(f"weight must be a non-negative number, got {weight!r}", path=where,
                                  key=f"{key}.weight")
            specs.append(ComponentSpec(kind, _component_name(table["name"], where, f"{key}.name"), key, args,
                                       float(weight)))
        arrays[section] = specs

    if sections["model"].init and sections["model"].pretrained:
        raise RecipeError(f"init = {sections['model'].init!r} and pretrained = {sections['model'].pretrained!r} "
                          f"both say where the weights come from; keep one", path=where, key="model.init")
    recipe = Recipe(raw=raw, data=data_spec, miners=arrays["miners"], losses=arrays["losses"], eval=arrays["eval"],
                    sampler=sampler_spec, path=path, overrides=list(overrides), **sections)
    if check_components:
        check_recipe_components(recipe)
    return recipe


def _component_name(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise RecipeError(f"must be a non-empty string, got {value!r}", path=where, key=key)
    return value


def _validate_section(model: type[Section], table: dict[str, Any], name: str, where: str) -> Section:
    try:
        return model.model_validate(table)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(model.model_fields)
            raise RecipeError(f"unknown key '{loc}'; allowed keys: {allowed}", path=where, key=name) from None
        got = err.get("input")
        if not loc:  # a check across keys (a model validator): its message says it all
            raise RecipeError(str(err["msg"]).removeprefix("Value error, "), path=where, key=name) from None
        raise RecipeError(f"{loc}: {err['msg']} (got {got!r})", path=where, key=name) from None


def check_recipe_components(recipe: Recipe) -> None:
    """Every component name is registered and its arguments fit its constructor (name and type)."""
    from negkit.plugins import get_host

    host = get_host()
    where = str(recipe.path) if recipe.path else "<recipe>"
    for spec in recipe.components():
        try:
            ref = host.ref(spec.kind, spec.name)
        except NegkitError as exc:
            raise RecipeError(str(exc), path=where, key=spec.key) from None
        check_arguments(ref, spec.args, where=where, key=spec.key)


# -- overrides ----------------------------------------------------------------------------------------------


def apply_override(raw: dict[str, Any], item: str, *, where: str = "<recipe>") -> None:
    """Apply ``a.b=value`` or ``miners.0.k=value`` to the raw recipe in place."""
    if "=" not in item:
        raise RecipeError(f"--set {item!r}: expected KEY=VALUE, e.g. train.epochs=2 or miners.0.k=2", path=where)
    dotted, _, text = item.partition("=")
    parts = [p.strip() for p in dotted.strip().split(".")]
    if len(parts) < 2 or not all(parts):
        raise RecipeError(f"--set {item!r}: the key needs a section and a name, e.g. train.epochs", path=where)
    section = parts[0]
    if section not in ALL_SECTIONS:
        raise RecipeError(f"--set {dotted}: no section [{section}]; sections: {', '.join(ALL_SECTIONS)}",
                          path=where)
    node: Any = raw
    if section in COMPONENT_ARRAYS:
        tables = raw.get(section, [])
        if not parts[1].isdigit() or int(parts[1]) >= len(tables) or len(parts) != 3:
            raise RecipeError(f"--set {dotted}: no such path; [[{section}]] has {len(tables)} table(s), "
                              f"address one as {section}.N.key", path=where)
        node, leaf = tables[int(parts[1])], parts[2]
    else:
        if len(parts) != 2:
            raise RecipeError(f"--set {dotted}: no such path; use {section}.KEY", path=where)
        leaf = parts[1]
        model = SECTIONS.get(section)
        if model is not None and leaf not in model.model_fields:
            raise RecipeError(f"--set {dotted}: [{section}] has no key '{leaf}'; allowed keys: "
                              f"{', '.join(model.model_fields)}", path=where)
        node = raw.setdefault(section, {})
    node[leaf] = parse_value(text)


def validate_recipe_file(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """``negkit validate``: load and check a recipe, and build its light components (miners, data sources,
    evaluators registered as classes) so that impossible settings fail here, before anything runs."""
    from negkit.plugins import get_host

    recipe = load_recipe(path, overrides)
    host = get_host()
    for spec in recipe.components():
        if host.ref(spec.kind, spec.name).is_loaded:
            spec.build(where=str(path))
    return recipe
