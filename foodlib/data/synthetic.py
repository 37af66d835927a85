"""A synthetic Food-101 in the official archive layout, deterministic from a seed.

Each class is a distinct coloured shape at a random position; the box of every
object is recorded in `meta/objects.json` so later notebooks can check that
models and attention maps find it. Two styles:

- `shapes` (smoke): small images of the shape on a texture (`foodlib.data.shapes`), drawn
  from one random stream in file order, in one process;
- `photo` (rehearsal): photo-like JPEGs up to `image_size` px a side, ~50 KB at 512 as in
  Food-101, the shape drawn over them (`foodlib.data.photos`). Each image has its own
  random stream, so they are made in parallel, in chunks that resume after an interruption.

The training split also holds a planted fault corpus (`meta/faults.json`), at every scale:
the broken and odd files real Food-101 pipelines meet. `meta/synthetic.json` is written last:
its presence means the set is complete, its content what made it.
"""
from __future__ import annotations

import io
import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from foodlib import frontend, runtime
from foodlib.data import photos, shapes

# Food-101's 101 classes in the order of its meta/classes.txt: alphabetical ignoring "_"
# (so "cheesecake" comes before "cheese_plate", unlike Python's sorted(), which torchvision uses).
FOOD101_CLASSES = [
    "apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare", "beet_salad",
    "beignets", "bibimbap", "bread_pudding", "breakfast_burrito", "bruschetta", "caesar_salad",
    "cannoli", "caprese_salad", "carrot_cake", "ceviche", "cheesecake", "cheese_plate",
    "chicken_curry", "chicken_quesadilla", "chicken_wings", "chocolate_cake", "chocolate_mousse",
    "churros", "clam_chowder", "club_sandwich", "crab_cakes", "creme_brulee", "croque_madame",
    "cup_cakes", "deviled_eggs", "donuts", "dumplings", "edamame", "eggs_benedict", "escargots",
    "falafel", "filet_mignon", "fish_and_chips", "foie_gras", "french_fries", "french_onion_soup",
    "french_toast", "fried_calamari", "fried_rice", "frozen_yogurt", "garlic_bread", "gnocchi",
    "greek_salad", "grilled_cheese_sandwich", "grilled_salmon", "guacamole", "gyoza", "hamburger",
    "hot_and_sour_soup", "hot_dog", "huevos_rancheros", "hummus", "ice_cream", "lasagna",
    "lobster_bisque", "lobster_roll_sandwich", "macaroni_and_cheese", "macarons", "miso_soup",
    "mussels", "nachos", "omelette", "onion_rings", "oysters", "pad_thai", "paella", "pancakes",
    "panna_cotta", "peking_duck", "pho", "pizza", "pork_chop", "poutine", "prime_rib",
    "pulled_pork_sandwich", "ramen", "ravioli", "red_velvet_cake", "risotto", "samosa", "sashimi",
    "scallops", "seaweed_salad", "shrimp_and_grits", "spaghetti_bolognese", "spaghetti_carbonara",
    "spring_rolls", "steak", "strawberry_shortcake", "sushi", "tacos", "takoyaki", "tiramisu",
    "tuna_tartare", "waffles",
]
FOOD101_TRAIN_PER_CLASS, FOOD101_TEST_PER_CLASS = 750, 250  # the official split: 75,750 / 25,250
STYLES = ("shapes", "photo")
CHUNK = 250  # photo style: images per resumable unit (a chunk of 512 px photos is ~12 MB, ~10 s of one core)
PROGRESS = ".progress"  # photo style: folder under food-101/ of finished chunks, removed once complete
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
    """The first `num_classes` of Food-101's classes (all 101 for 101)."""
    if not 2 <= num_classes <= len(FOOD101_CLASSES):
        raise ValueError(f"synthetic_classes must be in [2, {len(FOOD101_CLASSES)}], got {num_classes}")
    return FOOD101_CLASSES[:num_classes]


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


