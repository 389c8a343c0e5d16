"""``negkit sweep claims``: the sweep file's ``[[claims]]`` and ``[[contrasts]]`` measured on a finished sweep
directory, written as claims.md, claims.csv and claims.json beside the summary.

Every number comes from the runs' own files (metrics.json, items.jsonl, log.jsonl); nothing is typed in.

- An **order claim** (``order = [A, B, C]``: A beats B beats C on ``metric``) becomes one comparison per
  neighbouring pair: the difference A - B, paired on the same seeds and, where both runs recorded per-item
  results, the same items (bootstrap over seeds x items, ``stats.paired_difference``). A pair **holds** when
  its interval lies wholly on the claimed side of 0, **does not hold** when it lies wholly on the other side,
  and is **inconclusive** when it contains 0. The claim holds when every pair holds, does not hold when any
  pair does not, and is inconclusive otherwise.
- ``by = d`` (an order claim that each arm beats the next by at least ``d``, declared before the runs): the
  same reading with ``d`` in place of 0. A pair holds when its interval lies wholly above ``d`` on the claimed
  side, does not hold when it lies wholly below ``d`` (the difference, if any, is smaller than claimed), and is
  inconclusive when it contains ``d``. A difference near 0 can never settle ``A > B`` itself; it can settle
  ``A > B by d``.
- ``equal = M`` ("at equal M"): a pair is only compared when it is matched on M: the interval of its paired
  difference on M lies inside ``[-tolerance, +tolerance]``. Otherwise the pair is **inconclusive** and marked
  confounded (the two arms differ on M, or the sweep cannot show that they do not), whatever the main metric
  says: a gain bought with M is not the gain the claim is about.
- A **bound claim** (``arm = A`` with ``below = x`` or ``above = x``): A's mean over seeds with its bootstrap
  interval over seeds, against the bound; the verdict reads the interval the same way.
- A verdict needs at least two seeds (one seed has no interval over seeds): with one it is inconclusive.
- ``log:<key>`` metrics are read from each run's log.jsonl: the mean over its logged steps of ``<key>``, or of
  the first ``<loss>/<key>`` it logged (``log:grad_share_hard`` finds ``infonce/grad_share_hard`` and
  ``cement/grad_share_hard``). They are paired on seeds only.
- A **contrast** is a table: each arm minus the reference arm on each metric, paired as above.
"""

from __future__ import annotations

import csv
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from negkit import rundir as rd
from negkit.errors import DataError
from negkit.sweep.spec import LOG_PREFIX
from negkit.sweep.stats import Interval, mean_interval, paired_difference
from negkit.sweep.summary import collect, item_group, metric_value

MD, CSV, JSON = "claims.md", "claims.csv", "claims.json"
HOLDS, FAILS, OPEN = "holds", "does not hold", "inconclusive"
BEGIN, END = "<!-- negkit sweep claims: begin -->", "<!-- negkit sweep claims: end -->"


@dataclass
class Comparison:
    """One measured step of a claim: ``left - right`` (order claims) or ``left - bound`` (bound claims)."""

    claim: str
    left: str  # the arm claimed better (or the arm of a bound claim)
    right: str | None  # the arm claimed worse; None for a bound claim
    metric: str
    direction: int  # +1: the claim says the difference is positive; -1: negative
    diff: Interval
    verdict: str
    bound: float | None = None
    note: str = ""
    matched: Interval | None = None  # the "equal" metric's paired difference, when the claim has one
    by: float = 0.0  # the claimed least difference (order claims)

    @property
    def text(self) -> str:
        if self.right is None:
            return f"{self.left} {'<' if self.direction < 0 else '>'} {self.bound:g}"
        by = f" by >= {self.by:g}" if self.by else ""
        return f"{self.left} {'>' if self.direction > 0 else '<'} {self.right}{by}"


@dataclass
class ClaimResult:
    name: str
    metric: str
    verdict: str
    comparisons: list[Comparison]
    note: str = ""


@dataclass
class ContrastResult:
    name: str
    reference: str
    arms: list[str]
    metrics: list[str]
    means: dict[str, dict[str, Interval]]  # arm (reference included) -> metric -> mean over seeds
    diffs: dict[str, dict[str, Interval]]  # arm -> metric -> arm - reference


@dataclass
class Claims:
    plan: dict[str, Any]
    claims: list[ClaimResult] = field(default_factory=list)
    contrasts: list[ContrastResult] = field(default_factory=list)


