"""Tensors from the prepared cache: datasets, transforms and DataLoaders.

The cache (notebook 01) holds RGB JPEGs already shrunk to a short side of
`cache_short_side`, so each decode here is of a small file. Images are
decoded straight to uint8 tensors (torchvision.io, libjpeg-turbo) and
cropped/resized/augmented as uint8; conversion to float and normalisation
come last, in one fused step. Everything a DataLoader worker needs lives
here, not in a notebook, so workers can import it.

Three ways to use it:

- per image: `eval_transform(...)` / `train_transform(...)` return normalised
  float images (what the CPU runs use);
- uint8 to the GPU: `eval_resize(...)` / `train_augment(...)` return uint8
  images, `make_loader` collates and pins uint8 batches (4x fewer bytes than
  float to build, pin and copy), and `to_device(batch, device, mean, std)`
  copies them non-blocking and normalises there;
- decode on the GPU: `CachedBytes` + `collate_bytes` (workers only read
  files), then `decode_batch(datas, eval_resize(...), "cuda")` decodes the
  batch with nvJPEG and crops/resizes there.

Images come out laid out channels-last (the decoder's layout; strides
(1, W*C, C)) and `collate` stacks them into a channels-last batch without a
per-image transposing copy. Shapes are the usual (C, H, W) / (B, C, H, W).

Where the time goes (one core, a 288 px cached JPEG; `python -m foodlib.bench`
prints the profile): the JPEG decode is about two thirds of it. The eval
crop+resize crops first and resizes only the crop, on a channels-last uint8
copy (torch's vectorised antialiased path): about twice as fast as Resize
followed by CenterCrop, and the same up to sub-pixel placement of the crop.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch
import torch.nn.functional as nnf
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info
from torch.utils.data._utils.collate import collate as _collate
from torch.utils.data._utils.collate import collate_tensor_fn, default_collate_fn_map
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file
from torchvision.transforms import RandomResizedCrop as _RRC  # only for its get_params
from torchvision.transforms import v2

from foodlib import runtime
from foodlib.data.prepare import Prepared

EVAL_CROP_RATIO = 0.875  # resize to size / 0.875, centre-crop size (the usual ImageNet eval)
_JPEG_MAGIC = (0xFF, 0xD8)


def decode_rgb(path: str | Path) -> torch.Tensor:
    """(3, H, W) uint8 tensor of an image file (any format torchvision reads; JPEGs directly)."""
    data = read_file(str(path))
    if data.numel() > 2 and (int(data[0]), int(data[1])) == _JPEG_MAGIC:
        return decode_jpeg(data, mode=ImageReadMode.RGB)
    return decode_image(data, mode=ImageReadMode.RGB)


class CachedImages(Dataset):
    """One split of the prepared cache as (image tensor, label) pairs."""

    def __init__(self, prepared: Prepared, split: str, transform: Callable | None = None):
        self.rows: pd.DataFrame = prepared.split(split)
        self.paths = [str(prepared.path(p)) for p in self.rows["path"]]
        self.labels = self.rows["label"].astype(int).tolist()
        self.image_ids = self.rows["image_id"].tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        img = decode_rgb(self.paths[i])
        if self.transform is not None:
            img = self.transform(img)
        return img, self.labels[i]


class CachedBytes(Dataset):
    """One split of the prepared cache as (encoded JPEG bytes, label): for decoding a whole batch
    on the GPU (nvJPEG) with `decode_batch`. Use with `collate_bytes`; workers only read files."""

    def __init__(self, prepared: Prepared, split: str):
        images = CachedImages(prepared, split)
        self.rows, self.paths, self.labels, self.image_ids = images.rows, images.paths, images.labels, images.image_ids

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return read_file(self.paths[i]), self.labels[i]


def collate_bytes(batch):
    """((all files' bytes in one 1-D uint8 tensor, their lengths), labels) for `decode_batch`.

    One tensor per batch, not one per file: a worker hands each tensor to the main process
    through a shared-memory file descriptor, and hundreds per batch exhaust them."""
    datas = [b[0] for b in batch]
    lengths = torch.tensor([len(d) for d in datas], dtype=torch.int64)
    return (torch.cat(datas), lengths), torch.tensor([int(b[1]) for b in batch])


def decode_batch(datas, transform: Callable | None = None, device: str | torch.device = "cuda") -> torch.Tensor:
    """Decode encoded JPEGs on `device` (nvJPEG in one batched call on a GPU; libjpeg-turbo on 'cpu'),
    apply the uint8 `transform` (eval_resize / train_augment) to each there, and stack: a uint8
    batch on `device`, ready for `Normalize` (or `to_device`).

    `datas`: what `collate_bytes` gives (packed bytes, lengths), or a list of 1-D uint8 tensors."""
    if isinstance(datas, tuple) and len(datas) == 2 and isinstance(datas[0], torch.Tensor) and datas[1].dim() == 1:
        datas = list(torch.split(datas[0], datas[1].tolist()))
    images = decode_jpeg(list(datas), mode=ImageReadMode.RGB, device=device)
    if transform is not None:
        images = [transform(x) for x in images]
    return torch.stack(images)


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


class Normalize:
    """uint8 (or float in [0, 1] x 255) -> float32 (x / 255 - mean) / std, fused in one pass.

    Works on one image (C, H, W) or a batch (B, C, H, W), on any device.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]
        self._scale = torch.tensor([1.0 / (255.0 * s) for s in self.std]).view(-1, 1, 1)
        self._shift = torch.tensor([-m / s for m, s in zip(self.mean, self.std)]).view(-1, 1, 1)

    def __call__(self, img: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        scale, shift = self._scale, self._shift
        if scale.device != img.device:
            scale, shift = scale.to(img.device), shift.to(img.device)
        out = img.to(torch.float32).mul_(scale).add_(shift)
        return out if dtype == torch.float32 else out.to(dtype)

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
    """uint8 train transform (no normalisation): RandomResizedCrop + flip (+ TrivialAugmentWide)."""
    return Chain(RandomResizedCropFlip(image_size), v2.TrivialAugmentWide() if augment else None)


def train_transform(image_size: int, mean: Sequence[float], std: Sequence[float], augment: bool = True):
    """RandomResizedCrop + flip + TrivialAugment on uint8, then normalise."""
    return Chain(*train_augment(image_size, augment).steps, Normalize(mean, std))


def eval_transform(image_size: int, mean: Sequence[float], std: Sequence[float], crop_ratio: float = EVAL_CROP_RATIO):
    """Resize the short side to image_size / crop_ratio, centre-crop, normalise."""
    return Chain(EvalResize(image_size, crop_ratio), Normalize(mean, std))


def to_device(images: torch.Tensor, device: str | torch.device, mean: Sequence[float] | None = None,
              std: Sequence[float] | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A batch onto `device` (non-blocking: pair with a pinned-memory loader); uint8 batches are
    normalised there with `mean`/`std`, float batches (already normalised) only cast to `dtype`."""
    images = images.to(device, non_blocking=True)
    if images.dtype == torch.uint8:
        if mean is None or std is None:
            raise ValueError("a uint8 batch needs mean and std to be normalised")
        return Normalize(mean, std)(images, dtype)
    return images.to(dtype)


def _stack_images(batch, *, collate_fn_map=None):
    """Stack (C, H, W) images laid out channels-last into a channels-last (B, C, H, W) batch,
    straight into shared memory inside a worker (as default_collate does); others as default."""
    elem = batch[0]
    if not (elem.dim() == 3 and elem.shape[0] in (1, 3, 4) and elem.stride(0) == 1 and elem.shape[0] > 1
            and all(x.shape == elem.shape and x.dtype == elem.dtype for x in batch)):
        return collate_tensor_fn(batch, collate_fn_map=collate_fn_map)
    c, h, w = elem.shape
    out = None
    if get_worker_info() is not None:
        storage = elem._typed_storage()._new_shared(len(batch) * c * h * w, device=elem.device)
        out = elem.new(storage).resize_(len(batch), h, w, c)
    return torch.stack([x.permute(1, 2, 0) for x in batch], 0, out=out).permute(0, 3, 1, 2)


_COLLATE_MAP = {**default_collate_fn_map, torch.Tensor: _stack_images}


def collate(batch):
    """default_collate, except that channels-last images (what the transforms here return) are
    stacked into a channels-last batch: no per-image transposing copy. The batch is a normal
    (B, C, H, W) tensor; `.contiguous()` gives the NCHW layout where one is needed."""
    return _collate(batch, collate_fn_map=_COLLATE_MAP)


def make_loader(dataset: Dataset, *, batch_size: int, shuffle: bool, num_workers: int, device: str,
                seed: int = 0, drop_last: bool = False, sampler: Sampler | None = None) -> DataLoader:
    """A DataLoader sized to the machine: workers, pinned memory on GPU, seeded shuffling.

    `sampler` (then `shuffle` must be False) decides the order itself, e.g. a resumable one.
    """
    workers = runtime.num_workers(num_workers)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=workers,
        pin_memory=str(device).startswith("cuda"),
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        generator=generator,
        drop_last=drop_last,
        collate_fn=collate,
    )
