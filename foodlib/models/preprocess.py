"""The input a model expects, and the transforms that make it from the cached uint8 images.

Weights and their preprocessing travel together: `foodlib.models.load` returns
a `Preprocess` read off the checkpoint (a Hugging Face processor config, or the
transform `clip.load` returns), never retyped by hand.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
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

    def train(self, augment: bool = True):
        """RandomResizedCrop + flip (+ TrivialAugment when `augment`), then normalise."""
        return loader.train_transform(self.image_size, self.mean, self.std, augment=augment)

    def eval(self):
        """uint8 (3, H, W) -> normalised float (3, S, S): resize, centre crop, normalise."""
        if self.interpolation == "bilinear":
            return loader.eval_transform(self.image_size, self.mean, self.std, self.crop_ratio)
        return v2.Compose([
            v2.Resize(round(self.image_size / self.crop_ratio), interpolation=InterpolationMode(self.interpolation),
                      antialias=True),
            v2.CenterCrop(self.image_size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(self.mean, self.std),
        ])

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
