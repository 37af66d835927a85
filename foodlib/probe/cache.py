"""The probe's features of a split, extracted once per split, weights and preprocessing, then read back.

As the eval cache (`foodlib.data.evalcache`) does for images: one file per split in `<prepared>/features/`
(a re-prepared dataset drops it), named by the probe's name, the split and the preprocessing's key; a
JSON beside it holds the fingerprint: the split's files and their order, the preprocessing, the weights
that make the features, the probed layer and the autocast dtype. A stale file is rebuilt in place of the
old one, written under a temporary name and then renamed (a crash never leaves half a file), under a lock
(processes started together build it once). So a rerun of notebook 02, 03 or 04 reads the features
instead of running the backbone again. Size: N x D x 4 bytes (Food-101's 72k training images with
ViT-B/16's 768 features: 221 MB).

Which images: validation and test are the source's own files through the model's eval transform, from
the eval cache when `params.eval_cache` (what scoring reads); training images as `features.TrainImages`
says (the source's files where the index has them, 01's prepared copies for the hub source).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from foodlib import artifacts, runtime
from foodlib.config import Params
from foodlib.data import evalcache, loader
from foodlib.data.prepare import Prepared
from foodlib.probe import features

if TYPE_CHECKING:
    from foodlib.data.preprocess import Preprocess

FORMAT = 1  # bump when what a cached file holds changes


@dataclass
class Features:
    """One split's probe features: (N, D) float32 rows in the split's order, with labels and image ids."""

    x: torch.Tensor  # (N, D) float32, on the CPU
    labels: torch.Tensor  # (N,) int64
    image_ids: list[str]
    layer: str  # where they were read (`features.probed_layer`)
    cached: bool  # read back from the cache rather than extracted now
    seconds: float  # to extract or to read


def source_files(prepared: Prepared, split: str):
    """The split's files, ids and labels in order (what the fingerprint covers)."""
    return features.TrainImages(prepared) if split == "train" else loader.SourceImages(prepared, split)


def images(params: Params, prepared: Prepared, split: str, preprocess: "Preprocess"):
    """The dataset the features of `split` are made from: uint8 eval inputs, normalised later on the device."""
    if split == "train":
        return features.TrainImages(prepared, preprocess.eval_uint8())
    return evalcache.for_run(params, prepared, split, preprocess)


def fingerprint(files, preprocess: "Preprocess", weights: str, layer: str, amp_dtype) -> str:
    """Changes when the split's files or order, the preprocessing, the weights, the layer or the precision do."""
    text = f"{FORMAT}\0{evalcache.fingerprint(files, preprocess)}\0{weights}\0{layer}\0{amp_dtype}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_features(model, preprocess: "Preprocess", params: Params, prepared: Prepared, split: str, device: str,
                   *, name: str, head: str = "classifier", progress: bool = True, weights: str | None = None
                   ) -> Features:
    """`split`'s features by `model` (frozen), from `<prepared>/features/` when current, else extracted now.
    `weights`: `features.weights_key(model, head)` where the caller has it already (it hashes every weight)."""
    t0 = time.perf_counter()
    files = source_files(prepared, split)
    amp_dtype = runtime.autocast_dtype(params.mixed_precision, device)
    layer = features.probed_layer(model, head)[2]
    key = fingerprint(files, preprocess, weights or features.weights_key(model, head), layer, amp_dtype)
    folder = prepared.root / "features"
    stem = f"{name}-{split}-{preprocess.key()}"
    path, meta = folder / f"{stem}.npy", folder / f"{stem}.json"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = meta.exists() and path.exists() and json.loads(meta.read_text()).get("fingerprint") == key
        if cached:
            x = torch.from_numpy(np.load(path))
        else:
            meta.unlink(missing_ok=True)
            x = _build(model, preprocess, params, prepared, split, device, head, amp_dtype, progress, files)
            with artifacts.atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, x.numpy())
            artifacts.write_json(meta, {"fingerprint": key, "split": split, "shape": list(x.shape), "layer": layer,
                                        "preprocess": preprocess.key(), "amp_dtype": str(amp_dtype)})
    return Features(x, torch.tensor(files.labels, dtype=torch.long), list(files.image_ids), layer, cached,
                    time.perf_counter() - t0)


def _build(model, preprocess, params, prepared, split, device, head, amp_dtype, progress, files) -> torch.Tensor:
    """Run the frozen backbone over the split once: (N, D) float32 features, checked against the split's labels."""
    batches = loader.make_loader(images(params, prepared, split, preprocess), batch_size=params.eval_batch_size,
                                 shuffle=False, num_workers=params.num_workers, device=device)
    x, labels = features.extract(model, batches, device=device, normalize=preprocess.normalize(),
                                 amp_dtype=amp_dtype, head=head, progress=progress, desc=f"{split} features")
    if labels.tolist() != list(files.labels):
        raise RuntimeError(f"the {split} features came out of order: their labels differ from the split's")
    return x
