"""Negatives for a careful reader: k = 1 negatives of a seeded sample of captions, dev or held-out.

    python benchmarks/reading_sample.py --part heldout -n 60 [--miner concrete-plant] [--captions DIR]
        [--set max_sibling_pmi=null]

The captions (default: tests/fixtures/sugarcrepe, SugarCrepe's seven files) are split as ``negkit audit``
splits them: the miners get the corpus of the *mining* part (with the image each caption describes, where the
items name it: SugarCrepe's ``filename``). The mining part is split again, by a fixed hash
of each caption's text, into a *dev* half (for developing filters) and a *held-out* half (for measuring
them, never looked at while developing). Prints one JSON line per caption: caption, negative, kind, edits.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sugarcrepe"


def part_of(caption: str) -> str:
    from negkit.seeding import stable_hash

    return "dev" if stable_hash("reading-split", " ".join(caption.split()).lower()) % 2 == 0 else "heldout"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--captions", default=str(DEFAULT))
    ap.add_argument("--part", choices=("dev", "heldout"), default="heldout")
    ap.add_argument("-n", type=int, default=60)
    ap.add_argument("--miner", default="concrete-plant")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], help="a miner parameter, name=value (JSON value)")
    args = ap.parse_args()

    sample, miner = draw(args.captions, args.part, args.n, args.seed, args.miner, dict(_param(p) for p in args.set))
    for caption, negs in zip(sample, miner.mine(sample, k=1, seed=args.seed)):
        neg = negs[0] if negs else None
        print(json.dumps({"caption": caption, "negative": neg.text if neg else None,
                          "kind": neg.kind if neg else None,
                          "edits": [[e.before, e.after] for e in neg.edits] if neg else []}))


def draw(captions_dir: str | Path, part: str, n: int, seed: int, miner_name: str = "concrete-plant",
         params: dict[str, object] | None = None) -> tuple[list[str], object]:
    """A seeded sample of ``n`` distinct captions of ``part``, and the miner with the mining part's corpus."""
    from negkit.data.caption_files import read_caption_groups
    from negkit.mining.corpus import attach_corpus
    from negkit.mining.quality import mining_groups, split_captions
    from negkit.plugins import get_component

    captions, groups = read_caption_groups(captions_dir)
    mining, _ = split_captions(captions)
    pool = sorted({c.strip() for c in mining if part_of(c) == part})
    sample = random.Random(seed).sample(pool, min(n, len(pool)))
    miner = get_component("miners", miner_name)(**(params or {}))
    attach_corpus([miner], mining, None, mining_groups(captions, groups))  # images named by the items
    return sample, miner


def _param(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    return name.strip(), json.loads(value)


if __name__ == "__main__":
    main()
