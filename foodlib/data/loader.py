"""Tensors from the prepared data: datasets, DataLoaders, and batches onto the device.

Training (`CachedImages`) reads the prepared copies of notebook 01, RGB JPEGs
already shrunk to a short side of `cache_short_side`, so each decode is of a
small file: decoded straight to uint8 tensors (torchvision.io, libjpeg-turbo)
and cropped, resized and augmented as uint8 (`foodlib.data.transforms`).
Evaluation (`SourceImages`) decodes the source's own files with PIL, as the
models' reference transforms do, converted to RGB as in preparation, then
applies the model's eval transform (`Preprocess.eval_uint8`). Everything a
DataLoader worker needs lives here, not in a notebook, so workers can import it.

What training and scoring do: datasets give uint8 images (`Preprocess.train_uint8`,
`Preprocess.eval_uint8`, or the eval cache of `foodlib.data.evalcache`);
`make_loader` collates and pins uint8 batches (4x fewer bytes than float to
build, pin and copy); `to_device(batch, device, normalize)` copies a batch
non-blocking and normalises it there. Per image, `Preprocess.eval()` /
`train_transform` give normalised float images (notebook 06, tests).
Optional, for training: `CachedBytes` + `collate_bytes` (workers only read files),
then `decode_batch(datas, train_augment(...), "cuda")` decodes a batch with nvJPEG.

Images come out laid out channels-last (the decoder's layout; strides
(1, W*C, C)) and `collate` stacks them into a channels-last batch without a
per-image transposing copy. Shapes are the usual (C, H, W) / (B, C, H, W).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info
from torch.utils.data._utils.collate import collate as _collate
from torch.utils.data._utils.collate import collate_tensor_fn, default_collate_fn_map
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file

from foodlib import runtime
from foodlib.data.prepare import Prepared, to_rgb
from foodlib.data.transforms import (Chain, Normalize, RandomResizedCropFlip, TrivialAugmentPil,  # noqa: F401
                                     resize_crop_uint8, train_augment, train_transform)

_JPEG_MAGIC = (0xFF, 0xD8)


def decode_rgb(path: str | Path) -> torch.Tensor:
    """(3, H, W) uint8 tensor of an image file (any format torchvision reads; JPEGs directly)."""
    data = read_file(str(path))
    if data.numel() > 2 and (int(data[0]), int(data[1])) == _JPEG_MAGIC:
        return decode_jpeg(data, mode=ImageReadMode.RGB)
    return decode_image(data, mode=ImageReadMode.RGB)


class SplitFiles(Dataset):
    """One split's image files as (transform(decode(file)), label) pairs, in the split's order; a subclass
    says which files (`paths`) and how they are decoded (`decode`)."""

    decode: Callable[[str], object]

    def __init__(self, rows: pd.DataFrame, paths, transform: Callable | None = None):
        self.rows = rows
        self.paths = [str(p) for p in paths]
        self.labels = rows["label"].astype(int).tolist()
        self.image_ids = rows["image_id"].tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        img = self.decode(self.paths[i])
        return (img if self.transform is None else self.transform(img)), self.labels[i]


class CachedImages(SplitFiles):
    """One split of the prepared copies (what training reads) as (image tensor, label) pairs."""

    decode = staticmethod(decode_rgb)

    def __init__(self, prepared: Prepared, split: str, transform: Callable | None = None):
        rows = prepared.split(split)
        if (rows["path"] == "").any():
            raise ValueError(f"the {split} split has no prepared copies (evaluation decodes the source's own "
                             "files: loader.SourceImages)")
        super().__init__(rows, [prepared.path(p) for p in rows["path"]], transform)


def decode_source(path: str | Path):
    """The RGB PIL image of a source file, converted as preparation converts it (`prepare.to_rgb`)."""
    img, info = to_rgb(Path(path).read_bytes(), min_side=1)
    if img is None:
        raise ValueError(f"{path} was readable when the data was prepared, but not now: {info['reason']}")
    return img


class SourceImages(SplitFiles):
    """One split's images as evaluation sees them, (transform(RGB PIL image), label), decoded from the source's
    own files (`Prepared.eval_paths`): no resized or re-encoded copy in between."""

    decode = staticmethod(decode_source)

    def __init__(self, prepared: Prepared, split: str, transform: Callable | None = None):
        super().__init__(prepared.split(split), prepared.eval_paths(split), transform)


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
    apply the uint8 `transform` (e.g. train_augment) to each there, and stack: a uint8
    batch on `device`, ready for `Normalize` (or `to_device`).

    `datas`: what `collate_bytes` gives (packed bytes, lengths), or a list of 1-D uint8 tensors."""
    if isinstance(datas, tuple) and len(datas) == 2 and isinstance(datas[0], torch.Tensor) and datas[1].dim() == 1:
        datas = list(torch.split(datas[0], datas[1].tolist()))
    images = decode_jpeg(list(datas), mode=ImageReadMode.RGB, device=device)
    if transform is not None:
        images = [transform(x) for x in images]
    return torch.stack(images)


def to_device(images: torch.Tensor, device: str | torch.device, normalize: Normalize | None = None,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A batch onto `device` (non-blocking: pair with a pinned-memory loader); a uint8 batch is
    normalised there by `normalize`, a float batch (already normalised) only cast to `dtype`."""
    images = images.to(device, non_blocking=True)
    if images.dtype == torch.uint8:
        if normalize is None:
            raise ValueError("a uint8 batch needs a Normalize (Preprocess.normalize()) to become model input")
        return normalize(images, dtype)
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
