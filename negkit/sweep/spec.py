"""The sweep file: TOML -> a validated :class:`Sweep`, every problem reported as one line naming file and key.

A sweep is a set of named **arms** (each a base recipe plus ``--set`` overrides, given one by one in
``[[arms]]`` or as the cartesian product of ``[[grids]]`` axes), run once per **seed**, with one arm as the
**baseline** and a list of **metrics** to summarise. ``[[claims]]`` state what the sweep is meant to show
(arm A beats arm B on a metric, or an arm's value lies below a bound) and ``[[contrasts]]`` ask for a table
of several arms' differences from one reference arm; ``negkit sweep claims`` turns both into tables with
verdicts (``negkit.sweep.claims``). See docs/sweeps.md for every key.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from negkit.errors import NegkitError, SweepError

SEED_KINDS = ("run", "mining")  # run: run.seed (model init, data order); mining: mining.seed
ARM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*$")


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class SweepTable(_Table):
    name: str | None = None  # the sweep directory's name under out; default: the sweep file's stem
    recipe: str | None = None  # base recipe of every arm that names none (relative to the sweep file)
    set: list[str] = Field(default_factory=list)  # overrides applied to every run, before the arm's own
    out: str = "runs/sweeps"  # parent folder of the sweep directory (relative to the working directory)
    baseline: str | None = None  # the arm every other arm is compared with
    metrics: list[str] = Field(min_length=1)  # metric keys to summarise, e.g. "retrieval/mean/R"
    jobs: int = Field(1, ge=1)  # runs at once
    threads: int = Field(0, ge=0)  # CPU threads per run; 0 = the CPUs divided by jobs
    launcher: Literal["local", "slurm"] = "local"
    gpus: int = Field(0, ge=0)  # GPUs per run; more than 1 starts the run with torchrun
    bootstrap: int = Field(10000, ge=100)  # bootstrap resamples
    confidence: float = Field(0.95, gt=0, lt=1)
    bootstrap_seed: int = 0


class SeedsTable(_Table):
    values: list[int] = Field(default_factory=lambda: [0], min_length=1)
    vary: list[Literal["run", "mining"]] = Field(default_factory=lambda: ["run"], min_length=1)


class ArmTable(_Table):
    name: str
    recipe: str | None = None
    set: list[str] = Field(default_factory=list)


class GridTable(_Table):
    name: str  # prefix of the grid's arm names
    recipe: str | None = None
    set: list[str] = Field(default_factory=list)  # overrides every arm of the grid shares
    axes: dict[str, list[Any]]  # "--set key" -> values; the arms are the cartesian product
    exclude: list[dict[str, Any]] = Field(default_factory=list)  # combinations to leave out


LOG_PREFIX = "log:"  # a claim metric read from the runs' log.jsonl (mean over logged steps), e.g. "log:grad_share_hard"


class ClaimTable(_Table):
    name: str  # what the claim says, as the table shows it, e.g. "concrete > random > abstract"
    metric: str  # a metrics.json key ("<evaluator>/<metric>") or "log:<key>" (a training diagnostic)
    order: list[str] = Field(default_factory=list)  # arms, claimed best first: each beats the next
    by: float = Field(0.0, ge=0)  # ... by at least this much (0: by anything); declared before the runs
    arm: str | None = None  # a bound claim: this arm's value ...
    below: float | None = None  # ... lies below this
    above: float | None = None  # ... or above this
    lower_is_better: bool = False  # "beats" means a lower value (e.g. a loss)
    equal: str | None = None  # "at equal <metric>": each compared pair must match on this metric ...
    tolerance: float = Field(0.0, ge=0)  # ... within +- tolerance (the interval of its difference inside it)
    note: str = ""  # shown under the table


class ContrastTable(_Table):
    name: str  # the table's title
    reference: str  # the arm the others are compared with
    arms: list[str] = Field(min_length=1)
    metrics: list[str] = Field(default_factory=list)  # default: the sweep's metrics


class SlurmTable(_Table):
    cluster: Literal["slurm", "local", "debug"] = "slurm"  # submitit's executor; local/debug run here
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    timeout_min: int = Field(60, ge=1)
    cpus_per_task: int | None = Field(None, ge=1)
    mem_gb: float | None = Field(None, gt=0)
    additional: dict[str, Any] = Field(default_factory=dict)  # further sbatch options (slurm_additional_parameters)


TABLES: dict[str, type[_Table]] = {"sweep": SweepTable, "seeds": SeedsTable, "arms": ArmTable, "grids": GridTable,
                                   "slurm": SlurmTable, "claims": ClaimTable, "contrasts": ContrastTable}


@dataclass
class Arm:
    name: str
    recipe: Path
    overrides: list[str]  # the sweep's set, then the grid's or arm's set, then the grid point's values
    key: str  # where it comes from in the sweep file: "arms[1]", "grids[0]"


@dataclass
class Sweep:
    path: Path
    name: str
    out: Path
    arms: list[Arm]
    seeds: list[int]
    vary: list[str]
    baseline: str | None
    metrics: list[str]
    settings: SweepTable
    slurm: SlurmTable = field(default_factory=SlurmTable)
    claims: list[ClaimTable] = field(default_factory=list)
    contrasts: list[ContrastTable] = field(default_factory=list)

    @property
    def directory(self) -> Path:
        return self.out / self.name

    def arm(self, name: str) -> Arm:
        return next(a for a in self.arms if a.name == name)


def toml_value(value: Any) -> str:
    """A value written as ``--set`` text (TOML): ``3``, ``0.001``, ``true``, ``"infonce"``, ``[1, 2]``."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as a TOML value")


