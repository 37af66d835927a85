"""uint8 image transforms: the eval crop, the train crop and augmentation, normalisation.

Images are (C, H, W) uint8 tensors laid out channels-last (strides (1, W*C, C)),
as the JPEG decoder writes them. Every step here keeps uint8 and that layout;
conversion to float and normalisation come last, in one fused step
(`Normalize`), per image or, on a GPU, per batch on the device.

Where the time goes (one core; `python -m foodlib.bench` prints the profile):
the eval crop+resize crops first and resizes only the crop, on a channels-last
uint8 copy (torch's vectorised antialiased path): about twice as fast as Resize
followed by CenterCrop, and the same up to sub-pixel placement of the crop.
TrivialAugmentWide runs through PIL (`TrivialAugmentPil`).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as nnf
from PIL import Image
from torchvision.transforms import RandomResizedCrop as _RRC  # only for its get_params
from torchvision.transforms import v2

EVAL_CROP_RATIO = 0.875  # resize to size / 0.875, centre-crop size (the usual ImageNet eval)


# -- uint8 building blocks ------------------------------------------------------------------

def resize_crop_uint8(img: torch.Tensor, top: int, left: int, height: int, width: int,
                      size: tuple[int, int]) -> torch.Tensor:
    """Crop the box, then resize it to `size` (antialiased bilinear) on uint8.

    The crop is made channels-last contiguous first (a cheap copy of the crop only):
    that is the layout torch's vectorised uint8 antialias kernel works in, and the one
    the JPEG decoder writes. Returns a (C, H, W) uint8 tensor laid out channels-last
    (strides (1, W*C, C)); `collate` stacks such images without a transposing copy.
    """
    crop = img[..., top:top + height, left:left + width].unsqueeze(0).contiguous(memory_format=torch.channels_last)
    if (height, width) != tuple(size):
        if crop.device.type == "cpu":
            crop = nnf.interpolate(crop, size=tuple(size), mode="bilinear", antialias=True, align_corners=False)
        else:  # antialiased uint8 resizing is CPU-only in torch: go through float on the GPU
            crop = nnf.interpolate(crop.float(), size=tuple(size), mode="bilinear", antialias=True,
                                   align_corners=False).round_().clamp_(0, 255).to(torch.uint8)
    return crop[0]


def eval_box(height: int, width: int, image_size: int, crop_ratio: float) -> tuple[int, int, int, int]:
    """(top, left, h, w) in the source image of Resize(image_size / crop_ratio) + CenterCrop(image_size)."""
    resize = int(round(image_size / crop_ratio))
    scale = min(height, width) / resize  # source pixels per resized pixel
    ch, cw = min(height, round(image_size * scale)), min(width, round(image_size * scale))
    return (height - ch) // 2, (width - cw) // 2, max(1, ch), max(1, cw)


class EvalResize:
    """uint8 -> uint8: the centre crop of Resize(size / crop_ratio) + CenterCrop(size), done crop-first."""

    def __init__(self, image_size: int, crop_ratio: float = EVAL_CROP_RATIO):
        self.image_size, self.crop_ratio = int(image_size), float(crop_ratio)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        top, left, ch, cw = eval_box(h, w, self.image_size, self.crop_ratio)
        return resize_crop_uint8(img, top, left, ch, cw, (self.image_size, self.image_size))

    def __repr__(self) -> str:
        return f"EvalResize(image_size={self.image_size}, crop_ratio={self.crop_ratio})"


class RandomResizedCropFlip:
    """uint8 -> uint8: RandomResizedCrop (crop first, then resize) and a random horizontal flip."""

    def __init__(self, image_size: int, scale: tuple[float, float] = (0.35, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), flip: float = 0.5):
        self.image_size, self.scale, self.ratio, self.flip = int(image_size), tuple(scale), tuple(ratio), flip

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        top, left, h, w = _RRC.get_params(img, list(self.scale), list(self.ratio))
        out = resize_crop_uint8(img, top, left, h, w, (self.image_size, self.image_size))
        if self.flip and float(torch.rand(())) < self.flip:
            out = out.flip(-1)
        return out

    def __repr__(self) -> str:
        return f"RandomResizedCropFlip(image_size={self.image_size}, scale={self.scale}, ratio={self.ratio})"


class TrivialAugmentPil:
    """uint8 -> uint8: torchvision's TrivialAugmentWide, run on a PIL view of the image.

    The same draws (which operation, what magnitude: torch's RNG, as on tensors) and the same
    operations, through PIL's C kernels: about a third of the tensor kernels' time on a CPU (on
    tensors, rotate, shear and translate go through a float grid_sample, sharpness and autocontrast
    through float convolutions and reductions). A GPU tensor stays on the tensor path.
    """

    def __init__(self):
        self.augment = v2.TrivialAugmentWide()

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if img.device.type != "cpu":
            return self.augment(img)
        pil = Image.fromarray(img.permute(1, 2, 0).numpy())  # (H, W, C): a view when channels-last, else a copy
        return torch.from_numpy(np.array(self.augment(pil))).permute(2, 0, 1)  # channels-last again

    def __repr__(self) -> str:
        return "TrivialAugmentPil()"


class Normalize:
    """uint8 (or float in [0, 1] x 255) -> float32 (x / 255 - mean) / std, fused in one pass.

    Works on one image (C, H, W) or a batch (B, C, H, W), on any device.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]
        self._scale = torch.tensor([1.0 / (255.0 * s) for s in self.std]).view(-1, 1, 1)
        self._shift = torch.tensor([-m / s for m, s in zip(self.mean, self.std)]).view(-1, 1, 1)
        self._on: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}  # copies per device, made once

    def __call__(self, img: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        scale, shift = self._scale, self._shift
        if img.device != scale.device:  # a blocking copy of the constants on every batch would sync the GPU
            if img.device not in self._on:
                self._on[img.device] = (scale.to(img.device), shift.to(img.device))
            scale, shift = self._on[img.device]
        out = img.to(torch.float32).mul_(scale).add_(shift)
        return out if dtype == torch.float32 else out.to(dtype)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_on": {}}  # a DataLoader worker gets the CPU constants only

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Chain:
    """Apply callables in order (a picklable, low-overhead Compose)."""

    def __init__(self, *steps: Callable):
        self.steps = [s for s in steps if s is not None]

    def __call__(self, img):
        for step in self.steps:
            img = step(img)
        return img

    def __repr__(self) -> str:
        return "Chain(" + ", ".join(map(repr, self.steps)) + ")"


# -- the transforms the notebooks use -------------------------------------------------------

def eval_resize(image_size: int, crop_ratio: float = EVAL_CROP_RATIO) -> EvalResize:
    """uint8 eval transform (no normalisation): pair with `to_device` or `Normalize`."""
    return EvalResize(image_size, crop_ratio)


def train_augment(image_size: int, augment: bool = True) -> Chain:
    """uint8 train transform (no normalisation): RandomResizedCrop + flip (+ TrivialAugmentWide, on PIL)."""
    return Chain(RandomResizedCropFlip(image_size), TrivialAugmentPil() if augment else None)


def train_transform(image_size: int, mean: Sequence[float], std: Sequence[float], augment: bool = True):
    """RandomResizedCrop + flip + TrivialAugment on uint8, then normalise."""
    return Chain(*train_augment(image_size, augment).steps, Normalize(mean, std))


def eval_transform(image_size: int, mean: Sequence[float], std: Sequence[float], crop_ratio: float = EVAL_CROP_RATIO):
    """Resize the short side to image_size / crop_ratio, centre-crop, normalise."""
    return Chain(EvalResize(image_size, crop_ratio), Normalize(mean, std))
