"""Negatives for a careful reader: k = 1 negatives of a seeded sample of captions, dev or held-out.

    python benchmarks/reading_sample.py --part heldout -n 60 [--miner concrete-plant] [--captions DIR]

The captions (default: tests/fixtures/sugarcrepe, SugarCrepe's seven files) are split as ``negkit audit``
splits them: the miners get the corpus of the *mining* part. The mining part is split again, by a fixed hash
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
    args = ap.parse_args()

    from negkit.data.caption_files import read_captions
    from negkit.mining.corpus import attach_corpus
    from negkit.mining.quality import split_captions
    from negkit.plugins import get_component

    mining, _ = split_captions(read_captions(args.captions))
    pool = sorted({c.strip() for c in mining if part_of(c) == args.part})
    sample = random.Random(args.seed).sample(pool, min(args.n, len(pool)))
    miner = get_component("miners", args.miner)()
    attach_corpus([miner], mining)
    for caption, negs in zip(sample, miner.mine(sample, k=1, seed=args.seed)):
        neg = negs[0] if negs else None
        print(json.dumps({"caption": caption, "negative": neg.text if neg else None,
                          "kind": neg.kind if neg else None,
                          "edits": [[e.before, e.after] for e in neg.edits] if neg else []}))


if __name__ == "__main__":
    main()