def _label(value: Any) -> str:
    text = value if isinstance(value, str) else toml_value(value)
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "x"


class _Errors:
    def __init__(self, path: Path) -> None:
        self.path, self.lines = path, []

    def add(self, key: str | None, message: str) -> None:
        self.lines.append(SweepError(message, path=str(self.path), key=key))


def check_sweep(path: str | Path, *, check_recipes: bool = True) -> tuple[Sweep | None, list[SweepError]]:
    """Read and validate a sweep file. Returns the sweep (None when it is unusable) and every error found."""
    path = Path(path)
    errors = _Errors(path)
    if not path.is_file():
        errors.add(None, "sweep file not found (give the path to a sweep .toml, e.g. sweeps/shapes.toml)")
        return None, errors.lines
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        errors.add(None, f"TOML syntax error: {exc}")
        return None, errors.lines
    for key in raw:
        if key not in TABLES:
            errors.add(key, f"unknown table [{key}]; allowed: {', '.join(TABLES)}")
    tables = {k: _table(raw, k, errors) for k in ("sweep", "seeds", "slurm")}
    arms_raw = _array(raw, "arms", errors)
    grids_raw = _array(raw, "grids", errors)
    claims = [(f"claims[{i}]", c) for i, t in _array(raw, "claims", errors)
              if (c := _validate(ClaimTable, t, f"claims[{i}]", errors)) is not None]
    contrasts = [(f"contrasts[{i}]", c) for i, t in _array(raw, "contrasts", errors)
                 if (c := _validate(ContrastTable, t, f"contrasts[{i}]", errors)) is not None]
    settings, seeds = tables["sweep"], tables["seeds"] or SeedsTable()
    if settings is None:
        return None, errors.lines

    base_dir = path.parent
    arms: list[Arm] = []

    def recipe_of(value: str | None, key: str) -> Path | None:
        chosen = value or settings.recipe
        if chosen is None:
            errors.add(key, "no recipe: give recipe = \"...\" here or in [sweep]")
            return None
        where = (base_dir / chosen).resolve()
        if not where.is_file():
            errors.add(f"{key}.recipe" if value else "sweep.recipe", f"recipe file not found: {chosen} "
                       f"(paths are relative to the sweep file)")
            return None
        return where

    for i, table in arms_raw:
        key = f"arms[{i}]"
        arm = _validate(ArmTable, table, key, errors)
        if arm is None:
            continue
        recipe = recipe_of(arm.recipe, key)
        if recipe is not None:
            arms.append(Arm(arm.name, recipe, [*settings.set, *arm.set], key))
    for i, table in grids_raw:
        key = f"grids[{i}]"
        grid = _validate(GridTable, table, key, errors)
        if grid is None:
            continue
        recipe = recipe_of(grid.recipe, key)
        points = _grid_points(grid, key, errors)
        if recipe is None:
            continue
        for point in points:
            suffix = "-".join(f"{k.rsplit('.', 1)[-1]}={_label(v)}" for k, v in point.items())
            sets = [f"{k}={toml_value(v)}" for k, v in point.items()]
            arms.append(Arm(f"{grid.name}-{suffix}", recipe, [*settings.set, *grid.set, *sets], key))
    if not arms_raw and not grids_raw:
        errors.add("arms", "no arms: add [[arms]] tables or a [[grids]] table")

    seen: dict[str, str] = {}
    for arm in arms:
        if not ARM_NAME.match(arm.name):
            errors.add(f"{arm.key}.name", f"arm name {arm.name!r}: use letters, digits and . _ = + - "
                       f"(it names the run directories)")
        if arm.name in seen:
            errors.add(f"{arm.key}.name", f"duplicate arm name {arm.name!r} (also at {seen[arm.name]})")
        seen.setdefault(arm.name, arm.key)
    if settings.baseline is not None and settings.baseline not in seen and arms:
        errors.add("sweep.baseline", f"no arm is named {settings.baseline!r}; arms: {', '.join(seen)}")
    if len(set(seeds.values)) != len(seeds.values):
        errors.add("seeds.values", f"repeated seeds in {seeds.values}")
    for i, metric in enumerate(settings.metrics):
        if "/" not in metric:
            errors.add(f"sweep.metrics[{i}]", f"{metric!r} is not a metric key (<evaluator>/<metric>, as in "
                       f"metrics.json, e.g. \"retrieval/mean/R\")")
    if arms:
        _check_claims(claims, contrasts, set(seen), errors)
    sweep = Sweep(path=path, name=settings.name or path.stem, out=Path(settings.out), arms=arms,
                  seeds=list(seeds.values), vary=list(dict.fromkeys(seeds.vary)), baseline=settings.baseline,
                  metrics=list(settings.metrics), settings=settings, slurm=tables["slurm"] or SlurmTable(),
                  claims=[c for _, c in claims], contrasts=[c for _, c in contrasts])
    if not ARM_NAME.match(sweep.name):
        errors.add("sweep.name", f"{sweep.name!r}: use letters, digits and . _ = + - (it names a directory)")
    if check_recipes and not errors.lines:
        for arm in arms:
            _check_arm(sweep, arm, errors)
    return (None if errors.lines else sweep), errors.lines


