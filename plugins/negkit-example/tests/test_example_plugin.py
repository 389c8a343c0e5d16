import torch

from negkit import LossInputs, get_component
from negkit.testing import MinerContract
from negkit_example.loss import PairwiseMargin
from negkit_example.miner import RelationFlip


class TestRelationFlipContract(MinerContract):
    captions = (
        "a red circle to the left of a blue square",
        "a small dog under a large table",
        "a cat above the sofa",
    )

    def make_miner(self):
        return RelationFlip()


def test_flips_keep_case_and_change_one_word():
    negs = RelationFlip().mine(["Left of the tall tree"], k=2, seed=0)[0]
    assert {n.text for n in negs} == {"Right of the tall tree", "Left of the short tree"}


def test_registered_through_the_entry_point():
    assert get_component("miners", "relation-flip") is RelationFlip
    assert get_component("losses", "pairwise-margin") is PairwiseMargin


def test_margin_loss_penalises_close_negatives():
    image = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    far = LossInputs(image, image, -image[:, None, :], torch.ones(4, 1, dtype=torch.bool),
                     torch.full((4, 1), float("nan")), torch.tensor(10.0))
    close = LossInputs(image, image, image[:, None, :], torch.ones(4, 1, dtype=torch.bool),
                       torch.full((4, 1), float("nan")), torch.tensor(10.0))
    loss = PairwiseMargin(margin=0.2)
    assert loss(far)["margin_loss"].item() == 0.0
    assert abs(loss(close)["margin_loss"].item() - 0.2) < 1e-6
    masked = LossInputs(image, image, image[:, None, :], torch.zeros(4, 1, dtype=torch.bool),
                        torch.full((4, 1), float("nan")), torch.tensor(10.0))
    assert loss(masked)["margin_loss"].item() == 0.0
