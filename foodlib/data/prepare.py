"""Validate every image once, and cache the training images resized.

Every image reaching a model is RGB: greyscale, CMYK, palette and RGBA files
are converted; unreadable, truncated, empty or tiny files are listed with the
reason and left out. Work is done in chunks that are written atomically, so
an interrupted preparation resumes where it stopped. A stratified validation
split is held out of train; the official test split is only for the final test.

Which bytes each step reads (the index's columns):
- `path`: training reads a copy resized to `cache_short_side` and re-encoded once
  (JPEG quality 90), cheap to decode every epoch; train rows (and the validation
  rows held out of them) have one, test rows none.
- `source`: evaluation (validation and test) decodes what the source holds, never
  a resized or re-encoded copy: the archive's own file, or, for the hub dataset,
  its image bytes copied unchanged under `source/` (written for val and test only).
"""
from __future__ import annotations

import io
import json
import shutil
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError

from foodlib import artifacts, frontend, runtime
from foodlib.config import Params
from foodlib.data.sources import FoodImages, load_source

CHUNK = 1000  # images per resumable unit
INDEX_COLUMNS = [
    "image_id", "split", "label", "path", "source", "width", "height",
    "orig_width", "orig_height", "orig_mode", "orig_format", "status", "reason",
]
FORMAT = 2  # 2: evaluation reads `source`; test rows have no resized copy (1 cached every split re-encoded)


def to_rgb(data: bytes, min_side: int = 16) -> tuple[Image.Image | None, dict[str, Any]]:
    """Decode `data` to an RGB image, or None with the reason it is unusable.

    Returns (image or None, info) where info holds orig_mode, orig_format,
    orig_width, orig_height, status ('ok' | 'converted' | 'excluded') and reason.
    """
    info: dict[str, Any] = {"orig_mode": "", "orig_format": "", "orig_width": 0, "orig_height": 0}
    if not data:
        return None, {**info, "status": "excluded", "reason": "empty file (0 bytes)"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            info.update(orig_mode=img.mode, orig_format=img.format or "", orig_width=img.width, orig_height=img.height)
            img.load()  # a truncated file fails here (LOAD_TRUNCATED_IMAGES stays False)
    except UnidentifiedImageError:
        return None, {**info, "status": "excluded", "reason": "not an image file PIL can identify"}
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        return None, {**info, "status": "excluded", "reason": f"unreadable: {exc}"}
    if min(img.size) < min_side:
        return None, {**info, "status": "excluded", "reason": f"too small: {img.width}x{img.height} (min side {min_side})"}
    img = ImageOps.exif_transpose(img)
    notes = [] if info["orig_format"] == "JPEG" else [f"{info['orig_format'] or 'unknown'} file"]
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA"):
        rgba = img.convert("RGBA")
        img = Image.new("RGB", img.size, (255, 255, 255))
        img.paste(rgba, mask=rgba.getchannel("A"))
        notes.append(f"{info['orig_mode']} -> RGB on white")
    elif img.mode != "RGB":
        img = img.convert("RGB")
        notes.append(f"{info['orig_mode']} -> RGB")
    status = "converted" if notes else "ok"
    return img, {**info, "status": status, "reason": "; ".join(notes)}


def resize_short_side(img: Image.Image, short_side: int) -> Image.Image:
    """Shrink so the short side is `short_side` (never enlarges)."""
    w, h = img.size
    scale = short_side / min(w, h)
    if scale >= 1:
        return img
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)


def _prepare_chunk(reader, rows: list[tuple], out_root: str, short_side: int, min_side: int) -> pd.DataFrame:
    out = []
    for image_id, split, label, key in rows:
        try:
            data = reader(key)
        except OSError as exc:
            img, info = None, {"status": "excluded", "reason": f"cannot read: {exc}"}
        else:
            img, info = to_rgb(data, min_side)
        rel = ""
        if img is not None and split == "train":  # the copy training reads; evaluation reads the source
            img = resize_short_side(img, short_side)
            rel = f"images/{label:03d}/{_file_name(image_id)}.jpg"
            _write_atomically(Path(out_root) / rel, lambda tmp: img.save(tmp, format="JPEG", quality=90))
            info.update(width=img.width, height=img.height)
        source = reader.path(key) if img is not None else ""
        out.append({"image_id": image_id, "split": split, "label": label, "path": rel, "source": source, **info})
    return pd.DataFrame(out).reindex(columns=INDEX_COLUMNS)


def _file_name(image_id: str) -> str:
    return image_id.replace("/", "__")


def _write_atomically(target: Path, write) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    write(tmp)
    tmp.replace(target)


def _keep_sources(root: Path, images: FoodImages, index: pd.DataFrame) -> pd.DataFrame:
    """For a source without files of its own (the hub dataset), copy the encoded bytes of every usable val and
    test image unchanged under `source/`, so evaluation decodes them as the source holds them."""
    index = index.copy()
    todo = index[(index["source"] == "") & index["split"].isin(["val", "test"]) & (index["status"] != "excluded")]
    keys = dict(zip(images.records["image_id"], images.records["key"]))
    for i, row in todo.iterrows():
        rel = f"source/{int(row['label']):03d}/{_file_name(row['image_id'])}.{row['orig_format'].lower() or 'img'}"
        data = images.read(keys[row["image_id"]])
        _write_atomically(root / rel, lambda tmp: tmp.write_bytes(data))
        index.loc[i, "source"] = rel
    return index


