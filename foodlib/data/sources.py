"""Data sources, all ending in the same object: `FoodImages`.

- `hub`: the Hugging Face dataset `ethz/food101` (its `validation` split is the official test split);
- `archive`: a local copy of the official archive (`food-101/images`, `food-101/meta`);
- `synthetic`: the generator in `foodlib.data.synthetic`, which writes the archive layout.

Class names always come from the source's own label list (`classes.txt`, or
the hub dataset's ClassLabel), never from a second list.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from foodlib.config import Params
from foodlib.data import synthetic


@dataclass
class ArchiveReader:
    """Reads image bytes from an archive layout; picklable for worker processes."""

    images_dir: str

    def __call__(self, key: Any) -> bytes:
        return Path(self.path(key)).read_bytes()

    def path(self, key: Any) -> str:
        """The file itself: evaluation decodes it as it is (the archive's JPEG)."""
        return str(Path(self.images_dir) / f"{key}.jpg")


@dataclass
class HubReader:
    """Reads the encoded image bytes of one row of a hub split (no decoding)."""

    splits: dict

    def __call__(self, key: Any) -> bytes:
        split, row = key
        return self.splits[split][int(row)]["image"]["bytes"]

    def path(self, key: Any) -> str:
        """"": the bytes live inside the dataset's arrow files (preparation copies those evaluation reads)."""
        return ""


@dataclass
class FoodImages:
    """The raw dataset: class list, one record per image, and a reader for its bytes.

    `records` columns: image_id (str), split ('train' | 'test'), label (int), key (reader key).
    """

    classes: list[str]
    records: pd.DataFrame
    reader: Any
    source: str

    def read(self, key: Any) -> bytes:
        return self.reader(key)

    def counts(self) -> pd.DataFrame:
        """Images per class (rows, in class order) and split (columns)."""
        return class_counts(self.records, self.classes)


def class_counts(records: pd.DataFrame, classes: list[str], splits: list[str] | None = None) -> pd.DataFrame:
    """Rows of `records` per class (index: class names, in class order) and split (columns; all that occur
    when `splits` is None)."""
    table = records.groupby(["label", "split"]).size().unstack(fill_value=0)
    table = table.reindex(index=range(len(classes)), columns=splits, fill_value=0)
    table.index = pd.Index(classes, name="class")
    return table


def load_archive(root: str | Path, source: str = "archive") -> FoodImages:
    """Read `root/food-101/meta/{classes.txt,train.json,test.json}`."""
    base = Path(root) / "food-101"
    meta = base / "meta"
    if not (meta / "classes.txt").exists():
        raise FileNotFoundError(
            f"no Food-101 archive at {base}: expected {meta / 'classes.txt'}. Download and unpack "
            "food-101.tar.gz there, or use data_source='hub' (or profile smoke for synthetic data)."
        )
    classes = [c.strip() for c in (meta / "classes.txt").read_text().splitlines() if c.strip()]
    index = {c: i for i, c in enumerate(classes)}
    rows = []
    for split in ("train", "test"):
        by_class = json.loads((meta / f"{split}.json").read_text())
        unknown = sorted(set(by_class) - set(index))
        if unknown:
            raise ValueError(f"{meta / f'{split}.json'} names classes not in classes.txt: {unknown[:5]}")
        for name, ids in by_class.items():
            rows += [(image_id, split, index[name], image_id) for image_id in ids]
    records = pd.DataFrame(rows, columns=["image_id", "split", "label", "key"])
    return FoodImages(classes, records, ArchiveReader(str(base / "images")), source)


def load_hub(name: str = "ethz/food101") -> FoodImages:
    """The hub dataset, images left encoded (decoding happens once, in preparation)."""
    import datasets

    ds = datasets.load_dataset(name)
    classes = list(ds["train"].features["label"].names)
    splits, rows = {}, []
    for hub_split, split in (("train", "train"), ("validation", "test")):
        part = ds[hub_split].cast_column("image", datasets.Image(decode=False))
        splits[split] = part
        labels = part["label"]
        rows += [(f"{classes[y]}/{split}{i:06d}", split, int(y), (split, i)) for i, y in enumerate(labels)]
    records = pd.DataFrame(rows, columns=["image_id", "split", "label", "key"])
    return FoodImages(classes, records, HubReader(splits), "hub")


def subset(images: FoodImages, per_class: int, seed: int) -> FoodImages:
    """Keep `per_class` train and `per_class // 3` test images per class, drawn with `seed`."""
    if per_class <= 0:
        return images
    take = {"train": per_class, "test": max(1, per_class // 3)}
    parts = [
        group.sample(n=min(len(group), take[split]), random_state=seed)
        for (split, _), group in images.records.groupby(["split", "label"], sort=True)
    ]
    records = pd.concat(parts).sort_values(["split", "label", "image_id"]).reset_index(drop=True)
    return FoodImages(images.classes, records, images.reader, images.source)


def load_source(params: Params) -> FoodImages:
    """The raw dataset named by `params.data_source` (generating the synthetic one if needed)."""
    if params.data_source == "hub":
        images = load_hub(params.hub_dataset)
    elif params.data_source == "archive":
        images = load_archive(params.data_root)
    else:
        synthetic.ensure(
            params.data_root,
            num_classes=params.synthetic_classes,
            train_per_class=params.synthetic_train_per_class,
            test_per_class=params.synthetic_test_per_class,
            image_size=params.synthetic_image_size,
            seed=params.seed,
            style=params.synthetic_style,
            num_workers=params.num_workers,
        )
        images = load_archive(params.data_root, source="synthetic")
    return subset(images, params.subset_per_class, params.seed)