def verdict(diff: Interval, direction: int, by: float = 0.0) -> str:
    """holds / does not hold / inconclusive, from where the interval lies against 0, or against ``by``, the
    claimed least difference (see the module)."""
    if diff.n < 2 or not all(math.isfinite(v) for v in (diff.low, diff.high)):
        return OPEN
    low, high = sorted((direction * diff.low, direction * diff.high))
    if low > by:
        return HOLDS
    if high < by:
        return FAILS
    return OPEN


def combine(verdicts: list[str]) -> str:
    """A chain holds when every link holds, fails when any link fails, and is open otherwise."""
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    if FAILS in verdicts:
        return FAILS
    return OPEN


class _Runs:
    """The finished runs of a sweep directory, and each run's values of a metric (cached)."""

    def __init__(self, sweep_dir: Path) -> None:
        if not (Path(sweep_dir) / "sweep.json").is_file():
            raise DataError(f"{sweep_dir} is not a sweep directory (no sweep.json): give the <out>/<sweep name> "
                            f"folder a `negkit sweep run` made, e.g. runs/shapes-experiment")
        self.plan, self.metrics, self.dirs = collect(sweep_dir)
        if not self.metrics:
            raise DataError(f"{sweep_dir}: no finished run yet (no runs/*/metrics.json); run `negkit sweep run` first")
        self._items: dict[Path, dict[str, dict[str, float]]] = {}
        self._logs: dict[Path, list[dict[str, Any]]] = {}

    def seeds(self, arm: str) -> set[int]:
        return set(self.metrics.get(arm, {}))

    def value(self, arm: str, seed: int, metric: str) -> float | None:
        if metric.startswith(LOG_PREFIX):
            series = self.log_series(arm, seed, metric[len(LOG_PREFIX):])
            return float(np.mean([v for _, v in series])) if series else None
        v = metric_value(self.metrics[arm][seed], metric)
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    def items(self, arm: str, seed: int, metric: str) -> dict[str, float] | None:
        if metric.startswith(LOG_PREFIX):
            return None
        path = self.dirs[arm][seed]
        if path not in self._items:
            self._items[path] = rd.read_items(path)
        return item_group(self._items[path], metric)

    def log_series(self, arm: str, seed: int, key: str) -> list[tuple[int, float]]:
        """(step, value) of ``key`` in the run's log.jsonl, or of the first ``<loss>/key`` it logged."""
        path = self.dirs[arm][seed]
        if path not in self._logs:
            self._logs[path] = rd.read_log(path)
        records = self._logs[path]
        found = next((k for r in records for k in r if k == key), None)
        found = found or next((k for r in records for k in r if k.endswith("/" + key)), None)
        if found is None:
            return []
        return [(int(r.get("step", i)), float(r[found])) for i, r in enumerate(records)
                if isinstance(r.get(found), (int, float)) and math.isfinite(r[found])]

    def loss_keys(self, arm: str, key: str) -> list[str]:
        """The ``<loss>/key`` names the arm's runs logged (which losses the diagnostic came from)."""
        names: set[str] = set()
        for seed in self.seeds(arm):
            path = self.dirs[arm][seed]
            if path not in self._logs:
                self._logs[path] = rd.read_log(path)
            names |= {k for r in self._logs[path] for k in r if k == key or k.endswith("/" + key)}
        return sorted(names)

    def mean(self, arm: str, metric: str) -> Interval:
        values = [self.value(arm, s, metric) for s in sorted(self.seeds(arm))]
        p = self.plan
        return mean_interval([v for v in values if v is not None], resamples=p["bootstrap"],
                             confidence=p["confidence"], seed=p["bootstrap_seed"])

    def paired(self, left: str, right: str, metric: str) -> Interval:
        """``left - right`` on the seeds both finished, and on their common items when every run has them."""
        p = self.plan
        kw = {"resamples": p["bootstrap"], "confidence": p["confidence"], "seed": p["bootstrap_seed"]}
        seeds = sorted(self.seeds(left) & self.seeds(right))
        groups = [(self.items(left, s, metric), self.items(right, s, metric)) for s in seeds]
        if seeds and all(a is not None and b is not None for a, b in groups):
            ids = sorted(set.intersection(*(set(a) & set(b) for a, b in groups)))
            if ids:
                a = np.array([[g[0][i] for i in ids] for g in groups])
                b = np.array([[g[1][i] for i in ids] for g in groups])
                return paired_difference(a, b, **kw)
        pairs = [(self.value(left, s, metric), self.value(right, s, metric)) for s in seeds]
        pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
        return paired_difference(np.array([x for x, _ in pairs]), np.array([y for _, y in pairs]), **kw)


