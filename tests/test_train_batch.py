"""TrainDataset's per-sample augmentation seed: the same images as torch.manual_seed, no side effects."""

import torch
from PIL import Image
from torchvision import transforms

from negkit.train.batch import NegativeTable, TrainDataset, sample_seed, seeded_transform

AUGMENT = transforms.Compose([transforms.RandomResizedCrop(16, scale=(0.5, 1.0)), transforms.ToTensor()])


def _image(i: int) -> Image.Image:
    g = torch.Generator().manual_seed(i)
    return Image.fromarray((torch.rand(24, 24, 3, generator=g) * 255).to(torch.uint8).numpy())


def _manual_seed_transform(image, seed):  # how TrainDataset seeded a sample before seeded_transform
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AUGMENT(image)


def test_seeded_transform_draws_what_manual_seed_draws():
    for i in range(5):
        seed = sample_seed(7, 1, i)
        assert torch.equal(seeded_transform(AUGMENT, _image(i), seed), _manual_seed_transform(_image(i), seed))
    assert not torch.equal(seeded_transform(AUGMENT, _image(0), 1), seeded_transform(AUGMENT, _image(0), 2))


def test_seeded_transform_leaves_the_global_stream_alone():
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    seeded_transform(AUGMENT, _image(0), 11)
    assert torch.equal(torch.rand(4), expected)


def test_seeded_transform_restores_the_state_when_the_transform_fails():
    def broken(image):
        torch.rand(1)
        raise ValueError("bad image")

    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    try:
        seeded_transform(broken, _image(0), 9)
    except ValueError:
        pass
    assert torch.equal(torch.rand(2), expected)


def test_a_sample_is_the_same_whenever_it_is_read():
    records = [{"caption": f"caption {i}", "image": _image(i)} for i in range(4)]
    data = TrainDataset(records, NegativeTable.empty(4), AUGMENT, seed=0)
    first = data[(1, 2)]["image"]
    data[(0, 3)]
    assert torch.equal(data[(1, 2)]["image"], first)
    assert torch.equal(first, _manual_seed_transform(_image(2), sample_seed(0, 1, 2)))