def load_sweep(path: str | Path, *, check_recipes: bool = True) -> Sweep:
    """A validated sweep; raises ``SweepError`` with the first problem (``negkit sweep validate`` lists all)."""
    sweep, errors = check_sweep(path, check_recipes=check_recipes)
    if errors:
        more = (f" (and {len(errors) - 1} more problem(s): run `negkit sweep validate {path}`)"
                if len(errors) > 1 else "")
        first = errors[0]
        raise SweepError(first.message + more, path=first.path, key=first.key)
    assert sweep is not None
    return sweep


def seed_overrides(sweep: Sweep, seed: int, mining_seed: int) -> list[str]:
    """The ``--set`` items that give a run its seed. ``mining_seed`` is the base recipe's own mining seed:
    kept fixed unless the sweep varies ``mining``."""
    sets = [f"run.seed={seed}"] if "run" in sweep.vary else []
    sets.append(f"mining.seed={seed if 'mining' in sweep.vary else mining_seed}")
    return sets


def _check_arm(sweep: Sweep, arm: Arm, errors: _Errors) -> None:
    """The arm's overrides must validate against its base recipe (components and their arguments too)."""
    from negkit.recipe import load_recipe

    try:
        base = load_recipe(arm.recipe, arm.overrides, check_components=False)
        load_recipe(arm.recipe, [*arm.overrides, *seed_overrides(sweep, sweep.seeds[0], base.mining_seed)])
    except NegkitError as exc:
        message = getattr(exc, "message", str(exc))
        errors.add(arm.key, f"arm {arm.name!r} (recipe {arm.recipe.name}): {message}")


def _check_metric(metric: str, key: str, errors: _Errors) -> None:
    if metric.startswith(LOG_PREFIX):
        if not metric[len(LOG_PREFIX):]:
            errors.add(key, "\"log:\" names no log key (e.g. \"log:grad_share_hard\")")
    elif "/" not in metric:
        errors.add(key, f"{metric!r} is not a metric key (<evaluator>/<metric> as in metrics.json, e.g. "
                   f"\"retrieval/mean/R\", or \"log:<key>\" for a training diagnostic in log.jsonl)")


