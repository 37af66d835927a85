"""The input a model expects, read off the checkpoint, and the transforms that make it.

Weights and their preprocessing travel together: `foodlib.models.load` returns
a `Preprocess` read off the checkpoint, never retyped by hand. Evaluation follows
each model's own published protocol, on the source image decoded to RGB:

- a Hugging Face checkpoint: its image processor (`from_processor`), the way
  transformers' torchvision backend runs it: the uint8 image resized with
  `torchvision.transforms.v2.functional.resize` (antialiased) straight to
  height x width (`resize="square"`, what ViTImageProcessor does) or by its
  shortest edge, centre-cropped where the processor says so, rescaled and
  normalised;
- CLIP: the transform `clip.load` returns (`from_torchvision`), on the PIL image:
  Resize(n_px, bicubic) of the short side, CenterCrop(n_px), ToTensor, Normalize.

`eval_uint8()` gives the uint8 (3, S, S) input before normalisation (what the
eval cache stores); `normalize()` finishes it on any device with torchvision's
own arithmetic (x / 255, then (x - mean) / std). Training keeps its own
augmentation (`train_uint8`) on the prepared copies.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as tv
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as tvF

from foodlib.data import transforms

_PIL_RESAMPLE = {2: "bilinear", 3: "bicubic"}  # PIL.Image.Resampling codes in processor configs
RESIZE_RULES = ("square", "short_side")
BACKENDS = ("torchvision", "pil")


@dataclass(frozen=True)
class Preprocess:
    """How a model's eval input is made: the resize rule, the crop, the interpolation, the normalisation.

    `resize`: "square" resizes straight to image_size x image_size (no crop: the
    aspect ratio changes); "short_side" resizes the short side to
    round(image_size / crop_ratio), keeping the aspect ratio, then centre-crops
    image_size. `backend`: "torchvision" runs the resize on the uint8 tensor (as
    transformers' image processors do), "pil" on the PIL image (as the transform
    `clip.load` returns does).
    """

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"  # bilinear | bicubic
    resize: str = "square"
    crop_ratio: float = 1.0  # short_side only: image_size / the resized short side
    backend: str = "torchvision"

    def __post_init__(self):
        if self.resize not in RESIZE_RULES or self.backend not in BACKENDS:
            raise ValueError(f"resize must be one of {RESIZE_RULES} and backend one of {BACKENDS}: {self}")

    def normalize(self) -> transforms.Normalize:
        """uint8 images or batches -> normalised float, on whatever device they are."""
        return transforms.Normalize(self.mean, self.std)

    def train_uint8(self, augment: bool = True):
        """uint8 -> uint8 (3, S, S): RandomResizedCrop + flip (+ TrivialAugment when `augment`)."""
        return transforms.train_augment(self.image_size, augment=augment)

    def eval_uint8(self):
        """RGB PIL image -> uint8 (3, S, S): the model's own eval resize and crop, before normalisation."""
        return EvalInput(self)

    def eval(self):
        """RGB PIL image -> normalised float (3, S, S): what the model is scored on (notebook 06 maps it)."""
        return transforms.Chain(self.eval_uint8(), self.normalize())

    def key(self) -> str:
        """Names the eval input exactly (the eval cache's file names use it)."""
        crop = f"-crop{self.crop_ratio:g}" if self.resize == "short_side" else ""
        return f"{self.image_size}px-{self.resize}{crop}-{self.interpolation}-{self.backend}"

    @classmethod
    def from_processor(cls, processor, image_size: int | None = None) -> "Preprocess":
        """What a Hugging Face image processor does (its size, crop, resample, rescale and mean/std).

        Refuses what it cannot reproduce: no resize, no normalisation, or a rescale other than 1/255.
        """
        size = _size_dict(getattr(processor, "size", None))
        if not getattr(processor, "do_resize", True) or not size:
            raise ValueError(f"the image processor {type(processor).__name__} does not resize: unsupported")
        if not getattr(processor, "do_normalize", True) or abs(getattr(processor, "rescale_factor", 1 / 255)
                                                                 - 1 / 255) > 1e-12:
            raise ValueError(f"the image processor {type(processor).__name__} does not rescale by 1/255 and "
                             "normalise: unsupported")
        resample = _PIL_RESAMPLE.get(int(getattr(processor, "resample", 2) or 2))
        if resample is None:
            raise ValueError(f"unsupported resample {processor.resample!r} (bilinear and bicubic are)")
        mean, std = tuple(map(float, processor.image_mean)), tuple(map(float, processor.image_std))
        crop = _size_dict(getattr(processor, "crop_size", None)) if getattr(processor, "do_center_crop", False) else {}
        if "height" in size and not crop:
            if size["height"] != size["width"]:
                raise ValueError(f"a non-square input {size} is unsupported")
            return cls(int(size["height"]), mean, std, resample, "square")
        if "shortest_edge" in size:
            side = int(crop.get("height", size["shortest_edge"]))
            return cls(side, mean, std, resample, "short_side", side / int(size["shortest_edge"]))
        raise ValueError(f"unsupported image processor size {size} with crop {crop}")

    @classmethod
    def from_torchvision(cls, transform) -> "Preprocess":
        """Read a Compose of Resize, CenterCrop and Normalize on PIL images (what `clip.load` returns)."""
        steps = {type(t).__name__: t for t in getattr(transform, "transforms", [])}
        missing = [n for n in ("Resize", "CenterCrop", "Normalize") if n not in steps]
        if missing:
            raise ValueError(f"cannot read a Preprocess from {transform!r}: it has no {', '.join(missing)}")
        resize, crop, norm = steps["Resize"], steps["CenterCrop"], steps["Normalize"]
        side = resize.size if isinstance(resize.size, int) else min(resize.size)
        crop_side = crop.size if isinstance(crop.size, int) else crop.size[0]
        return cls(int(crop_side), tuple(map(float, norm.mean)), tuple(map(float, norm.std)),
                   resize.interpolation.value, "short_side", crop_side / side, "pil")