def _plan(classes: list[str], train_per_class: int, test_per_class: int) -> list[tuple[str, str, int, str]]:
    """(image_id, split, label, fault kind or "") of every file, in the order they are drawn."""
    plan, counter = [], 100000
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        for label, name in enumerate(classes):
            for _ in range(per_class):
                counter += 1
                plan.append((f"{name}/{counter}", split, label, ""))
    for i, (kind, _) in enumerate(FAULTS):
        counter += 1
        label = i % len(classes)
        plan.append((f"{classes[label]}/{counter}", "train", label, kind))
    return plan


def _object(img: Image.Image, box: list[int]) -> dict:
    return {"box": box, "width": img.width, "height": img.height}


def _make_shapes(base: Path, plan: list, image_size: int, seed: int) -> dict[str, dict]:
    """One random stream in plan order: the files of the original generator, byte for byte."""
    rng = np.random.default_rng(seed)
    objects = {}
    for image_id, _, label, fault in plan:
        img, box = shapes.render(label, rng, image_size)
        _write(base / "images" / f"{image_id}.jpg", _fault_bytes(fault, img) if fault else _jpeg_bytes(img))
        if not fault:
            objects[image_id] = _object(img, box)
    return objects


def _photo_chunk(base: str, items: list[tuple[int, tuple]], image_size: int, seed: int) -> dict[str, dict]:
    """Write one chunk of photo-style images; image i draws from its own stream (seed, i)."""
    objects = {}
    for i, (image_id, _, label, fault) in items:
        img, box = photos.render(label, np.random.default_rng([seed, i]), image_size)
        data = _fault_bytes(fault, img) if fault else _jpeg_bytes(img, photos.JPEG_QUALITY)
        _write(Path(base) / "images" / f"{image_id}.jpg", data)
        if not fault:
            objects[image_id] = _object(img, box)
    return objects


def _make_photos(base: Path, plan: list, image_size: int, seed: int, num_workers: int) -> dict[str, dict]:
    """Chunks in parallel; a chunk counts as done once its part file (written after its images) exists."""
    progress = base / PROGRESS
    items = list(enumerate(plan))
    chunks = [items[k:k + CHUNK] for k in range(0, len(items), CHUNK)]
    part = lambda k: progress / f"part-{k:05d}.json"
    todo = [k for k in range(len(chunks)) if not part(k).exists()]
    workers = runtime.num_workers(num_workers)
    bar = _progress(len(chunks), len(chunks) - len(todo))
    if workers > 1 and len(todo) > 1:
        pool, futures = ProcessPoolExecutor(min(workers, len(todo))), {}
        try:
            futures = {k: pool.submit(_photo_chunk, str(base), chunks[k], image_size, seed) for k in todo}
            for k, future in futures.items():
                _write(part(k), json.dumps(future.result()))
                bar.update(1)
        finally:  # on an interrupt, wait only for the chunks already running, and keep what they made
            pool.shutdown(wait=True, cancel_futures=True)
            for k, future in futures.items():
                if future.done() and not future.cancelled() and future.exception() is None and not part(k).exists():
                    _write(part(k), json.dumps(future.result()))
    else:
        for k in todo:
            _write(part(k), json.dumps(_photo_chunk(str(base), chunks[k], image_size, seed)))
            bar.update(1)
    bar.close()
    objects: dict[str, dict] = {}
    for k in range(len(chunks)):
        objects.update(json.loads(part(k).read_text()))
    return objects


def _progress(total: int, initial: int):
    return frontend.progress(total=total, initial=initial, desc="synthetic photos (chunks)",
                            enabled=total - initial >= 2)