def _check_claims(claims: list[tuple[str, ClaimTable]], contrasts: list[tuple[str, ContrastTable]],
                  arms: set[str], errors: _Errors) -> None:
    """Claims and contrasts name arms of this sweep and say one thing each (an order, or one arm and a bound)."""
    names: dict[str, str] = {}
    for key, claim in claims:
        if claim.name in names:
            errors.add(f"{key}.name", f"duplicate claim name {claim.name!r} (also at {names[claim.name]})")
        names.setdefault(claim.name, key)
        _check_metric(claim.metric, f"{key}.metric", errors)
        bounds = [b for b in (claim.below, claim.above) if b is not None]
        if claim.order and (claim.arm is not None or bounds):
            errors.add(key, "give either order = [arms, best first] or arm = ... with below/above, not both")
            continue
        if claim.order:
            if len(claim.order) < 2:
                errors.add(f"{key}.order", "an order needs at least two arms (the claimed better one first)")
            if len(set(claim.order)) != len(claim.order):
                errors.add(f"{key}.order", f"an arm is listed twice in {claim.order}")
            for j, arm in enumerate(claim.order):
                if arm not in arms:
                    errors.add(f"{key}.order[{j}]", f"no arm is named {arm!r}; arms: {', '.join(sorted(arms))}")
        elif claim.arm is not None:
            if claim.arm not in arms:
                errors.add(f"{key}.arm", f"no arm is named {claim.arm!r}; arms: {', '.join(sorted(arms))}")
            if len(bounds) != 1:
                errors.add(key, "a claim about one arm needs exactly one of below = ... or above = ...")
            if claim.equal is not None:
                errors.add(f"{key}.equal", "equal applies to compared arms: give order = [...] instead of arm")
        else:
            errors.add(key, "a claim needs order = [arms, claimed best first] or arm = ... with below/above")
        if claim.equal is not None:
            _check_metric(claim.equal, f"{key}.equal", errors)
        elif claim.tolerance:
            errors.add(f"{key}.tolerance", "tolerance applies to equal = \"<metric>\"; give that too")
        if claim.by and not claim.order:
            errors.add(f"{key}.by", "by applies to order = [...] (each arm beats the next by at least this much)")
    for key, contrast in contrasts:
        named = [("reference", contrast.reference), *((f"arms[{j}]", a) for j, a in enumerate(contrast.arms))]
        for where, arm in named:
            if arm not in arms:
                errors.add(f"{key}.{where}", f"no arm is named {arm!r}; arms: {', '.join(sorted(arms))}")
        for j, metric in enumerate(contrast.metrics):
            _check_metric(metric, f"{key}.metrics[{j}]", errors)


def _table(raw: dict[str, Any], name: str, errors: _Errors) -> Any:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        errors.add(name, f"must be a table ([{name}])")
        return None
    if name == "sweep" and "sweep" not in raw:
        errors.add("sweep", "missing [sweep] table (it needs at least metrics = [...])")
        return None
    return _validate(TABLES[name], table, name, errors)


def _array(raw: dict[str, Any], name: str, errors: _Errors) -> list[tuple[int, dict[str, Any]]]:
    tables = raw.get(name, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        errors.add(name, f"must be an array of tables ([[{name}]])")
        return []
    return list(enumerate(tables))


def _validate(model: type[_Table], table: dict[str, Any], key: str, errors: _Errors) -> Any:
    try:
        return model.model_validate(table)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            where = f"{key}.{loc}" if loc else key
            if err["type"] == "extra_forbidden":
                errors.add(where, f"unknown key '{loc}'; allowed keys: {', '.join(model.model_fields)}")
            elif err["type"] == "missing":
                errors.add(where, f"missing required key '{loc}'")
            else:
                errors.add(where, f"{err['msg']} (got {err.get('input')!r})")
        return None


def _grid_points(grid: GridTable, key: str, errors: _Errors) -> list[dict[str, Any]]:
    if not grid.axes:
        errors.add(f"{key}.axes", "empty grid: give at least one axis, e.g. axes = { \"train.lr\" = [1e-3, 3e-3] }")
        return []
    for axis, values in grid.axes.items():
        if not values:
            errors.add(f"{key}.axes.{axis}", "empty axis: give at least one value")
            return []
    for j, combo in enumerate(grid.exclude):
        unknown = [k for k in combo if k not in grid.axes]
        if unknown:
            errors.add(f"{key}.exclude[{j}]", f"{unknown[0]!r} is not an axis of this grid; axes: "
                       f"{', '.join(grid.axes)}")
            return []
    names = list(grid.axes)
    points = [dict(zip(names, values)) for values in itertools.product(*grid.axes.values())]
    points = [p for p in points if not any(all(p[k] == v for k, v in combo.items()) for combo in grid.exclude)]
    if not points:
        errors.add(f"{key}.exclude", "empty grid: the excludes leave out every combination")
    return points
