"""The pipeline benchmark's images: the rehearsal's photo-like synthetic Food-101 (foodlib.data.synthetic)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from foodlib.data import synthetic

NUM_CLASSES = 4


def make_photo_archive(root: Path, num_images: int, *, seed: int = 0, max_side: int = 512,
                       workers: int = 1) -> list[Path]:
    """Photo-like JPEGs up to `max_side` a side in the official archive layout under root/food-101, all in the
    train split (preparation makes a training copy of each; evaluation reads the same files as its source).

    Returns the originals' paths: `num_images` rounded up to whole classes, without the broken and odd files the
    generator plants in train (meta/faults.json), which would time the error paths instead of a photo's."""
    base = synthetic.generate(root, num_classes=NUM_CLASSES, train_per_class=math.ceil(num_images / NUM_CLASSES),
                              test_per_class=0, image_size=max_side, seed=seed, style="photo", num_workers=workers)
    faults = json.loads((base / "meta" / "faults.json").read_text())
    train = json.loads((base / "meta" / "train.json").read_text())
    ids = [i for ids in train.values() for i in ids if i not in faults]
    return synthetic.image_paths(root, ids)