def _shift(interval: Interval, by: float) -> Interval:
    return Interval(interval.value - by, interval.low - by, interval.high - by, interval.n)


def _caution(diff: Interval, confidence: float) -> str:
    """What a reader of a paired difference should know: too few seeds, or a seeds-only pairing whose exact
    sign-flip test disagrees with the bootstrap interval (few seeds cannot show much, docs/sweeps.md)."""
    if diff.n < 2:
        return f"{diff.n} seed(s): no interval over seeds"
    decided = diff.low > 0 or diff.high < 0
    if not diff.items and diff.p_value is not None and diff.p_value >= 1 - confidence and decided:
        return f"seeds only: sign-flip p={diff.p_value:.3g} (needs more seeds to be sure)"
    return ""


def _claim(runs: _Runs, c: dict[str, Any]) -> ClaimResult:
    sign = -1 if c.get("lower_is_better") else 1
    comparisons: list[Comparison] = []
    if c.get("order"):
        for left, right in zip(c["order"], c["order"][1:]):
            diff = runs.paired(left, right, c["metric"])
            by = float(c.get("by") or 0.0)
            v = verdict(diff, sign, by)
            note, matched = "", None
            if c.get("equal"):
                tol = float(c.get("tolerance") or 0.0)
                matched = runs.paired(left, right, c["equal"])
                if not (matched.n and -tol <= matched.low and matched.high <= tol):
                    v = OPEN
                    note = (f"confounded: {c['equal']} differs by {_signed(matched.value)} [{_signed(matched.low)}, "
                            f"{_signed(matched.high)}], not within +-{tol:g}")
                else:
                    note = f"matched on {c['equal']} within +-{tol:g}"
            note = "; ".join(x for x in (note, _caution(diff, runs.plan["confidence"])) if x)
            comparisons.append(Comparison(c["name"], left, right, c["metric"], sign, diff, v, note=note,
                                          matched=matched, by=by))
    else:
        bound = c["below"] if c.get("below") is not None else c["above"]
        direction = -1 if c.get("below") is not None else 1
        diff = _shift(runs.mean(c["arm"], c["metric"]), bound)
        note = "" if diff.n >= 2 else f"{diff.n} seed(s): no interval over seeds"
        if diff.n >= 2 and diff.n < 8 and verdict(diff, direction) != OPEN:
            note = f"a bootstrap over {diff.n} seed values is rough; more seeds make it trustworthy"
        comparisons.append(Comparison(c["name"], c["arm"], None, c["metric"], direction, diff,
                                      verdict(diff, direction), bound=bound, note=note))
    return ClaimResult(c["name"], c["metric"], combine([x.verdict for x in comparisons]), comparisons,
                       c.get("note", ""))


def _contrast(runs: _Runs, c: dict[str, Any], default_metrics: list[str]) -> ContrastResult:
    metrics = c.get("metrics") or default_metrics
    arms = [c["reference"], *c["arms"]]
    means = {a: {m: runs.mean(a, m) for m in metrics} for a in arms if runs.seeds(a)}
    diffs = {a: {m: runs.paired(a, c["reference"], m) for m in metrics} for a in c["arms"]
             if runs.seeds(a) and runs.seeds(c["reference"])}
    return ContrastResult(c["name"], c["reference"], c["arms"], metrics, means, diffs)


def measure(sweep_dir: Path, claims: list[dict[str, Any]] | None = None,
            contrasts: list[dict[str, Any]] | None = None) -> tuple[Claims, _Runs]:
    """Every claim and contrast of the sweep (from its sweep.json, or the ones given) measured on its runs."""
    runs = _Runs(Path(sweep_dir))
    plan = runs.plan
    claims = plan.get("claims", []) if claims is None else claims
    contrasts = plan.get("contrasts", []) if contrasts is None else contrasts
    if not claims and not contrasts:
        raise DataError(f"{sweep_dir}: the sweep declares no [[claims]] or [[contrasts]] (docs/sweeps.md); "
                        f"add them to the sweep file and pass it with --sweep-file")
    out = Claims(plan, [_claim(runs, c) for c in claims], [_contrast(runs, c, plan["metrics"]) for c in contrasts])
    return out, runs


def _signed(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:+.4f}"