@dataclass
class Prepared:
    """The prepared dataset: class list, and an index of every file with what was done to it and where to read it."""

    classes: list[str]
    index: pd.DataFrame  # INDEX_COLUMNS; split in train | val | test | excluded rows keep their split
    root: Path

    def split(self, name: str) -> pd.DataFrame:
        """Usable rows of one split ('train', 'val' or 'test'), in a stable order."""
        rows = self.index[(self.index["split"] == name) & (self.index["status"] != "excluded")]
        return rows.reset_index(drop=True)

    def path(self, rel: str) -> Path:
        """A file of the prepared cache (a row's `path`, the copy training reads), or an absolute path as it is."""
        return self.root / rel

    def eval_paths(self, split: str) -> list[Path]:
        """The files evaluation decodes for `split`, in `split`'s order: the source's own (its `source` column)."""
        return [self.path(s) for s in self.split(split)["source"]]


def prepared_dir(params: Params) -> Path:
    return params.cache_dir / "prepared"


def _settings(params: Params) -> dict[str, Any]:
    keys = ["data_source", "data_dir", "hub_dataset", "subset_per_class", "cache_short_side",
            "val_fraction", "min_image_side", "seed", "synthetic_classes",
            "synthetic_train_per_class", "synthetic_test_per_class", "synthetic_image_size", "synthetic_style"]
    return {"format": FORMAT, **{k: getattr(params, k) for k in keys}}


def assign_validation(index: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """Move a stratified `fraction` of each class's usable train rows to split 'val'."""
    index = index.copy()
    rng = np.random.default_rng(seed)
    usable = index[(index["split"] == "train") & (index["status"] != "excluded")]
    for _, group in usable.groupby("label", sort=True):
        order = group.sort_values("image_id").index.to_numpy()
        n_val = max(1, int(round(fraction * len(order))))
        index.loc[rng.permutation(order)[:n_val], "split"] = "val"
    return index


def prepare_dataset(params: Params, images: FoodImages | None = None, progress: bool = True) -> Prepared:
    """Build (or resume, or reuse) the prepared cache for `params`."""
    root = prepared_dir(params)
    settings = _settings(params)
    done = root / "index.parquet"
    settings_file = root / "settings.json"
    if settings_file.exists() and json.loads(settings_file.read_text()) != settings:
        shutil.rmtree(root)  # made with other settings: start again
    if done.exists():
        return load_prepared(params)
    images = images if images is not None else load_source(params)
    artifacts.write_json(settings_file, settings)
    rows = list(images.records[["image_id", "split", "label", "key"]].itertuples(index=False, name=None))
    chunks = [rows[i:i + CHUNK] for i in range(0, len(rows), CHUNK)]
    todo = [i for i in range(len(chunks)) if not (root / "parts" / f"part-{i:05d}.parquet").exists()]
    workers = runtime.num_workers(params.num_workers)
    args = (str(root), params.cache_short_side, params.min_image_side)
    bar = _progress(len(chunks), len(chunks) - len(todo), progress)
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(workers) as pool:
            futures = {i: pool.submit(_prepare_chunk, images.reader, chunks[i], *args) for i in todo}
            for i, fut in futures.items():
                _save_part(root, i, fut.result())
                bar.update(1)
    else:
        for i in todo:
            _save_part(root, i, _prepare_chunk(images.reader, chunks[i], *args))
            bar.update(1)
    bar.close()
    parts = [pd.read_parquet(root / "parts" / f"part-{i:05d}.parquet") for i in range(len(chunks))]
    index = assign_validation(pd.concat(parts, ignore_index=True), params.val_fraction, params.seed)
    index = _keep_sources(root, images, index)
    artifacts.write_json(root / "classes.json", images.classes)
    with artifacts.atomic_path(done) as tmp:  # written last: marks the cache complete
        index.to_parquet(tmp, index=False)
    return load_prepared(params)


def _save_part(root: Path, i: int, df: pd.DataFrame) -> None:
    with artifacts.atomic_path(root / "parts" / f"part-{i:05d}.parquet") as tmp:
        df.to_parquet(tmp, index=False)


def _progress(total: int, initial: int, enabled: bool):
    return frontend.progress(total=total, initial=initial, desc="prepare (chunks)", enabled=enabled)


def load_prepared(params: Params) -> Prepared:
    """The prepared cache that notebook 01 wrote; fails naming 01 when it is missing or stale."""
    root = prepared_dir(params)
    artifacts.require(root / "index.parquet", "01_data_prep")
    made_with = json.loads((root / "settings.json").read_text())
    if made_with != _settings(params):
        diff = {k: (made_with.get(k), v) for k, v in _settings(params).items() if made_with.get(k) != v}
        raise artifacts.MissingArtifactError(
            f"the prepared data in {root} was made with other settings {diff} (was, now): "
            "run notebooks/01_data_prep.ipynb again with these parameters first"
        )
    classes = json.loads((root / "classes.json").read_text())
    return Prepared(classes, pd.read_parquet(root / "index.parquet"), root)
