from negkit.mining.ngram_shuffle import NgramShuffle
from negkit.testing import MinerContract


class TestNgramShuffleContract(MinerContract):
    def make_miner(self):
        return NgramShuffle(n=2)


class TestUnigramShuffleContract(MinerContract):
    def make_miner(self):
        return NgramShuffle(n=1)


def test_keeps_the_words_and_changes_the_order():
    caption = "a red circle to the left of a blue square"
    negs = NgramShuffle(n=2).mine([caption], k=3, seed=1)[0]
    assert len(negs) == 3
    for neg in negs:
        assert sorted(neg.text.split()) == sorted(caption.split())
        assert neg.text != caption
        assert neg.kind == "shuffle-ngram"
        assert neg.edits


def test_bigrams_stay_together():
    caption = "w0 w1 w2 w3 w4 w5"
    for neg in NgramShuffle(n=2).mine([caption], k=3, seed=0)[0]:
        words = neg.text.split()
        pairs = {tuple(words[i:i + 2]) for i in range(0, len(words), 2)}
        assert pairs == {("w0", "w1"), ("w2", "w3"), ("w4", "w5")}


def test_seed_changes_the_negatives():
    caption = "one two three four five six seven eight"
    outs = {NgramShuffle(n=1).mine([caption], k=1, seed=s)[0][0].text for s in range(6)}
    assert len(outs) > 1


def test_single_chunk_gives_nothing():
    assert NgramShuffle(n=3).mine(["a red dog"], k=2, seed=0) == [[]]