def _size_dict(size) -> dict:
    """A processor's size as a dict ({"height", "width"} or {"shortest_edge"}); an int means a square."""
    if size is None:
        return {}
    if isinstance(size, int):
        return {"height": size, "width": size}
    return {k: v for k, v in dict(size).items() if v is not None}


class EvalInput:
    """RGB PIL image (or a uint8 (3, H, W) tensor of one) -> uint8 (3, S, S) tensor by a `Preprocess`'s eval rule
    (picklable for DataLoader workers)."""

    def __init__(self, preprocess: Preprocess):
        self.p = preprocess
        self.mode = InterpolationMode(preprocess.interpolation)
        self.short = round(preprocess.image_size / preprocess.crop_ratio)

    def __call__(self, img: Image.Image | torch.Tensor) -> torch.Tensor:
        p = self.p
        if p.backend == "pil":  # clip.load's transform: PIL resize of the short side, centre crop
            if isinstance(img, torch.Tensor):
                img = Image.fromarray(img.permute(1, 2, 0).numpy())
            img = tv.CenterCrop(p.image_size)(tv.Resize(self.short, interpolation=self.mode)(img))
            return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)  # (3, S, S), channels-last
        if isinstance(img, torch.Tensor):
            x = img.contiguous()
        else:
            x = torch.from_numpy(np.array(img)).permute(2, 0, 1).contiguous()  # as transformers' process_image
        size = [p.image_size, p.image_size] if p.resize == "square" else [self.short]
        x = tvF.resize(x, size, interpolation=self.mode, antialias=True)
        if p.resize == "square":
            return x
        # transformers' centre crop: the offset rounded down (torchvision's rounds half to even)
        top, left = int((x.shape[-2] - p.image_size) / 2.0), int((x.shape[-1] - p.image_size) / 2.0)
        return x[:, top:top + p.image_size, left:left + p.image_size]

    def __repr__(self) -> str:
        return f"EvalInput({self.p.key()})"
