"""The eval inputs of a split, decoded, cropped and resized once: a cache that needs no decode.

Validation is scored after every epoch and the test split by every model variant
(fine-tune and linear probe share a preprocessing), always through the same
deterministic resize and crop of the model's own eval protocol. `eval_images`
therefore builds, on first use, one uint8 array per (split, preprocessing) of
the images exactly as the eval transform makes them from the source files (the
archive's own JPEGs, the hub's bytes), and later passes read it (a memory-mapped
.npy file: no JPEG decode, no resize, a copy per image). The images are
bit-identical to decoding the source files each time (tested).

Files live in `<prepared>/eval/` (so a re-prepared dataset drops them), named by
split and the preprocessing's key (input size, resize rule, crop, interpolation,
backend) plus a fingerprint of the split's files; an older file of the same kind
is replaced. Size: side x side x 3 bytes per image (Food-101's test split at
224 px: 3.8 GB). `eval_cache = False` turns the cache off (every pass decodes
the source files, no extra disk).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from foodlib import frontend, paths
from foodlib.data import loader
from foodlib.data.prepare import Prepared
from foodlib.data.preprocess import Preprocess

BUILD_BATCH = 64  # images per write while building


class EvalArrays(Dataset):
    """One split's eval inputs from a built cache file: ((3, S, S) uint8 channels-last image, label)."""

    def __init__(self, path: Path, images: loader.SourceImages):
        self.path = Path(path)
        self.rows, self.labels, self.image_ids = images.rows, images.labels, images.image_ids
        self._array = None  # opened lazily, in each DataLoader worker (a memmap must not be pickled)

    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r")
        return self._array

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        image = torch.from_numpy(np.array(self.array()[i]))  # (S, S, 3): one copy out of the page cache
        return image.permute(2, 0, 1), self.labels[i]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None}


def cache_key(preprocess: Preprocess) -> str:
    return preprocess.key()


def fingerprint(images: loader.SourceImages, preprocess: Preprocess) -> str:
    """Changes when the split's files, their order or the preprocessing change."""
    h = hashlib.sha256(cache_key(preprocess).encode())
    for image_id, path in zip(images.image_ids, images.paths):
        st = os.stat(path)
        h.update(f"{image_id}\0{Path(path).name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def eval_images(prepared: Prepared, split: str, preprocess: Preprocess, *, use_cache: bool = True,
                num_workers: int = -1, progress: bool = True) -> Dataset:
    """`split` as uint8 eval inputs (normalise them with `preprocess.normalize()`): from the cache
    (built now if missing or stale) or, with `use_cache=False`, decoded from the source files at every pass."""
    images = loader.SourceImages(prepared, split, preprocess.eval_uint8())
    if not use_cache or len(images) == 0:
        return images
    folder = prepared.root / "eval"
    stem = f"{split}-{cache_key(preprocess)}"
    key = fingerprint(images, preprocess)
    path, meta = folder / f"{stem}.npy", folder / f"{stem}.json"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{stem}.lock", "w") as lock:  # processes started together build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (meta.exists() and json.loads(meta.read_text()).get("fingerprint") == key and path.exists()):
            meta.unlink(missing_ok=True)
            _build(images, path, preprocess.image_size, num_workers, progress, split)
            meta.write_text(json.dumps({"fingerprint": key, "images": len(images), "split": split,
                                        "preprocess": cache_key(preprocess)}))
    return EvalArrays(path, images)


def for_run(params, prepared: Prepared, split: str, preprocess: Preprocess) -> Dataset:
    """`eval_images` as a run's parameters say (`eval_cache`, `num_workers`)."""
    return eval_images(prepared, split, preprocess, use_cache=params.eval_cache, num_workers=params.num_workers)


def _build(images: loader.SourceImages, path: Path, side: int, num_workers: int, progress: bool, split: str) -> None:
    """Decode, crop and resize every image of the split once into `path` (written under a temporary name)."""
    t0 = time.perf_counter()
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(images), side, side, 3))
    batches = loader.make_loader(images, batch_size=BUILD_BATCH, shuffle=False, num_workers=num_workers,
                                 device="cpu")
    bar = frontend.progress(total=len(batches), desc=f"caching {split} eval inputs", enabled=progress)
    start = 0
    try:
        for x, _ in batches:
            out[start:start + len(x)] = x.permute(0, 2, 3, 1).numpy()  # channels-last batch: a plain copy
            start += len(x)
            bar.update(1)
        out.flush()
        del out
        os.replace(tmp, path)
    finally:
        bar.close()
        tmp.unlink(missing_ok=True)
    if progress:
        print(f"{split}: {len(images)} eval inputs ({side} px) cached in {time.perf_counter() - t0:.1f} s "
              f"({path.stat().st_size / 2**20:.0f} MiB in {paths.shown(path.parent)}); later passes read them "
              "without decoding")