def _num(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _interval(d: Interval) -> str:
    return f"{_signed(d.value)} [{_signed(d.low)}, {_signed(d.high)}]"


def _paired(d: Interval) -> str:
    return f"{d.n} seeds x {d.items} items" if d.items else f"{d.n} seeds"


def markdown(result: Claims, figures: list[Path] = (), *, heading: int = 1, base: Path | None = None,
             negatives: str = "") -> str:
    plan = result.plan
    h = "#" * heading
    level = round(100 * plan["confidence"])
    out = [f"{h} Claims of sweep {plan['name']}", "",
           f"Each difference is the first arm minus the second (or the arm's mean minus the bound), with its "
           f"{level}% bootstrap interval, paired over seeds and, where runs recorded per-item results, items; "
           f"seeds {', '.join(map(str, plan['seeds']))} (varying: {', '.join(plan['vary'])}), "
           f"{plan['bootstrap']} resamples, seed {plan['bootstrap_seed']}. A verdict is **holds** when the interval "
           f"lies on the claimed side of 0, **does not hold** when it lies on the other side, **inconclusive** "
           f"when it contains 0; for a claim \"by >= d\", the same against d instead of 0 (docs/sweeps.md, "
           f"`negkit sweep claims`).", ""]
    if result.claims:
        out += ["| claim | verdict | comparison | metric | difference [interval] | p | paired | note |",
                "|---|---|---|---|---:|---:|---|---|"]
        for c in result.claims:
            for i, x in enumerate(c.comparisons):
                p = "-" if x.diff.p_value is None else f"{x.diff.p_value:.3g}"
                first = i == 0
                out.append(f"| {c.name if first else ''} | {'**' + c.verdict + '**' if first else ''} | {x.text}: "
                           f"{x.verdict} | {x.metric} | {_interval(x.diff) if x.diff.n else '-'} | {p} | "
                           f"{_paired(x.diff)} | {x.note} |")
        notes = [f"- {c.name}: {c.note}" for c in result.claims if c.note]
        if notes:
            out += ["", *notes]
    for contrast in result.contrasts:
        out += ["", f"{h}# {contrast.name}", "",
                f"Each arm minus `{contrast.reference}` [{level}% interval, paired]; `*` where the interval "
                f"excludes 0. Means over seeds of every arm are in claims.csv.", "",
                "| metric | " + " | ".join(contrast.arms) + " |", "|---|" + "---:|" * len(contrast.arms)]
        for m in contrast.metrics:
            cells = []
            for a in contrast.arms:
                d = contrast.diffs.get(a, {}).get(m)
                if d is None or not d.n:
                    cells.append("-")
                    continue
                star = "*" if d.n >= 2 and (d.low > 0 or d.high < 0) else ""
                cells.append(f"{_interval(d)}{star} ({_paired(d)})")
            out.append(f"| {m} | " + " | ".join(cells) + " |")
    if negatives:
        out += ["", f"{h}# Negatives: concreteness of the edited word against the image-space difference", "",
                negatives.rstrip("\n")]
    if figures:
        out += ["", f"{h}# Figures", ""]
        for f in figures:
            shown = f if base is None else f.relative_to(base) if f.is_relative_to(base) else f
            out.append(f"![{f.stem}]({shown.as_posix()})")
    return "\n".join(out) + "\n"


def write_csv(path: Path, result: Claims) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["kind", "name", "verdict", "left", "right", "bound", "metric", "value", "low", "high", "p_value",
                    "seeds", "items", "note"])
        for c in result.claims:
            w.writerow(["claim", c.name, c.verdict, "", "", "", c.metric, "", "", "", "", "", "", c.note])
            for x in c.comparisons:
                d = x.diff
                # "bound": what the difference is read against: a bound claim's bound, an order claim's ``by``
                bound = x.bound if x.bound is not None else (x.by or "")
                w.writerow(["comparison", c.name, x.verdict, x.left, x.right or "", bound,
                            x.metric, d.value, d.low, d.high, d.p_value, d.n, d.items, x.note])
        for t in result.contrasts:
            for a, by_metric in t.means.items():
                for m, d in by_metric.items():
                    w.writerow(["mean", t.name, "", a, "", "", m, d.value, d.low, d.high, "", d.n, "", ""])
            for a, by_metric in t.diffs.items():
                for m, d in by_metric.items():
                    w.writerow(["contrast", t.name, "", a, t.reference, "", m, d.value, d.low, d.high, d.p_value, d.n,
                                d.items, ""])


