"""The uint8 transforms training uses: TrivialAugmentWide through PIL against torchvision's tensor kernels."""
import torch
from torchvision.transforms import v2

from foodlib.data import loader
from foodlib.data.transforms import TrivialAugmentPil


def _photo(seed: int = 0, size: int = 224) -> torch.Tensor:
    """A smooth uint8 image laid out channels-last, as the decoder and the crop give it."""
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 16, generator=g), size=(size, size), mode="bilinear")
    return (x * 255).round().to(torch.uint8).contiguous(memory_format=torch.channels_last)[0]


def test_pil_trivial_augment_draws_and_does_what_the_tensor_one_does():
    """Same seed -> same operation and magnitude as v2.TrivialAugmentWide on the tensor, to within a
    level of intensity on average (the kernels differ in rounding); a misaligned draw would not be."""
    x = _photo()
    pil, tensor = TrivialAugmentPil(), v2.TrivialAugmentWide()
    changed, misaligned_far = 0, 0
    for seed in range(60):
        torch.manual_seed(seed)
        a = pil(x)
        torch.manual_seed(seed)
        b = tensor(x)
        torch.manual_seed(seed + 1000)
        other = tensor(x)
        assert a.shape == x.shape and a.dtype == torch.uint8 and a.stride() == x.stride()  # channels-last kept
        assert (a.float() - b.float()).abs().mean() < 1.0, seed
        changed += bool((a != x).any())
        misaligned_far += bool((a.float() - other.float()).abs().mean() >= 1.0)
    assert changed >= 40  # it augments (14 operations, one of them the identity, some at magnitude 0)
    assert misaligned_far >= 30  # and the comparison above would have caught other draws


def test_train_augment_uses_pil_and_collates_channels_last():
    steps = loader.train_augment(64).steps
    assert isinstance(steps[-1], TrivialAugmentPil) and len(loader.train_augment(64, augment=False).steps) == 1
    torch.manual_seed(0)
    batch = loader.collate([(loader.train_augment(64)(_photo(i)), i) for i in range(3)])
    images, labels = batch
    assert images.shape == (3, 3, 64, 64) and images.dtype == torch.uint8
    assert images.is_contiguous(memory_format=torch.channels_last) and labels.tolist() == [0, 1, 2]
