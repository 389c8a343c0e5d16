"""``zero-shot``: classify images by their similarity to prompts built from class names."""

from __future__ import annotations

from typing import Any

import numpy as np

from negkit.eval.base import EvalContext
from negkit.eval.general import SourceEvaluator
from negkit.eval.labels import read_labels

DEFAULT_TEMPLATES = ("a photo of a {}.",)


class ZeroShot(SourceEvaluator):
    """Zero-shot classification of the images of a split.

    Each class is the normalised mean of its prompts' text embeddings (``templates`` with ``{}`` replaced by
    the class name, as in CLIP). Records whose ``label`` is None are skipped. A single label (class name or
    index) gives ``<label>/acc`` (top-1) and ``<label>/balanced-acc`` (mean per-class recall); a list of
    labels (multi-label) gives ``<label>/mAP`` over the classes that occur. Single-label runs record per
    image whether it was classified right (items of group ``<label>``).

    Parameters:
        label: the record key holding the class (e.g. "shape" on shapes, "label" on an image folder).
        split: the split to classify.
        limit: records to read (a seeded sample; 0 = all).
        class_names: the classes, in label-index order; default: the source's ``class_names(label)``, else
            the sorted distinct label strings.
        templates: prompt templates with one ``{}``; default: the source's ``templates(label)``, else
            "a photo of a {}.".
        source: a registered dataset name to evaluate on; default: the run's data source.
        data: constructor arguments of ``source``.
        seed: seed of the record sample.
    """

    name = "zero-shot"

    def __init__(self, label: str = "label", split: str = "test", limit: int = 0,
                 class_names: list[str] | None = None, templates: list[str] | None = None,
                 source: str | None = None, data: dict[str, Any] | None = None, seed: int = 0) -> None:
        super().__init__(source=source, data=data, split=split, limit=limit, seed=seed)
        if templates is not None:
            if not templates:
                raise ValueError("templates: empty; give at least one, e.g. [\"a photo of a {}.\"]")
            bad = [t for t in templates if t.count("{}") != 1]
            if bad:
                raise ValueError(f"templates: {bad[0]!r} must contain exactly one {{}} for the class name")
        if class_names is not None and len(class_names) < 2:
            raise ValueError("class_names: need at least 2 classes")
        self.label, self.class_names, self.templates = label, class_names, templates

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        source = self.data_source(ctx)
        records, rows = self.rows(source, self.split, self.limit)
        data = read_labels(records, rows, self.label, source, self.class_names, self.name)
        templates = self.templates or _source_templates(source, self.label) or list(DEFAULT_TEMPLATES)
        prompts = [t.format(c) for c in data.names for t in templates]
        text = ctx.encode_texts(prompts).numpy().reshape(len(data.names), len(templates), -1).mean(axis=1)
        text /= np.linalg.norm(text, axis=1, keepdims=True)
        scores = ctx.encode_images(data.images).numpy() @ text.T
        out = data.score(scores, self.label)
        data.record_correct(ctx, scores, self.label)
        ctx.meta[self.name + "/" + self.label] = {"split": self.split, "templates": templates,
                                                  "classes": data.names, "seed": self.seed}
        return out


def _source_templates(source: Any, label: str) -> list[str] | None:
    method = getattr(source, "templates", None)
    if callable(method):
        try:
            return list(method(label))
        except (KeyError, ValueError):
            return None
    return None
