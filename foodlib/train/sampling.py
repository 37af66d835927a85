"""Seeded sampling: every random draw of training is a function of (seed, epoch, index) or (seed, step).

The data order is a permutation seeded by (seed, epoch), and each image's
augmentation is seeded by (seed, epoch, index), so a run resumed at step k
replays exactly what an uninterrupted run does after step k.
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset, Sampler

from foodlib.data import loader


def mix(*parts: int) -> int:
    """A 63-bit seed from integers (deterministic, unlike hash() of strings)."""
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (p & 0xFFFFFFFFFFFF)) * 1099511628211) % (1 << 63)
    return h


class EpochOrder(Sampler):
    """A permutation of range(n) seeded by (seed, epoch), started `skip` items in; yields (epoch, index)."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch, self.skip = n, seed, 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __iter__(self):
        g = torch.Generator().manual_seed(mix(self.seed, self.epoch))
        order = torch.randperm(self.n, generator=g).tolist()
        return iter([(self.epoch, i) for i in order[self.skip:]])

    def __len__(self) -> int:
        return self.n - self.skip


class EpochSeeded(Dataset):
    """Training images keyed by (epoch, index); the augmentation is seeded by (seed, epoch, index)."""

    def __init__(self, images: loader.CachedImages, seed: int):
        self.images, self.seed = images, seed

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int]):
        epoch, i = key
        img = loader.decode_rgb(self.images.paths[i])
        with torch.random.fork_rng(devices=[]):  # leave the caller's RNG alone
            torch.manual_seed(mix(self.seed, epoch, i))
            img = self.images.transform(img)
        return img, self.images.labels[i]
