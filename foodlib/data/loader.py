"""Tensors from the prepared cache: datasets, transforms and DataLoaders.

Images are decoded straight to uint8 tensors (torchvision.io) and augmented
as uint8 with transforms v2; normalisation to float comes last. Everything a
DataLoader worker needs lives here, not in a notebook, so workers can import it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms import v2

from foodlib import runtime
from foodlib.data.prepare import Prepared

EVAL_CROP_RATIO = 0.875  # resize to size / 0.875, centre-crop size (the usual ImageNet eval)


def decode_rgb(path: str | Path) -> torch.Tensor:
    """(3, H, W) uint8 tensor of an image file."""
    return decode_image(read_file(str(path)), mode=ImageReadMode.RGB)


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


def train_transform(image_size: int, mean: Sequence[float], std: Sequence[float], augment: bool = True):
    """RandomResizedCrop + flip + TrivialAugment on uint8, then normalise."""
    steps = [v2.RandomResizedCrop(image_size, scale=(0.35, 1.0), antialias=True), v2.RandomHorizontalFlip()]
    if augment:
        steps.append(v2.TrivialAugmentWide())
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])


def eval_transform(image_size: int, mean: Sequence[float], std: Sequence[float], crop_ratio: float = EVAL_CROP_RATIO):
    """Resize the short side to image_size / crop_ratio, centre-crop, normalise."""
    resize = int(round(image_size / crop_ratio))
    return v2.Compose([
        v2.Resize(resize, antialias=True),
        v2.CenterCrop(image_size),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean, std),
    ])


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
        pin_memory=device == "cuda",
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        generator=generator,
        drop_last=drop_last,
    )