def to_json(result: Claims) -> dict[str, Any]:
    return {"name": result.plan["name"],
            "claims": [{"name": c.name, "metric": c.metric, "verdict": c.verdict, "note": c.note,
                        "comparisons": [{"left": x.left, "right": x.right, "bound": x.bound, "by": x.by,
                                         "direction": x.direction, "verdict": x.verdict, "note": x.note,
                                         "diff": asdict(x.diff),
                                         "matched": asdict(x.matched) if x.matched else None}
                                        for x in c.comparisons]} for c in result.claims],
            "contrasts": [{"name": t.name, "reference": t.reference, "arms": t.arms, "metrics": t.metrics,
                           "means": {a: {m: asdict(d) for m, d in v.items()} for a, v in t.means.items()},
                           "diffs": {a: {m: asdict(d) for m, d in v.items()} for a, v in t.diffs.items()}}
                          for t in result.contrasts]}


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _declared(sweep_file: Path | None) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
    if sweep_file is None:
        return None, None
    from negkit.sweep.spec import load_sweep

    sweep = load_sweep(sweep_file, check_recipes=False)
    return [c.model_dump() for c in sweep.claims], [c.model_dump() for c in sweep.contrasts]


def _compute(sweep_dir: Path, sweep_file: Path | None, plots: bool, negatives: int,
             model_arm: str | None) -> tuple[Claims, list[Path], str]:
    result, runs = measure(sweep_dir, *_declared(sweep_file))
    figures: list[Path] = []
    if plots:
        from negkit.sweep.figures import claim_figures

        figures = claim_figures(sweep_dir, result, runs)
    table = ""
    if negatives:
        from negkit.sweep.visual import write_negatives

        table, figure = write_negatives(sweep_dir, sample=negatives, model_arm=model_arm)
        figures.append(figure)
    return result, figures, table


def write_claims(sweep_dir: Path, *, sweep_file: Path | None = None, plots: bool = True, negatives: int = 0,
                 model_arm: str | None = None) -> dict[str, Path]:
    """Measure the claims and contrasts (of ``sweep_file`` when given, else of the sweep's sweep.json) and write
    claims.md, claims.csv, claims.json and, with ``plots``, the figures under plots/; with ``negatives`` > 0 also
    the concreteness-vs-image-difference table and figure of that many captions per mined arm
    (``negkit.sweep.visual``, embeddings from ``model_arm``'s first finished run); returns the paths."""
    sweep_dir = Path(sweep_dir)
    result, figures, table = _compute(sweep_dir, sweep_file, plots, negatives, model_arm)
    paths = {"markdown": sweep_dir / MD, "csv": sweep_dir / CSV, "json": sweep_dir / JSON}
    _write_text(paths["markdown"], markdown(result, figures, base=sweep_dir, negatives=table))
    tmp = sweep_dir / f".{CSV}.tmp"
    write_csv(tmp, result)
    tmp.replace(paths["csv"])
    rd.write_json(paths["json"], to_json(result))
    for i, f in enumerate(figures):
        paths[f"figure {i + 1}"] = f
    return paths


def command_line(sweep_dir: Path, sweep_file: Path | None, into: Path | None, plots: bool = True,
                 negatives: int = 0, model_arm: str | None = None) -> str:
    """The ``negkit sweep claims`` command with these arguments, as a page that it wrote quotes it."""
    import shlex

    words = ["negkit", "sweep", "claims", str(sweep_dir)]
    if sweep_file is not None:
        words += ["--sweep-file", str(sweep_file)]
    if into is not None:
        words += ["--into", str(into)]
    if not plots:
        words.append("--no-plots")
    if negatives:
        words += ["--negatives", str(negatives)]
    if model_arm:
        words += ["--model-arm", model_arm]
    return " ".join(shlex.quote(w) for w in words)


def write_into(page: Path, sweep_dir: Path, *, command: str, sweep_file: Path | None = None,
               plots: bool = True, negatives: int = 0, model_arm: str | None = None) -> Path:
    """Replace the part of ``page`` between the claims markers with the sweep's claims (its headings at level
    3, its figures copied to ``<page dir>/figures/<sweep name>/``), preceded by the command that made it."""
    page, sweep_dir = Path(page), Path(sweep_dir)
    text = page.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise DataError(f"{page}: no place for the claims: add the lines {BEGIN} and {END}")
    result, made, table = _compute(sweep_dir, sweep_file, plots, negatives, model_arm)
    target = page.parent / "figures" / result.plan["name"]
    figures = []
    for f in made:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target / f.name)
        figures.append(target / f.name)
    body = markdown(result, figures, heading=3, base=page.parent, negatives=table)
    section = f"{BEGIN}\nMade by:\n\n```bash\n{command}\n```\n\n{body}{END}"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    _write_text(page, head + section + tail)
    return page
