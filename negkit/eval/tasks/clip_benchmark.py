"""``clip-benchmark``: zero-shot classification and retrieval on the datasets of the ``clip-benchmark`` package
(LAION's CLIP_benchmark), with its dataset builders, class names and prompt templates.

negkit scores the datasets with its own batched encoders (each image and prompt encoded once), so any
negkit evaluation context works; the datasets, class names and the 80 OpenAI ImageNet templates are the
package's. It is an optional dependency: ``pip install negkit[general]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from negkit.errors import DataError, ResourceMissingError
from negkit.eval.base import EvalContext, Evaluator
from negkit.eval.metrics import balanced_accuracy, recall_hits
from negkit.eval.tasks.common import mean_or_nan

# The general suite: FSC-CLIP's "ZS" column averages ELEVATER's 21 classification sets (vl_compo); these are
# the clip-benchmark names of the sets it ships builders for, plus COCO and Flickr30k retrieval.
GENERAL_DATASETS = ("imagenet1k", "cifar10", "cifar100", "caltech101", "cars", "country211", "dtd", "eurosat",
                    "fer2013", "fgvc_aircraft", "flowers", "food101", "gtsrb", "mnist", "pets", "renderedsst2",
                    "resisc45", "voc2007", "pcam", "mscoco_captions", "flickr30k")


def require_clip_benchmark() -> Any:
    try:
        from clip_benchmark.datasets import builder
    except ImportError:
        raise ResourceMissingError("clip-benchmark: the clip-benchmark package is not installed; "
                                   "pip install 'negkit[general]' (or pip install clip-benchmark)") from None
    return builder


def prompts_for(classes: list[str], templates: list[str] | dict[str, list[str]]) -> list[list[str]]:
    """Per class, its prompts: every template with ``{c}`` replaced, or the class's own prompts (CuPL)."""
    if isinstance(templates, dict):
        return [list(templates[c]) for c in classes]
    return [[t.format(c=c) for t in templates] for c in classes]


def class_embeddings(ctx: EvalContext, prompts: list[list[str]]) -> np.ndarray:
    """One unit vector per class: the normalised mean of its normalised prompt embeddings (CLIP's recipe,
    as clip-benchmark's ``zero_shot_classifier``); every prompt is encoded once, in one pass."""
    flat = [p for ps in prompts for p in ps]
    feats = ctx.encode_texts(flat).numpy()
    out, start = [], 0
    for ps in prompts:
        v = feats[start:start + len(ps)].mean(axis=0)
        out.append(v / np.linalg.norm(v))
        start += len(ps)
    return np.stack(out)


