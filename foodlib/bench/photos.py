"""Photo-like JPEGs in the official Food-101 archive layout, for the pipeline benchmark."""
from __future__ import annotations

import io
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from foodlib.data.photos import photo_like  # the generator the rehearsal profile uses


def _write_photos(images_dir: str, items: list[tuple[int, str]], seed: int, max_side: int) -> list[int]:
    sizes = []
    for i, image_id in items:
        img = photo_like(np.random.default_rng([seed, i]), max_side)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
        target = Path(images_dir) / f"{image_id}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(buf.getvalue())
        sizes.append(len(buf.getvalue()))
    return sizes


def make_photo_archive(root: Path, num_images: int, *, seed: int = 0, max_side: int = 512,
                       num_classes: int = 4, workers: int = 1) -> list[Path]:
    """`num_images` photo-like JPEGs in the official archive layout under root/food-101, all in the train
    split (so preparation makes a training copy of each, and evaluation can read the same files as its
    source); returns the original files' paths."""
    from foodlib.data.synthetic import class_names

    classes = class_names(num_classes)
    base = Path(root) / "food-101"
    ids = [(i, f"{classes[i % num_classes]}/{900000 + i}") for i in range(num_images)]
    images_dir = str(base / "images")
    if workers > 1 and num_images > 8:
        chunks = [ids[k::workers] for k in range(workers)]
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_write_photos, [images_dir] * workers, chunks, [seed] * workers, [max_side] * workers))
    else:
        _write_photos(images_dir, ids, seed, max_side)
    meta = base / "meta"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "classes.txt").write_text("\n".join(classes) + "\n")
    train = {c: [image_id for _, image_id in ids if image_id.startswith(c + "/")] for c in classes}
    (meta / "train.json").write_text(json.dumps(train))
    (meta / "test.json").write_text(json.dumps({c: [] for c in classes}))
    return [base / "images" / f"{image_id}.jpg" for _, image_id in ids]


