"""A synthetic mini Food-101 in the official archive layout, deterministic from a seed.

Each class is a distinct coloured shape drawn at a random position on a
textured background; the box of every object is recorded in
`meta/objects.json` so later notebooks can check that models and attention
maps find it. The training split also holds a planted fault corpus
(`meta/faults.json`): the broken and odd files real Food-101 pipelines meet.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# The first classes of the real Food-101 (alphabetical, as in its classes.txt),
# so prompts and plots read like the real thing.
FOOD101_FIRST = [
    "apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare",
    "beet_salad", "beignets", "bibimbap", "bread_pudding", "breakfast_burrito",
    "bruschetta", "caesar_salad", "cannoli", "caprese_salad", "carrot_cake",
    "ceviche", "cheese_plate", "cheesecake", "chicken_curry", "chicken_quesadilla",
]
SHAPES = ["disc", "square", "triangle", "cross", "ring", "diamond", "bar", "star", "hexagon", "half_disc"]
COLOURS = [
    (220, 40, 40), (40, 170, 60), (40, 80, 220), (240, 200, 30), (200, 60, 200),
    (30, 200, 210), (250, 130, 20), (120, 60, 20), (250, 250, 250), (20, 20, 20),
]
# (kind, what preparation must do with it)
FAULTS = [
    ("greyscale_jpeg", "converted"),
    ("cmyk_jpeg", "converted"),
    ("rgba_png_named_jpg", "converted"),
    ("truncated_jpeg", "excluded"),
    ("zero_bytes", "excluded"),
    ("one_pixel", "excluded"),
]


def class_names(num_classes: int) -> list[str]:
    if not 2 <= num_classes <= len(FOOD101_FIRST):
        raise ValueError(f"synthetic_classes must be in [2, {len(FOOD101_FIRST)}], got {num_classes}")
    return FOOD101_FIRST[:num_classes]


def _background(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Muted low-frequency colour noise plus faint stripes: texture without a class cue."""
    base = rng.uniform(90, 170, size=3)
    coarse = rng.normal(0, 28, size=(h // 8 + 2, w // 8 + 2, 3))
    noise = np.asarray(
        Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC),
        dtype=np.float32,
    ) - 128
    yy, xx = np.mgrid[0:h, 0:w]
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 14)
    stripes = 10 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    img = base + noise + stripes[..., None] + rng.normal(0, 6, size=(h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], colour) -> None:
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    poly = lambda pts: draw.polygon([(cx + r * px, cy + r * py) for px, py in pts], fill=colour)
    if shape == "disc":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        poly([(0, -1), (1, 1), (-1, 1)])
    elif shape == "cross":
        poly([(-.3, -1), (.3, -1), (.3, -.3), (1, -.3), (1, .3), (.3, .3), (.3, 1), (-.3, 1),
              (-.3, .3), (-1, .3), (-1, -.3), (-.3, -.3)])
    elif shape == "ring":
        draw.ellipse(box, fill=colour)
        w = 0.45 * r
        draw.ellipse((x0 + w, y0 + w, x1 - w, y1 - w), fill=tuple(255 - c for c in colour))
    elif shape == "diamond":
        poly([(0, -1), (1, 0), (0, 1), (-1, 0)])
    elif shape == "bar":
        poly([(-1, -.35), (1, -.35), (1, .35), (-1, .35)])
    elif shape == "star":
        pts = [(np.cos(a) * (1 if i % 2 == 0 else .45), np.sin(a) * (1 if i % 2 == 0 else .45))
               for i, a in enumerate(np.linspace(-np.pi / 2, 3 * np.pi / 2, 10, endpoint=False))]
        poly(pts)
    elif shape == "hexagon":
        poly([(np.cos(a), np.sin(a)) for a in np.linspace(0, 2 * np.pi, 6, endpoint=False)])
    elif shape == "half_disc":
        draw.pieslice(box, 90, 270, fill=colour)
    else:
        raise ValueError(shape)


