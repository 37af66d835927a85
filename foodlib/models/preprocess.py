"""The input a model expects, and the transforms that make it from the cached uint8 images.

Weights and their preprocessing travel together: `foodlib.models.load` returns
a `Preprocess` read off the checkpoint (a Hugging Face processor config, or the
transform `clip.load` returns), never retyped by hand.
"""
from __future__ import annotations

from dataclasses import dataclass

from torchvision.transforms import InterpolationMode, v2

from foodlib.data import loader


@dataclass(frozen=True)
class Preprocess:
    """Square input side, normalisation, and how the eval crop is made.

    `crop_ratio`: the eval transform resizes the short side to
    image_size / crop_ratio and centre-crops image_size (0.875: the usual
    ImageNet evaluation, used for the fine-tuned models; 1.0: CLIP's own
    resize-then-crop). `interpolation`: "bilinear" takes foodlib's fast uint8
    path; "bicubic" (CLIP's transform) goes through torchvision's.
    """

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    crop_ratio: float = loader.EVAL_CROP_RATIO

    def normalize(self) -> loader.Normalize:
        """uint8 images or batches -> normalised float, on whatever device they are (one fused step)."""
        return loader.Normalize(self.mean, self.std)

    def train_uint8(self, augment: bool = True):
        """uint8 -> uint8 (3, S, S): RandomResizedCrop + flip (+ TrivialAugment when `augment`)."""
        return loader.train_augment(self.image_size, augment=augment)

    def eval_uint8(self):
        """uint8 (3, H, W) -> uint8 (3, S, S): resize the short side to S / crop_ratio, centre crop."""
        if self.interpolation == "bilinear":
            return loader.eval_resize(self.image_size, self.crop_ratio)
        return v2.Compose([
            v2.Resize(round(self.image_size / self.crop_ratio), interpolation=InterpolationMode(self.interpolation),
                      antialias=True),
            v2.CenterCrop(self.image_size),
        ])

    def eval(self):
        """Per image, to normalised float: `eval_uint8`, then normalise (what notebook 06 feeds its maps)."""
        return loader.Chain(self.eval_uint8(), self.normalize())

    @classmethod
    def from_torchvision(cls, transform) -> "Preprocess":
        """Read a Compose of Resize, CenterCrop and Normalize (e.g. what `clip.load` returns)."""
        steps = {type(t).__name__: t for t in getattr(transform, "transforms", [])}
        missing = [n for n in ("Resize", "CenterCrop", "Normalize") if n not in steps]
        if missing:
            raise ValueError(f"cannot read a Preprocess from {transform!r}: it has no {', '.join(missing)}")
        resize, crop, norm = steps["Resize"], steps["CenterCrop"], steps["Normalize"]
        side = resize.size if isinstance(resize.size, int) else min(resize.size)
        crop_side = crop.size if isinstance(crop.size, int) else crop.size[0]
        return cls(int(crop_side), tuple(map(float, norm.mean)), tuple(map(float, norm.std)),
                   resize.interpolation.value, crop_side / side)
