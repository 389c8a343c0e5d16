"""What the sibling filter (``max_sibling_pmi``) changes when every caption of a folder forms the corpus, as the
mining stage builds it from a training set (docs/miners.md, "Captions of the same image").

    python benchmarks/sibling_changes.py [--captions DIR] [--miner concrete-plant] [-n 40]

Mines each distinct caption (k = 1, seed 0) with the filter off and on, the corpus of all captions with the image
each describes (SugarCrepe's ``filename``); prints the coverage of both, how many negatives changed, and a seeded
sample of ``n`` changes as JSON lines (caption, before, after) for a reader.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sugarcrepe"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--captions", default=str(DEFAULT))
    ap.add_argument("--miner", default="concrete-plant")
    ap.add_argument("-n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from negkit.data.caption_files import read_caption_groups
    from negkit.mining.corpus import corpus_for
    from negkit.plugins import get_component

    captions, groups = read_caption_groups(args.captions)
    _, path = corpus_for(captions, None, groups)
    distinct = sorted({c.strip() for c in captions})
    mined = {}
    for threshold in (None, "default"):
        miner = get_component("miners", args.miner)(**({} if threshold else {"max_sibling_pmi": None}))
        miner.use_corpus(path)
        mined[threshold] = [negs[0].text if negs else None for negs in miner.mine(distinct, k=1, seed=args.seed)]
    off, on = mined[None], mined["default"]
    changed = [(c, a, b) for c, a, b in zip(distinct, off, on) if a != b]
    cover = {name: sum(x is not None for x in negs) / len(distinct) for name, negs in (("off", off), ("on", on))}
    print(json.dumps({"captions": len(distinct), "coverage_off": round(cover["off"], 4),
                      "coverage_on": round(cover["on"], 4), "changed": len(changed),
                      "lost": sum(b is None for _, _, b in changed)}))
    for caption, before, after in random.Random(args.seed).sample(changed, min(args.n, len(changed))):
        print(json.dumps({"caption": caption, "before": before, "after": after}))


if __name__ == "__main__":
    main()