def render(label: int, rng: np.random.Generator, size: int) -> tuple[Image.Image, list[int]]:
    """One image of class `label` and the object's box [x0, y0, x1, y1] in pixels."""
    w, h = (int(size * f) for f in rng.uniform(0.85, 1.25, size=2))
    img = _background(rng, w, h)
    side = int(min(w, h) * rng.uniform(0.32, 0.45))
    x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    box = (x0, y0, x0 + side - 1, y0 + side - 1)
    colour = tuple(int(np.clip(c + d, 0, 255)) for c, d in zip(COLOURS[label % len(COLOURS)], rng.normal(0, 12, 3)))
    shape = SHAPES[(label + label // len(SHAPES)) % len(SHAPES)]
    _draw_shape(ImageDraw.Draw(img), shape, box, colour)
    img = img.filter(ImageFilter.GaussianBlur(radius=0.5))
    return img, [x0, y0, x0 + side, y0 + side]


def _jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _fault_bytes(kind: str, img: Image.Image) -> bytes:
    if kind == "greyscale_jpeg":
        return _jpeg_bytes(img.convert("L"))
    if kind == "cmyk_jpeg":
        return _jpeg_bytes(img.convert("CMYK"))
    if kind == "rgba_png_named_jpg":
        rgba = img.convert("RGBA")
        rgba.putalpha(200)
        buf = io.BytesIO()
        rgba.save(buf, format="PNG")
        return buf.getvalue()
    if kind == "truncated_jpeg":
        data = _jpeg_bytes(img)
        return data[: len(data) // 2]
    if kind == "zero_bytes":
        return b""
    if kind == "one_pixel":
        return _jpeg_bytes(Image.new("RGB", (1, 1), (128, 64, 32)))
    raise ValueError(kind)


def generate(
    root: str | Path,
    *,
    num_classes: int = 10,
    train_per_class: int = 40,
    test_per_class: int = 12,
    image_size: int = 96,
    seed: int = 0,
) -> Path:
    """Write the synthetic set under `root/food-101/` and return that folder.

    Deterministic: the same arguments give byte-identical files.
    """
    base = Path(root) / "food-101"
    classes = class_names(num_classes)
    rng = np.random.default_rng(seed)
    splits: dict[str, dict[str, list[str]]] = {"train": {c: [] for c in classes}, "test": {c: [] for c in classes}}
    objects: dict[str, dict] = {}
    faults: dict[str, dict] = {}
    counter = 100000
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        for label, name in enumerate(classes):
            for _ in range(per_class):
                counter += 1
                image_id = f"{name}/{counter}"
                img, box = render(label, rng, image_size)
                _write(base / "images" / f"{image_id}.jpg", _jpeg_bytes(img))
                splits[split][name].append(image_id)
                objects[image_id] = {"box": box, "width": img.width, "height": img.height}
    for i, (kind, expected) in enumerate(FAULTS):
        name = classes[i % num_classes]
        counter += 1
        image_id = f"{name}/{counter}"
        img, _ = render(i % num_classes, rng, image_size)
        _write(base / "images" / f"{image_id}.jpg", _fault_bytes(kind, img))
        splits["train"][name].append(image_id)
        faults[image_id] = {"kind": kind, "expected": expected}
    meta = base / "meta"
    _write(meta / "classes.txt", "\n".join(classes) + "\n")
    _write(meta / "labels.txt", "\n".join(c.replace("_", " ").capitalize() for c in classes) + "\n")
    for split, by_class in splits.items():
        _write(meta / f"{split}.json", json.dumps(by_class, indent=1))
        _write(meta / f"{split}.txt", "\n".join(i for ids in by_class.values() for i in ids) + "\n")
    _write(meta / "objects.json", json.dumps(objects))
    _write(meta / "faults.json", json.dumps(faults, indent=1))
    # Written last: its presence means the set is complete, its content what made it.
    _write(meta / "synthetic.json", json.dumps(generator_args(num_classes, train_per_class, test_per_class, image_size, seed)))
    return base


def generator_args(num_classes: int, train_per_class: int, test_per_class: int, image_size: int, seed: int) -> dict:
    return {"num_classes": num_classes, "train_per_class": train_per_class,
            "test_per_class": test_per_class, "image_size": image_size, "seed": seed}


def ensure(root: str | Path, **kwargs) -> Path:
    """Generate the set under `root` unless an identical one is already there."""
    marker = Path(root) / "food-101" / "meta" / "synthetic.json"
    if marker.exists() and json.loads(marker.read_text()) == generator_args(**kwargs):
        return marker.parent.parent
    return generate(root, **kwargs)


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    tmp.replace(path)


def load_objects(root: str | Path) -> dict[str, dict]:
    """The recorded object boxes, keyed by image_id (synthetic sets only)."""
    path = Path(root) / "food-101" / "meta" / "objects.json"
    return json.loads(path.read_text())