def _write_meta(base: Path, classes: list[str], plan: list, objects: dict, args: dict) -> None:
    splits = {split: {c: [] for c in classes} for split in ("train", "test")}
    for image_id, split, label, _ in plan:
        splits[split][classes[label]].append(image_id)
    expected = dict(FAULTS)
    faults = {image_id: {"kind": kind, "expected": expected[kind]} for image_id, _, _, kind in plan if kind}
    meta = base / "meta"
    _write(meta / "classes.txt", "\n".join(classes) + "\n")
    _write(meta / "labels.txt", "\n".join(c.replace("_", " ").capitalize() for c in classes) + "\n")
    for split, by_class in splits.items():
        _write(meta / f"{split}.json", json.dumps(by_class, indent=1))
        _write(meta / f"{split}.txt", "\n".join(i for ids in by_class.values() for i in ids) + "\n")
    _write(meta / "objects.json", json.dumps(objects))
    _write(meta / "faults.json", json.dumps(faults, indent=1))
    _write(meta / "synthetic.json", json.dumps(args))  # written last: the set is complete


def generate(
    root: str | Path,
    *,
    num_classes: int = 10,
    train_per_class: int = 40,
    test_per_class: int = 12,
    image_size: int = 96,
    seed: int = 0,
    style: str = "shapes",
    num_workers: int = 0,
) -> Path:
    """Write the synthetic set under `root/food-101/` and return that folder.

    Deterministic: the same arguments give byte-identical files, whatever `num_workers`
    (processes for the photo style; -1 = one per core). `image_size` is the nominal side
    (shapes: each side drawn in 0.85-1.25x it) or the longest side (photo).
    An interrupted photo-style run continues where it stopped.
    """
    if style not in STYLES:
        raise ValueError(f"synthetic_style must be one of {STYLES}, got {style!r}")
    args = generator_args(num_classes, train_per_class, test_per_class, image_size, seed, style)
    base = Path(root) / "food-101"
    classes = class_names(num_classes)
    plan = _plan(classes, train_per_class, test_per_class)
    _start(base, args)
    if style == "shapes":
        objects = _make_shapes(base, plan, image_size, seed)
    else:
        objects = _make_photos(base, plan, image_size, seed, num_workers)
    _write_meta(base, classes, plan, objects, args)
    shutil.rmtree(base / PROGRESS, ignore_errors=True)
    return base


def _start(base: Path, args: dict) -> None:
    """Clear a synthetic set (complete or partial) made with other arguments; record these."""
    marker, progress = base / "meta" / "synthetic.json", base / PROGRESS / "args.json"
    made_with = [json.loads(f.read_text()) for f in (marker, progress) if f.exists()]
    if any(m != args for m in made_with):  # only ever a set this module wrote: a real archive has neither file
        marker.unlink(missing_ok=True)
        shutil.rmtree(base / PROGRESS, ignore_errors=True)
        shutil.rmtree(base / "images", ignore_errors=True)
    if args.get("style", "shapes") != "shapes":
        _write(progress, json.dumps(args))


def generator_args(num_classes: int, train_per_class: int, test_per_class: int, image_size: int, seed: int,
                   style: str = "shapes") -> dict:
    """What `meta/synthetic.json` records. The style is left out for `shapes`, so sets made
    before the option existed (the smoke archive among them) are still recognised as they are."""
    args = {"num_classes": num_classes, "train_per_class": train_per_class,
            "test_per_class": test_per_class, "image_size": image_size, "seed": seed}
    return args if style == "shapes" else {**args, "style": style}


def ensure(root: str | Path, *, num_workers: int = 0, **kwargs) -> Path:
    """Generate the set under `root` unless an identical one is already there (resuming a partial one)."""
    marker = Path(root) / "food-101" / "meta" / "synthetic.json"
    if marker.exists() and json.loads(marker.read_text()) == generator_args(**kwargs):
        return marker.parent.parent
    return generate(root, num_workers=num_workers, **kwargs)


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    tmp.replace(path)


def image_paths(root: str | Path, image_ids: Sequence[str]) -> list[Path]:
    """The generated (original) files of `image_ids`, in the archive layout under `root`."""
    return [Path(root) / "food-101" / "images" / f"{i}.jpg" for i in image_ids]


def load_objects(root: str | Path) -> dict[str, dict]:
    """The recorded object boxes, keyed by image_id (synthetic sets only)."""
    path = Path(root) / "food-101" / "meta" / "objects.json"
    return json.loads(path.read_text())