class ClipBenchmark(Evaluator):
    """Zero-shot classification (top-1, top-5, mean per-class recall) and image-text retrieval (recall@1/5/10
    both ways) on clip-benchmark datasets.

    The task of each dataset is clip-benchmark's default (``get_dataset_default_task``: retrieval for COCO and
    Flickr, classification for the rest). Outputs ``<dataset>/acc1``, ``<dataset>/acc5``,
    ``<dataset>/mean-per-class-recall`` and ``<dataset>/n`` for classification; ``<dataset>/image-to-text/r@k``
    and ``<dataset>/text-to-image/r@k`` for retrieval; ``zero-shot/avg`` (mean top-1 over the classification
    sets) and ``retrieval/avg-r1`` (mean R@1 over both directions of the retrieval sets).

    negkit never lets clip-benchmark download: each dataset's folder must exist (the package's builders
    fetch missing data with shell commands otherwise).

    Parameters:
        datasets: clip-benchmark dataset names (default: the general suite's, ``GENERAL_DATASETS``).
        dataset_root: the folder of the datasets: ``<dataset_root>/<name>`` per dataset, or a pattern with
            ``{dataset}`` as in clip-benchmark's ``--dataset_root``.
        split: the split to score (``test``).
        annotation_files: per retrieval dataset, its caption file (clip-benchmark's ``annotation_file``).
        custom_classname_file / custom_template_file: clip-benchmark's JSON overrides.
        language: the class-name and template language (``en``).
        limit: score only the first ``limit`` images of each dataset (0 = all).
    """

    name = "clip-benchmark"

    def __init__(self, datasets: list[str] | None = None, dataset_root: str = "", split: str = "test",
                 annotation_files: dict[str, str] | None = None, custom_classname_file: str = "",
                 custom_template_file: str = "", language: str = "en", limit: int = 0) -> None:
        self.datasets = list(dict.fromkeys(datasets if datasets is not None else GENERAL_DATASETS))
        if not self.datasets:
            raise ValueError("datasets: empty")
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        self.dataset_root, self.split, self.language, self.limit = dataset_root, split, language, limit
        self.annotation_files = dict(annotation_files or {})
        self.custom_classname_file, self.custom_template_file = custom_classname_file, custom_template_file

    def root_of(self, dataset: str) -> Path:
        if not self.dataset_root:
            raise DataError(f"{self.name}: 'dataset_root' is not set; give the folder holding {dataset}/")
        root = (Path(self.dataset_root.replace("{dataset}", dataset)) if "{dataset}" in self.dataset_root
                else Path(self.dataset_root) / dataset)
        if not root.is_dir():
            raise DataError(f"{self.name}: no folder {root} for dataset {dataset!r} under 'dataset_root'; fetch it "
                            f"as clip-benchmark documents (negkit never lets it download)")
        return root

    def build(self, dataset: str) -> tuple[Any, str]:
        builder = require_clip_benchmark()
        task = builder.get_dataset_default_task(dataset)
        root = self.root_of(dataset)
        annotation = self.annotation_files.get(dataset)
        if task == "zeroshot_retrieval" and not annotation:
            raise DataError(f"{self.name}: annotation_files.{dataset} is not set; give the Karpathy {self.split} "
                            f"caption file clip-benchmark uses for {dataset}")
        if annotation and not Path(annotation).is_file():
            raise DataError(f"{self.name}: annotation_files.{dataset} = {annotation!r} does not exist")
        try:
            ds = builder.build_dataset(dataset, root=str(root), transform=None, split=self.split, download=False,
                                       annotation_file=annotation, language=self.language, task=task,
                                       custom_classname_file=self.custom_classname_file or None,
                                       custom_template_file=self.custom_template_file or None)
        except (ValueError, AssertionError, FileNotFoundError, RuntimeError) as exc:
            raise DataError(f"{self.name}: dataset {dataset!r} under {root}: {exc}") from None
        return ds, task

    def _indices(self, ds: Any) -> range:
        return range(min(len(ds), self.limit) if self.limit else len(ds))

    def _classify(self, ctx: EvalContext, dataset: str, ds: Any, out: dict[str, float]) -> float:
        classes = list(ds.classes)
        weights = class_embeddings(ctx, prompts_for(classes, ds.templates))
        labels, feats = [], []
        chunk = max(ctx.batch_size * 4, 1)
        idx = list(self._indices(ds))
        for start in range(0, len(idx), chunk):
            batch = [ds[i] for i in idx[start:start + chunk]]
            labels += [int(y) for _, y in batch]
            feats.append(ctx.encode_images([im for im, _ in batch]).numpy())
        image_feats = np.concatenate(feats) if feats else np.zeros((0, weights.shape[1]))
        logits = image_feats @ weights.T
        y = np.asarray(labels)
        top5 = np.argsort(-logits, axis=1, kind="stable")[:, :5] if len(y) else np.zeros((0, 5), int)
        pred = top5[:, 0] if len(y) else np.zeros(0, int)
        correct = pred == y
        ctx.record_items(f"{dataset}/acc1", list(idx), correct)
        out[f"{dataset}/acc1"] = mean_or_nan(correct)
        out[f"{dataset}/acc5"] = mean_or_nan((top5 == y[:, None]).any(axis=1))
        out[f"{dataset}/mean-per-class-recall"] = balanced_accuracy(y, pred)
        out[f"{dataset}/n"] = float(len(y))
        return out[f"{dataset}/acc1"]

    def _retrieve(self, ctx: EvalContext, dataset: str, ds: Any, out: dict[str, float]) -> list[float]:
        images, captions = [], []
        for i in self._indices(ds):
            image, texts = ds[i]
            images.append(image)
            captions.append([str(t) for t in texts])
        image_feats = ctx.encode_images(images).numpy()
        text_feats = ctx.encode_texts([t for ts in captions for t in ts]).numpy()
        owner = np.array([i for i, ts in enumerate(captions) for _ in ts])
        sim = text_feats @ image_feats.T  # [texts, images]
        positives = owner[:, None] == np.arange(len(images))[None, :]
        text_ids = [f"{i}/{j}" for i, ts in enumerate(captions) for j in range(len(ts))]
        r1 = []
        for direction, s, p, ids in (("text-to-image", sim, positives, text_ids),
                                     ("image-to-text", sim.T, positives.T, [str(i) for i in range(len(images))])):
            kept, hits = recall_hits(s, p)
            for k in (1, 5, 10):
                out[f"{dataset}/{direction}/r@{k}"] = mean_or_nan(hits[k])
            ctx.record_items(f"{dataset}/{direction}/r@1", [ids[i] for i in kept], hits[1])
            r1.append(out[f"{dataset}/{direction}/r@1"])
        out[f"{dataset}/n"] = float(len(images))
        return r1

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        out: dict[str, float] = {}
        top1, r1 = [], []
        tasks = {}
        for dataset in self.datasets:
            ds, task = self.build(dataset)
            tasks[dataset] = task
            if task == "zeroshot_classification":
                top1.append(self._classify(ctx, dataset, ds, out))
            elif task == "zeroshot_retrieval":
                r1 += self._retrieve(ctx, dataset, ds, out)
            else:
                raise DataError(f"{self.name}: dataset {dataset!r} is a {task} task; negkit scores those with its "
                                f"own evaluators (sugarcrepe, winoground)")
        if top1:
            out["zero-shot/avg"] = float(np.mean(top1))
        if r1:
            out["retrieval/avg-r1"] = float(np.mean(r1))
        import importlib.metadata as md

        ctx.meta[self.name] = {"package": f"clip-benchmark {md.version('clip-benchmark')}", "tasks": tasks,
                               "classifier": "mean of normalised prompt embeddings per class, normalised",
                               "retrieval_ties": "pessimistic (negkit.eval.metrics.recall_at_k)",
                               "split": self.split, "limit": self.limit}
        return out
