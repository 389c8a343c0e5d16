"""What the random-swap and concrete-plant miners do to shapes training captions: the miner table of
docs/results.md.

    python scripts/shapes_miners.py > runs/shapes/miners.md
"""

from __future__ import annotations


def miner_diagnostics(n: int = 2000) -> str:
    """What each miner does to ``n`` shapes training captions: how many of its negatives change only filler
    (the concrete words and their order are unchanged, so the caption is still true of the image), and how
    many put only words of the world's vocabulary in (a shape, colour, size or relation word)."""
    from negkit.data.shapes import ShapesWorld
    from negkit.data.shapes.captions import FILLER_WORDS
    from negkit.data.shapes.scene import COLOURS, SHAPES, SIZES
    from negkit.plugins import get_component

    vocab = set(SHAPES) | set(COLOURS) | set(SIZES) | {"left", "right", "above", "below", "over", "under"}

    def concrete(text: str) -> list[str]:
        return [w for w in text.replace(",", "").split() if w not in FILLER_WORDS
                and w not in ("a", "an", "the", "of", "to", "and")]

    captions = ShapesWorld(train_size=n).captions("train")
    lines = [f"| miner | negatives (of {n}) | filler-only edits: still true | new words all in the world's vocabulary |"
             " most frequent new words |", "|---|---|---|---|---|"]
    for name in ("random-swap", "concrete-plant"):
        mined = [(c, negs[0]) for c, negs in zip(captions, get_component("miners", name)().mine(
            captions, k=1, seed=0)) if negs]
        still_true = sum(concrete(neg.text) == concrete(c) for c, neg in mined)
        in_vocab = sum(all(w in vocab for e in neg.edits for w in e.after.split()) for _, neg in mined)
        counts: dict[str, int] = {}
        for _, neg in mined:
            for e in neg.edits:
                counts[e.after] = counts.get(e.after, 0) + 1
        top = ", ".join(w for w, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:8])
        lines.append(f"| {name} | {len(mined)} | {100 * still_true / len(mined):.1f}% | "
                     f"{100 * in_vocab / len(mined):.1f}% | {top} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(miner_diagnostics(), end="")
