"""``compositional-suite``: the eleven compositionality benchmarks of FSC-CLIP's table and their mean.

FSC-CLIP (Oh et al. 2024, ``src/training/eval_compo.py``) reports "Comp" as the plain mean of one number
per benchmark. How each single number is formed is documented in docs/evaluation.md and in ``SINGLE``
below; where vl_compo's code is not public the rule was checked against its published per-subset and
per-benchmark tables (``individual_results.csv``, ``results.csv``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from negkit.errors import DataError
from negkit.eval.base import EvalContext, Evaluator, check_choices
from negkit.eval.tasks.aro import ARO
from negkit.eval.tasks.crepe import CREPE
from negkit.eval.tasks.eqben import EqBen
from negkit.eval.tasks.imagecode import ImageCoDe
from negkit.eval.tasks.spec import SPEC
from negkit.eval.tasks.sugarcrepe import SUBSETS as SUGARCREPE_SUBSETS
from negkit.eval.tasks.sugarcrepe import SugarCrepe
from negkit.eval.tasks.svo_probes import SVOProbes
from negkit.eval.tasks.valse import VALSE
from negkit.eval.tasks.vl_checklist import VLCheckList
from negkit.eval.tasks.whatsup import WhatsUp
from negkit.eval.tasks.winoground import Winoground

BENCHMARKS: dict[str, type[Evaluator]] = {cls.name: cls for cls in (
    ARO, CREPE, EqBen, ImageCoDe, SugarCrepe, SVOProbes, VALSE, VLCheckList, WhatsUp, Winoground, SPEC)}


def sugarcrepe_single(m: dict[str, float]) -> float:
    """The mean over SugarCrepe's three edit families (replace, swap, add) of each family's accuracy over
    all its items (reproduces vl_compo's SugarCrepe column from its seven subset columns exactly)."""
    fams = []
    for fam in ("replace", "swap", "add"):
        subs = [s.replace("_", "-") for s in SUGARCREPE_SUBSETS if s.startswith(fam)]
        n = sum(m.get(f"{s}/n", 0.0) for s in subs)
        if n:
            fams.append(sum(m[f"{s}/acc"] * m[f"{s}/n"] for s in subs if m.get(f"{s}/n")) / n)
    return float(np.mean(fams)) if fams else float("nan")


def valse_single(m: dict[str, float]) -> float:
    """The mean over VALSE's instruments of the instrument accuracy (each the mean of its pieces)."""
    accs = [v for k, v in m.items() if k.startswith("instrument/")]
    return float(np.mean(accs)) if accs else float("nan")


# benchmark -> (the single number from its metrics, how it is formed)
SINGLE: dict[str, tuple[Callable[[dict[str, float]], float], str]] = {
    "aro": (lambda m: m["avg"], "mean of VG-Relation (macro), VG-Attribution (macro), COCO-Order, Flickr30k-Order"),
    "crepe": (lambda m: m["avg"], "mean of the atom, swap and negate R@1"),
    "eqben": (lambda m: m["avg"], "mean group score over AG, GEBC, YouCook2, Kubric (mean of 3), SD"),
    "imagecode": (lambda m: m["acc"], "accuracy over all descriptions (video and static)"),
    "sugarcrepe": (sugarcrepe_single, "mean over replace/swap/add of each family's accuracy over its items"),
    "svo-probes": (lambda m: m["avg"], "mean of the subject, verb and object accuracies"),
    "valse": (valse_single, "mean over the instruments (each the mean of its pieces)"),
    "vl-checklist": (lambda m: m["avg"], "mean of Object, Attribute, Relation (each the mean of its subsets)"),
    "whatsup": (lambda m: m["avg"], "mean of the six subsets' accuracies"),
    "winoground": (lambda m: m["group"], "group score"),
    "spec": (lambda m: m["avg"], "mean of the image-to-text and text-to-image accuracies (each averaged over "
                                 "the six subsets)"),
}


def default_settings(name: str, root: Path) -> dict[str, Any]:
    """Where ``negkit data get`` puts each benchmark's files under ``root``, and where the docs tell users
    to put the images they fetch by hand."""
    r = str(root)
    layouts: dict[str, dict[str, Any]] = {
        "aro": {"relation_file": f"{r}/aro/visual_genome_relation.json",
                "attribution_file": f"{r}/aro/visual_genome_attribution.json", "vg_image_dir": f"{r}/aro/images",
                "coco_file": f"{r}/aro/coco_karpathy_test.json", "coco_image_root": f"{r}/coco",
                "flickr_file": f"{r}/aro/flickr30k_test.json", "flickr_image_root": f"{r}/flickr30k"},
        "crepe": {"data_dir": f"{r}/crepe/prod_hard_negatives", "image_dir": f"{r}/vg"},
        "eqben": {"data_dir": f"{r}/eqben/ann", "image_dir": f"{r}/eqben/images"},
        "imagecode": {"data_file": f"{r}/imagecode/valid_data.json", "image_dir": f"{r}/imagecode/image-sets"},
        "sugarcrepe": {"data_dir": f"{r}/sugarcrepe", "image_dir": f"{r}/coco/val2017"},
        "svo-probes": {"data_file": f"{r}/svo-probes/svo_probes.csv", "image_dir": f"{r}/svo-probes/images"},
        "valse": {"data_dir": f"{r}/valse", "image_dir": f"{r}/valse/images/visual7w",
                  "image_dirs": {"plurals": f"{r}/coco/val2017", "relations": f"{r}/coco/val2017",
                                 "foil-it": f"{r}/coco/val2014", "action-replacement": f"{r}/valse/images/swig",
                                 "actant-swap": f"{r}/valse/images/swig",
                                 "coreference-standard": f"{r}/valse/images/visdial",
                                 "coreference-hard": f"{r}/valse/images/visdial"}},
        "vl-checklist": {"corpus_dir": f"{r}/vl-checklist/corpus", "root": f"{r}/vl-checklist"},
        "whatsup": {"data_dir": f"{r}/whatsup", "image_root": f"{r}/whatsup"},
        "winoground": {"examples_file": f"{r}/winoground/examples.jsonl", "image_dir": f"{r}/winoground/images"},
        "spec": {"data_dir": f"{r}/spec"},
    }
    return layouts[name]


class CompositionalSuite(Evaluator):
    """The eleven benchmarks of FSC-CLIP's compositionality table on one model, each scored by its own
    evaluator (``aro`` ... ``spec``) from the folders ``negkit data get`` fills under ``data_root``.

    Outputs every benchmark's metrics as ``<benchmark>/<key>``, its single number as ``<benchmark>/score``
    and ``comp-avg``: the plain mean of the eleven single numbers (FSC-CLIP's "Comp"). When only some
    benchmarks run (``benchmarks``), the mean is written as ``partial-avg`` instead, so it is never mistaken
    for the published column. Per-item results keep their benchmark's groups (``aro/vg-relation`` ...).

    Parameters:
        data_root: the folder given to ``negkit data get --to``.
        benchmarks: which benchmarks to run (default: all eleven).
        settings: per benchmark, parameters that replace the default layout
            (e.g. ``{aro = {tasks = ["vg-relation"]}}``).
        limit: passed to every benchmark (0 = all items).
        skip_missing: passed to every benchmark; missing images are then counted, never silently dropped.
    """

    name = "compositional-suite"

    def __init__(self, data_root: str = "", benchmarks: list[str] | None = None,
                 settings: dict[str, dict[str, Any]] | None = None, limit: int = 0,
                 skip_missing: bool = False) -> None:
        self.benchmarks = check_choices("benchmarks", benchmarks, tuple(BENCHMARKS), "benchmark")
        unknown = [k for k in (settings or {}) if k not in BENCHMARKS]
        if unknown:
            raise ValueError(f"settings: unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        self.data_root, self.settings = data_root, dict(settings or {})
        self.limit, self.skip_missing = limit, skip_missing
        self.evaluators = {name: self._build(name) for name in self.benchmarks}

    def _build(self, name: str) -> Evaluator:
        params = default_settings(name, Path(self.data_root or ".")) if self.data_root else {}
        params.update(self.settings.get(name, {}))
        params.setdefault("limit", self.limit)
        params.setdefault("skip_missing", self.skip_missing)
        try:
            return BENCHMARKS[name](**params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"settings.{name}: {exc}") from None

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        if not self.data_root and not self.settings:
            raise DataError(f"{self.name}: 'data_root' is not set; give the folder `negkit data get --to` filled")
        out: dict[str, float] = {}
        outer_items = ctx.items
        singles: dict[str, float] = {}
        try:
            for name, evaluator in self.evaluators.items():
                ctx.items = {}
                with ctx.benchmark(name):  # features are cached per benchmark, never across two
                    metrics = evaluator.evaluate(ctx)
                for group, rows in ctx.items.items():
                    outer_items[f"{name}/{group}"] = rows
                out.update({f"{name}/{k}": float(v) for k, v in metrics.items()})
                singles[name] = SINGLE[name][0](metrics)
                out[f"{name}/score"] = singles[name]
        finally:
            ctx.items = outer_items
        mean = float(np.mean(list(singles.values())))
        out["comp-avg" if len(singles) == len(BENCHMARKS) else "partial-avg"] = mean
        out["benchmarks"] = float(len(singles))
        ctx.meta[self.name] = {"comp-avg": "plain mean of the single numbers (FSC-CLIP's Comp column)",
                               "single_numbers": {name: SINGLE[name][1] for name in singles}}
        return out
