"""Why captions get no negative: for each caption a miner leaves uncovered, every editable unit and every
candidate word of both tiers with the first test it fails.

    python benchmarks/uncovered.py --part dev [-n 0] [--miner concrete-plant] [--json]
    python benchmarks/uncovered.py --audit            # the audit's 1,000-caption sample (dev and held-out)

The captions are split as ``benchmarks/reading_sample.py`` splits them (the miners get the corpus of the
audit's mining part). Per caption the *cause* is the furthest stage any candidate of any unit reached:
``no unit`` (no editable word: the tagger, the norms, ``edit_matters``), ``no word`` (WordNet gives no
word that passes the corpus count, Zipf and concreteness windows), ``in caption``, ``gender``, ``slot:<test>``
(never seen in its slot), ``sibling``, ``still true`` (``keeps_false``), ``deferred`` (passed, but the
language model or the fit finds it implausible; dropped in the wider and back-off passes). Prints the
counts, then one line per caption (``--json``: the units and candidates too).
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from functools import partial
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sugarcrepe"
STAGES = ("no unit", "no word", "in caption", "gender", "slot", "sibling", "still true", "deferred")


def slot_name(slot, tokens, unit) -> str:
    if unit.cls == "REL":
        return "rel-object" if slot.noun else "rel-no-noun"
    if unit.cls == "ADJ":
        return "adj-noun"
    if unit.cls == "VERB":
        return "verb-particle"
    if unit.cls == "NUM":
        return "count"
    if getattr(slot, "relation", None):
        return "noun-relation"
    if getattr(slot, "head", None):
        return "noun-governor"
    return "noun-compound/bare"


def diagnose(miner, tokens) -> tuple[str, list[dict]]:
    from negkit.lexicon import wordnet as wn
    from negkit.mining.lexical import (
        CaptionWords,
        SlotTest,
        _sole_gendered,
        corpus_plural,
        count_text,
        edit_matters,
        find_units,
        number_units,
        surface,
    )

    corpus = miner.caption_corpus()
    rep = miner._replacer
    units = find_units(tokens, miner._norms, miner.classes, miner.skip_words)
    kept = [u for u in units if edit_matters(tokens, u, miner.skip_words) and u.score is not None]
    nums = number_units(tokens, miner._norms, miner.skip_words) + \
        number_units(tokens, miner._norms, miner.skip_words, agree=True)
    view = CaptionWords(tokens)
    best, rows = 0, []
    if not kept and not nums:
        return "no unit", [{"units": [u.text for u in units]}]
    for unit in [*kept, *dict.fromkeys(nums)]:
        context = view.context(unit)
        for backoff in (False, True):
            words = rep(unit, context) + rep.wider(unit, context)
            row = {"unit": unit.text, "cls": unit.cls, "backoff": backoff, "words": len(words), "fails": Counter()}
            rows.append(row)
            if not words:
                row["fails"]["no word"] += 1
                best = max(best, 1)
                continue
            slot = SlotTest(corpus, view, tokens, unit, backoff)
            pronoun = view.pronoun_gender(unit) if unit.cls in ("NOUN", "ADJ") else None
            regender = backoff and pronoun is not None and _sole_gendered(tokens, unit)
            siblings = miner.sibling_stats()
            for c in words:
                if c.word in context:
                    stage, best = "in caption", max(best, 2)
                elif pronoun is not None and not regender and wn.gender(c.word) not in (None, pronoun):
                    stage, best = "gender", max(best, 3)
                else:
                    if unit.cls == "NUM":
                        new = count_text(unit, c.word, tokens, partial(corpus_plural, corpus)) if backoff \
                            else count_text(unit, c.word, tokens)
                    else:
                        new = surface(unit, c.word, tokens)
                    if new is None:
                        stage, best = "slot:plural-unseen", max(best, 4)
                    elif not slot(new.lower()):
                        stage, best = "slot:" + slot_name(slot, tokens, unit), max(best, 4)
                    elif siblings is not None and unit.cls != "NUM" and miner._sibling_swap(unit, c.word, siblings):
                        stage, best = "sibling", max(best, 5)
                    elif not rep.keeps_false(unit, c):
                        stage, best = "still true", max(best, 6)
                    else:
                        stage, best = "deferred", max(best, 7)
                        row.setdefault("passed", []).append(c.word)
                row["fails"][stage] += 1
    return STAGES[best], rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--captions", default=str(DEFAULT))
    ap.add_argument("--part", choices=("dev", "heldout"), default="dev")
    ap.add_argument("--audit", action="store_true", help="the audit's sample instead of a reading part")
    ap.add_argument("-n", type=int, default=0, help="captions (0: all of the part)")
    ap.add_argument("--miner", default="concrete-plant")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--set", action="append", default=[], help="a miner parameter, name=value (JSON value)")
    args = ap.parse_args()

    from reading_sample import part_of

    from negkit.data.caption_files import read_caption_groups
    from negkit.mining.audit import sample_captions
    from negkit.mining.corpus import attach_corpus
    from negkit.mining.quality import mining_groups, split_captions
    from negkit.mining.tagged import Token
    from negkit.plugins import get_component

    captions, groups = read_caption_groups(args.captions)
    mining, _ = split_captions(captions)
    if args.audit:
        sample = list(dict.fromkeys(sample_captions(mining, 1000, 0)))
    else:
        pool = sorted({c.strip() for c in mining if part_of(c) == args.part})
        sample = pool if args.n <= 0 else random.Random(0).sample(pool, min(args.n, len(pool)))
    miner = get_component("miners", args.miner)(**{p.split("=", 1)[0]: json.loads(p.split("=", 1)[1])
                                                    for p in args.set})
    attach_corpus([miner], mining, None, mining_groups(captions, groups))
    mined = miner.mine(sample, k=1, seed=0)
    uncovered = [c for c, negs in zip(sample, mined) if not negs]
    print(f"{len(sample)} captions, {len(uncovered)} uncovered ({1 - len(uncovered) / len(sample):.1%} covered)")
    nlp = miner._pipeline()
    causes: Counter = Counter()
    lines = []
    for caption, doc in zip(uncovered, nlp.pipe(uncovered)):
        tokens = [Token(t.text, t.whitespace_, t.lower_, t.tag_, t.pos_) for t in doc]
        cause, rows = diagnose(miner, tokens)
        causes[cause] += 1
        tags = " ".join(f"{t.text}/{t.tag}" for t in tokens)
        lines.append({"caption": caption, "cause": cause, "tags": tags,
                      "rows": [{**r, "fails": dict(r.get("fails", {}))} for r in rows]})
    for cause, n in causes.most_common():
        print(f"{n:4d}  {cause}")
    for line in lines:
        print(json.dumps(line) if args.json else f"{line['cause']:12s} {line['caption']}")


if __name__ == "__main__":
    main()
