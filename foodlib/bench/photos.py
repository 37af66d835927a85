"""Photo-like JPEGs in the official Food-101 archive layout, for the pipeline benchmark."""
from __future__ import annotations

import io
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np


def photo_like(rng: np.random.Generator, max_side: int = 512):
    """A PIL image that compresses like a food photo: up to `max_side` a side (most at it, as
    in Food-101), a smooth colour field, blurred shapes, texture and sensor-like noise.
    At JPEG quality 85 files come out at about 40-80 KB (Food-101 averages about 50 KB)."""
    from PIL import Image, ImageDraw, ImageFilter

    long = max_side if rng.random() < 0.85 else int(rng.integers(max_side * 3 // 5, max_side))
    short = int(long * rng.uniform(0.6, 1.0))
    w, h = (long, short) if rng.random() < 0.7 else (short, long)
    coarse = rng.uniform(40, 220, size=(int(rng.integers(3, 7)), int(rng.integers(3, 7)), 3)).astype(np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.float32)
    mid = rng.normal(0, 14, size=(h // 12 + 2, w // 12 + 2, 3))
    mid = np.asarray(Image.fromarray(np.clip(mid + 128, 0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC),
                     dtype=np.float32) - 128
    img = Image.fromarray(np.clip(base + mid, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(4, 12))):
        x0, y0 = rng.uniform(-0.2, 1.0) * w, rng.uniform(-0.2, 1.0) * h
        s = rng.uniform(0.08, 0.5) * min(w, h)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x0 + s, y0 + s * rng.uniform(0.5, 1.5)), fill=colour)
        else:
            pts = [(x0 + s * rng.uniform(0, 1), y0 + s * rng.uniform(0, 1)) for _ in range(int(rng.integers(3, 7)))]
            draw.polygon(pts, fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.6, 1.5))))
    arr = np.asarray(img, dtype=np.float32)
    fine = rng.normal(0, 1, size=(h // 2 + 1, w // 2 + 1, 1)) * rng.uniform(6, 14)
    fine = np.repeat(np.repeat(fine, 2, 0), 2, 1)[:h, :w]
    arr = arr + fine + rng.normal(0, rng.uniform(2, 5), size=arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


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
    """`num_images` photo-like JPEGs in the official archive layout under root/food-101 (all in
    the test split, so preparation keeps every one); returns the original files' paths."""
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
    test = {c: [image_id for _, image_id in ids if image_id.startswith(c + "/")] for c in classes}
    (meta / "test.json").write_text(json.dumps(test))
    (meta / "train.json").write_text(json.dumps({c: [] for c in classes}))
    return [base / "images" / f"{image_id}.jpg" for _, image_id in ids]


