"""``aro``: Attribution, Relation and Order (Yuksekgonul et al. 2023): VG-Relation, VG-Attribution,
COCO-Order and Flickr30k-Order."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import numpy as np

from negkit.data.sources.common import read_json, require_dir, require_file
from negkit.errors import DataError
from negkit.eval.base import EvalContext, Evaluator, check_choices
from negkit.eval.metrics import pairwise_correct
from negkit.eval.tasks.common import encode_keyed_images, present_images, text_scores
from negkit.seeding import caption_rng

TASKS = ("vg-relation", "vg-attribution", "coco-order", "flickr-order")
VG_FIELDS = ("image_path", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "true_caption", "false_caption")
VG_TIE_RULE = "a tie goes to the false caption (ARO scores [false, true] and takes the argmax)"
ORDER_TIE_RULE = ("a tie goes to the true caption (ARO lists it first and takes the argmax); a shuffle that "
                  "reproduces the caption therefore counts as right")

# The relations ARO leaves out of the VG-Relation macro average (the list published with ARO, whose
# swapped captions are not reliably false).
ARO_EXCLUDED_RELATIONS = (
    "adjusting", "attached to", "between", "bigger than", "biting", "boarding", "brushing", "chewing",
    "cleaning", "climbing", "close to", "coming from", "coming out of", "contain", "crossing", "dragging",
    "draped over", "drinking", "drinking from", "driving", "driving down", "driving on", "eating from",
    "eating in", "enclosing", "exiting", "facing", "filled with", "floating in", "floating on", "flying",
    "flying above", "flying in", "flying over", "flying through", "full of", "going down", "going into",
    "going through", "grazing in", "growing in", "growing on", "guiding", "hanging from", "hanging in",
    "hanging off", "hanging over", "higher than", "holding onto", "hugging", "in between", "jumping off",
    "jumping on", "jumping over", "kept in", "larger than", "leading", "leaning over", "leaving", "licking",
    "longer than", "looking in", "looking into", "looking out", "looking over", "looking through",
    "lying next to", "lying on top of", "making", "mixed with", "mounted on", "moving", "on the back of",
    "on the edge of", "on the front of", "on the other side of", "opening", "painted on", "parked at",
    "parked beside", "parked by", "parked in", "parked in front of", "parked near", "parked next to",
    "perched on", "petting", "piled on", "playing", "playing in", "playing on", "playing with", "pouring",
    "reaching for", "reading", "reflected on", "riding on", "running in", "running on", "running through",
    "seen through", "sitting behind", "sitting beside", "sitting by", "sitting in front of", "sitting near",
    "sitting next to", "sitting under", "skiing down", "skiing on", "sleeping in", "sleeping on",
    "smiling at", "sniffing", "splashing", "sprinkled on", "stacked on", "standing against",
    "standing around", "standing behind", "standing beside", "standing in front of", "standing near",
    "standing next to", "staring at", "stuck in", "surrounding", "swimming in", "swinging", "talking to",
    "topped with", "touching", "traveling down", "traveling on", "tying", "typing on", "underneath",
    "wading in", "waiting for", "walking across", "walking by", "walking down", "walking next to",
    "walking through", "working in", "working on", "worn on", "wrapped around", "wrapped in", "by", "of",
    "near", "next to", "with", "beside", "on the side of", "around",
)

NOUN_TAGS = {"NN", "NNS", "NNP", "NNPS"}
ADJ_TAGS = {"JJ", "JJR", "JJS"}
ORDER_PERTURBATIONS = ("shuffle-nouns-adjs", "shuffle-all-but-nouns-adjs", "shuffle-within-trigrams",
                       "shuffle-trigrams")


def pre_caption(caption: str, max_words: int = 30) -> str:
    """BLIP's caption normalisation, which ARO applies to every Order caption: lower case, some
    punctuation to spaces, whitespace collapsed, cut to ``max_words`` words."""
    text = re.sub(r"([.!\"()*#:;~])", " ", caption.lower())
    words = re.sub(r"\s{2,}", " ", text).strip().split(" ")
    return " ".join(words[:max_words])


def _trigrams(tokens: list[str]) -> list[list[str]]:
    return [tokens[i:i + 3] for i in range(0, len(tokens), 3)]


def order_perturbations(tokens: list[str], tags: list[str], caption: str, seed: int) -> list[str]:
    """ARO's four word-order perturbations of one caption, each from its own seeded random stream:
    shuffle the nouns among themselves and the adjectives among themselves; shuffle every other word;
    shuffle the words inside each trigram; shuffle the trigrams."""
    out = []
    for name in ORDER_PERTURBATIONS:
        rng = caption_rng(caption, seed, "aro-order", name)
        words = list(tokens)
        if name == "shuffle-nouns-adjs":
            for group in (NOUN_TAGS, ADJ_TAGS):
                idx = [i for i, t in enumerate(tags) if t in group]
                vals = [words[i] for i in idx]
                rng.shuffle(vals)
                for i, v in zip(idx, vals):
                    words[i] = v
        elif name == "shuffle-all-but-nouns-adjs":
            idx = [i for i, t in enumerate(tags) if t not in NOUN_TAGS | ADJ_TAGS]
            vals = [words[i] for i in idx]
            rng.shuffle(vals)
            for i, v in zip(idx, vals):
                words[i] = v
        elif name == "shuffle-within-trigrams":
            grams = _trigrams(words)
            for g in grams:
                rng.shuffle(g)
            words = [w for g in grams for w in g]
        else:
            grams = _trigrams(words)
            rng.shuffle(grams)
            words = [w for g in grams for w in g]
        out.append(" ".join(words))
    return out


class ARO(Evaluator):
    """ARO's four tasks, each optional (a task runs when its files are set and it is in ``tasks``).

    VG-Relation and VG-Attribution: the image is cropped to the item's box (``bbox_x/y/w/h``) and scored
    against ``[false_caption, true_caption]``; an item is right only when the true caption scores strictly
    higher (a tie goes to the false caption). VG-Relation's headline is the macro average over relations
    without ARO's symmetric ones (``exclude_relations``); VG-Attribution's the macro average over attribute
    pairs with at least ``min_attribute_items`` items. Both also give the micro average over all items.

    COCO-Order and Flickr30k-Order are built at run time from the Karpathy test captions: each caption
    (normalised as ARO does) against four shuffles of it (nouns and adjectives, everything else, within
    trigrams, trigrams), drawn from per-caption random streams under ``order_seed`` (recorded in the output
    and ``ctx.meta``). Tokens and POS tags come from spaCy. Right when the true caption scores highest;
    as in ARO, a tie goes to the true caption.

    Outputs (per task ``<task>/...``): ``macro-acc``, ``micro-acc``, ``n``, ``groups`` (relations or
    attribute pairs in the macro) for the VG tasks; ``acc``, ``n``, ``seed`` for the Order tasks; ``avg``:
    the mean of the task headlines that ran.

    Parameters:
        relation_file: ``visual_genome_relation.json``.
        attribution_file: ``visual_genome_attribution.json``.
        vg_image_dir: the folder of ARO's Visual Genome images (``image_path`` is relative to it).
        coco_file: the COCO Karpathy test captions (BLIP's ``coco_karpathy_test.json`` or
            ``dataset_coco.json``).
        coco_image_root: the COCO root the file's image paths are relative to (holding ``val2014/``).
        flickr_file: the Flickr30k Karpathy test captions (``flickr30k_test.json`` or
            ``dataset_flickr30k.json``).
        flickr_image_root: the folder the Flickr file's image paths are relative to.
        tasks: which tasks to run (default: all four; tasks without files are an error).
        exclude_relations: relations left out of the VG-Relation macro (default: ARO's list).
        min_attribute_items: attribute pairs with fewer items are left out of the VG-Attribution macro.
        order_seed: seed of the Order shuffles.
        max_words: captions are cut to this many words (ARO: 30).
        limit: score only the first ``limit`` items of each task (0 = all); ``<task>/n`` shows it.
        skip_missing: score the items whose images exist and report ``<task>/missing-images``.
        spacy_model: the spaCy pipeline for the Order tasks' POS tags.
    """

    name = "aro"

    def __init__(self, relation_file: str = "", attribution_file: str = "", vg_image_dir: str = "",
                 coco_file: str = "", coco_image_root: str = "", flickr_file: str = "",
                 flickr_image_root: str = "", tasks: list[str] | None = None,
                 exclude_relations: list[str] | None = None, min_attribute_items: int = 25,
                 order_seed: int = 0, max_words: int = 30, limit: int = 0, skip_missing: bool = False,
                 spacy_model: str = "en_core_web_sm") -> None:
        chosen = check_choices("tasks", tasks, TASKS, "task")
        if min_attribute_items < 1 or max_words < 1 or limit < 0:
            raise ValueError("min_attribute_items and max_words must be >= 1 and limit >= 0")
        self.relation_file, self.attribution_file, self.vg_image_dir = relation_file, attribution_file, vg_image_dir
        self.coco_file, self.coco_image_root = coco_file, coco_image_root
        self.flickr_file, self.flickr_image_root = flickr_file, flickr_image_root
        self.tasks = chosen
        self.exclude_relations = tuple(ARO_EXCLUDED_RELATIONS if exclude_relations is None else exclude_relations)
        self.min_attribute_items, self.order_seed, self.max_words = min_attribute_items, order_seed, max_words
        self.limit, self.skip_missing, self.spacy_model = limit, skip_missing, spacy_model

    # -- VG tasks -----------------------------------------------------------------------------------

    def load_vg(self, task: str) -> list[dict[str, Any]]:
        key = "relation_file" if task == "vg-relation" else "attribution_file"
        group_field = "relation_name" if task == "vg-relation" else "attributes"
        other = "attributes" if task == "vg-relation" else "relation_name"
        expected = f"ARO's visual_genome_{'relation' if task == 'vg-relation' else 'attribution'}.json"
        path = require_file(getattr(self, key), key=key, expected=expected, source=self.name)
        data = read_json(path, source=self.name, key=key)
        if not isinstance(data, list) or not data:
            raise DataError(f"{self.name}: '{key}' = {str(path)!r}: expected a non-empty list of items")
        first = data[0] if isinstance(data[0], dict) else {}
        if group_field not in first and other in first:
            raise DataError(f"{self.name}: '{key}' = {str(path)!r} holds {other!r} items: it is the "
                            f"{'attribution' if task == 'vg-relation' else 'relation'} file, not {expected}")
        for i, item in enumerate(data):
            if not isinstance(item, dict) or any(f not in item for f in (*VG_FIELDS, group_field)):
                raise DataError(f"{self.name}: '{key}' = {str(path)!r}: item {i} lacks one of "
                                f"{', '.join((*VG_FIELDS, group_field))}")
            if task == "vg-attribution" and (not isinstance(item["attributes"], list) or len(item["attributes"]) != 2):
                raise DataError(f"{self.name}: '{key}' = {str(path)!r}: item {i}: 'attributes' must be a pair")
        return data[: self.limit] if self.limit else data

    def _score_vg(self, ctx: EvalContext, task: str, out: dict[str, float], meta: dict[str, Any]) -> float:
        from PIL import Image

        items = self.load_vg(task)
        root = require_dir(self.vg_image_dir, key="vg_image_dir", source=self.name,
                           expected="the folder of ARO's Visual Genome images")
        paths = [root / it["image_path"] for it in items]
        mask, n_missing = present_images(self.name, paths, key="vg_image_dir", skip_missing=self.skip_missing,
                                         where=f"the {task} file")
        item_ids = [i for i, ok in enumerate(mask) if ok]
        items = [it for it, ok in zip(items, mask) if ok]
        keys = [(str(root / it["image_path"]), *(float(it[f]) for f in ("bbox_x", "bbox_y", "bbox_w", "bbox_h")))
                for it in items]

        @functools.lru_cache(maxsize=16)  # items of one image sit together: decode it once for all its boxes
        def whole(path: str) -> Any:
            try:
                with Image.open(path) as im:
                    return im.convert("RGB")
            except OSError as exc:
                raise DataError(f"{self.name}: image {path} cannot be decoded ({exc})") from None

        def crop(key: Any) -> Any:
            path, x, y, w, h = key
            return whole(path).crop((x, y, x + w, y + h))

        feats = encode_keyed_images(ctx, keys, crop)
        true = text_scores(ctx, feats, [it["true_caption"] for it in items])
        false = text_scores(ctx, feats, [it["false_caption"] for it in items])
        correct = pairwise_correct(true, false)  # strict: ties go to the false caption
        ctx.record_items(task, [f"{i}" for i in item_ids], correct)
        if task == "vg-relation":
            groups = np.array([it["relation_name"] for it in items])
            excluded = set(self.exclude_relations)
            names = [g for g in np.unique(groups) if g not in excluded]
        else:
            groups = np.array([f"{it['attributes'][0]}_{it['attributes'][1]}" for it in items])
            names, counts = np.unique(groups, return_counts=True)
            names = [g for g, c in zip(names, counts) if c >= self.min_attribute_items]
        per_group = {g: float(correct[groups == g].mean()) for g in names}
        macro = float(np.mean(list(per_group.values()))) if per_group else float("nan")
        out[f"{task}/macro-acc"] = macro
        out[f"{task}/micro-acc"] = float(correct.mean()) if len(correct) else float("nan")
        out[f"{task}/n"] = float(len(items))
        out[f"{task}/groups"] = float(len(per_group))
        out[f"{task}/ties"] = float((true == false).sum())
        if self.skip_missing:
            out[f"{task}/missing-images"] = float(n_missing)
        meta[task] = {"tie_rule": VG_TIE_RULE,
                      "crop": "image cropped to (bbox_x, bbox_y, bbox_x+bbox_w, bbox_y+bbox_h)",
                      "macro_over": (f"relations not in exclude_relations ({len(self.exclude_relations)} excluded)"
                                     if task == "vg-relation" else
                                     f"attribute pairs with >= {self.min_attribute_items} items"),
                      "per_group": per_group, "missing_images": n_missing}
        return macro

    # -- Order tasks --------------------------------------------------------------------------------

    def order_items(self, task: str) -> tuple[list[dict[str, Any]], Path]:
        """The Order test cases: ``{"image", "options": [true, 4 shuffles]}``, built now from the captions."""
        from negkit.data.sources.coco import CocoCaptions
        from negkit.lexicon.spacy_pipeline import load_pipeline

        prefix = "coco" if task == "coco-order" else "flickr"
        file_key, root_key = f"{prefix}_file", f"{prefix}_image_root"
        path = require_file(getattr(self, file_key), key=file_key, source=self.name,
                            expected="the Karpathy test captions (BLIP's *_test.json or Karpathy's dataset_*.json)")
        root = require_dir(getattr(self, root_key), key=root_key, source=self.name,
                           expected="the folder the caption file's image paths are relative to")
        captions = CocoCaptions(annotations={"test": str(path)}, image_root=str(root),
                                karpathy_splits={"test": ["test"]}, check_images=False)
        records = captions.records("test")
        rows = [records[i] for i in range(len(records))]
        if self.limit:
            rows = rows[: self.limit]
        nlp = load_pipeline(self.spacy_model)
        items = []
        for row, doc in zip(rows, nlp.pipe((r["caption"] for r in rows), batch_size=256)):
            tokens = [t.text for t in doc]
            tags = [t.tag_ for t in doc]
            shuffles = order_perturbations(tokens, tags, row["caption"], self.order_seed)
            options = [pre_caption(row["caption"], self.max_words)] + [pre_caption(s, self.max_words) for s in shuffles]
            items.append({"image": Path(row["image"]), "options": options})
        return items, root

    def _score_order(self, ctx: EvalContext, task: str, out: dict[str, float], meta: dict[str, Any]) -> float:
        items, _ = self.order_items(task)
        key = "coco_image_root" if task == "coco-order" else "flickr_image_root"
        mask, n_missing = present_images(self.name, [it["image"] for it in items], key=key,
                                         skip_missing=self.skip_missing, where=f"the {task} captions")
        item_ids = [i for i, ok in enumerate(mask) if ok]
        items = [it for it, ok in zip(items, mask) if ok]
        image_feats = ctx.encode_images([it["image"] for it in items]).numpy()
        scores = np.stack([text_scores(ctx, image_feats, [it["options"][j] for it in items]) for j in range(5)],
                          axis=1) if items else np.zeros((0, 5))
        # ARO: argmax over [true, 4 shuffles]; numpy's argmax takes the first maximum, so ties go to the true one
        correct = scores.argmax(axis=1) == 0 if len(scores) else np.zeros(0, dtype=bool)
        ctx.record_items(task, item_ids, correct)
        acc = float(correct.mean()) if len(correct) else float("nan")
        out[f"{task}/acc"] = acc
        out[f"{task}/n"] = float(len(items))
        out[f"{task}/seed"] = float(self.order_seed)
        out[f"{task}/identical-shuffles"] = float(sum(o == it["options"][0] for it in items for o in it["options"][1:]))
        if self.skip_missing:
            out[f"{task}/missing-images"] = float(n_missing)
        meta[task] = {"tie_rule": ORDER_TIE_RULE, "seed": self.order_seed, "perturbations": list(ORDER_PERTURBATIONS),
                      "max_words": self.max_words, "missing_images": n_missing}
        return acc

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        out: dict[str, float] = {}
        meta: dict[str, Any] = {}
        headlines = []
        for task in self.tasks:
            score = self._score_vg if task.startswith("vg-") else self._score_order
            headlines.append(score(ctx, task, out, meta))
        out["avg"] = float(np.mean(headlines))
        ctx.meta[self.name] = meta
        return out
