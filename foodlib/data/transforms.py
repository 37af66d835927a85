"""uint8 image transforms for training: the train crop and augmentation; and normalisation.

Images are (C, H, W) uint8 tensors laid out channels-last (strides (1, W*C, C)),
as the JPEG decoder writes them. Every step here keeps uint8 and that layout;
conversion to float and normalisation come last, in one fused step
(`Normalize`), per image or, on a GPU, per batch on the device.

Where the time goes (one core; `python -m foodlib.bench` prints the profile):
the train crop crops first and resizes only the crop, on a channels-last uint8
copy (torch's vectorised antialiased path); TrivialAugmentWide runs through PIL
(`TrivialAugmentPil`). The eval transforms are each model's own
(`foodlib.data.preprocess`), not these.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as nnf
from PIL import Image
from torchvision.transforms import RandomResizedCrop as _RRC  # only for its get_params
from torchvision.transforms import v2

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
    # A crop of the whole image is a (1, C, H, W) tensor whose strides read as either layout, and interpolate
    # may then return NCHW: make the result channels-last in every case (a no-op when it already is).
    return crop.contiguous(memory_format=torch.channels_last)[0]


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
    """uint8 -> float32 (x / 255 - mean) / std, with torchvision's own arithmetic (`ToTensor` then `Normalize`:
    divide by 255, subtract the mean, divide by the std), so an input equals the reference transform's bit for bit.

    Works on one image (C, H, W) or a batch (B, C, H, W), on any device.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]
        self._mean = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        self._std = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)
        self._on: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}  # copies per device, made once

    def __call__(self, img: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        mean, std = self._mean, self._std
        if img.device != mean.device:  # a blocking copy of the constants on every batch would sync the GPU
            if img.device not in self._on:
                self._on[img.device] = (mean.to(img.device), std.to(img.device))
            mean, std = self._on[img.device]
        out = img.to(torch.float32).div(255).sub_(mean).div_(std)  # a new tensor: the input is left alone
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

def train_augment(image_size: int, augment: bool = True) -> Chain:
    """uint8 train transform (no normalisation): RandomResizedCrop + flip (+ TrivialAugmentWide, on PIL)."""
    return Chain(RandomResizedCropFlip(image_size), TrivialAugmentPil() if augment else None)


def train_transform(image_size: int, mean: Sequence[float], std: Sequence[float], augment: bool = True):
    """RandomResizedCrop + flip + TrivialAugment on uint8, then normalise."""
    return Chain(*train_augment(image_size, augment).steps, Normalize(mean, std))
