"""What the explorer browses: the test images, the models' predictions and 05's disagreement sets.

`Catalogue` joins 01's test split, the test predictions of 02-04 (`predictions/<model>.parquet`) and 05's
disagreement sets (read through `foodlib.artifacts`). A selection (all test images, one set, one true class)
is shown a page at a time, so no list a person scrolls is longer than PAGE_SIZE at Food-101's size (25,250
test images, 101 classes); any image is reached by its id (`find`) or at random (`random_image`). Pure pandas:
no widgets and no models here (`explore` draws).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from foodlib import artifacts
from foodlib.config import Params
from foodlib.data.prepare import Prepared, load_prepared

PAGE_SIZE = 50  # images per page of the image list: a dropdown a person can scroll (25,250 would not be)
# The disagreement sets of notebook 05 that 06 draws a gallery of: zero-shot CLIP against the first
# fine-tuned model both ways, and the images only Swin V2 gets right.
GALLERY_SETS = ("clip_right_vit_wrong", "vit_right_clip_wrong", "swin_only")


@dataclass
class Catalogue:
    """The test images with their labels, the models' predictions and 05's disagreement sets."""

    classes: list[str]
    test: pd.DataFrame  # indexed by image_id, in the split's order: label, path (the source file scored)
    preds: dict[str, pd.DataFrame]  # per model, indexed by image_id: pred, probs (one per class)
    members: pd.DataFrame  # every member of every disagreement set: set, rank, image_id
    set_sizes: dict[str, int]  # every disagreement set of 05, in 05's order, empty ones included

    def browse_options(self) -> list[tuple[str, str]]:
        """(label, key) of what can be browsed: all test images, each disagreement set, each true class."""
        per_class = self.test["label"].value_counts()
        return [(f"all test images ({len(self.test):,})", "all"),
                *[(f"set {s}: {artifacts.describe_set(s, list(self.preds))} ({n:,})", f"set:{s}")
                  for s, n in self.set_sizes.items()],
                *[(f"class {c} ({per_class.get(i, 0):,})", f"class:{i}") for i, c in enumerate(self.classes)]]

    def canonical(self, key: str) -> str:
        """A browse key as the browse list spells it: 'class:apple_pie' and 'class:007' -> 'class:0', 'class:7'."""
        kind, _, value = key.partition(":")
        if kind == "class" and value in self.classes:
            return f"class:{self.classes.index(value)}"
        return f"class:{int(value)}" if kind == "class" and value.isdigit() else key

    def select(self, key: str) -> list[str]:
        """Image ids of a browse key ('all', 'set:<name>' by rank, 'class:<index>' or 'class:<name>' in test order)."""
        kind, _, value = self.canonical(key).partition(":")
        if kind == "all":
            return self.test.index.tolist()
        if kind == "set" and value in self.set_sizes:
            return self.members[self.members["set"] == value].sort_values("rank")["image_id"].tolist()
        if kind == "class" and value.isdigit() and int(value) < len(self.classes):
            return self.test.index[self.test["label"] == int(value)].tolist()
        raise ValueError(f"nothing to browse as {key!r}: use 'all', 'set:<name>' (one of {', '.join(self.set_sizes)}), "
                         f"'class:<index>' (0 to {len(self.classes) - 1}) or 'class:<name>'")

    def describe(self, key: str) -> str:
        """A browse key in words: 'all test images', 'class apple_pie', 'set clip_only'."""
        kind, _, value = key.partition(":")
        if kind == "class":
            return f"class {self.classes[int(value)]}"
        return f"set {value}" if kind == "set" else "all test images"

    def empty_text(self, key: str) -> str:
        """What an empty selection shows instead of a figure."""
        kind, _, value = key.partition(":")
        if kind == "set":
            return f"No test image where {artifacts.describe_set(value, list(self.preds))}: pick another set."
        return f"No test image in {self.describe(key)}."

    def default_key(self) -> str:
        """The first non-empty gallery set of 06, else all test images."""
        return next((f"set:{s}" for s in GALLERY_SETS if self.set_sizes.get(s)), "all")

    def find(self, image_id: str, key: str, ids: Sequence[str]) -> str | None:
        """Where to show `image_id`: `key` when its selection `ids` (`select(key)`) holds it, else its true
        class; None if no test image has that id (surrounding spaces ignored)."""
        image_id = image_id.strip()
        if image_id not in self.test.index:
            return None
        return key if image_id in ids else f"class:{self.label(image_id)}"

    def label(self, image_id: str) -> int:
        return int(self.test.at[image_id, "label"])

    def prediction(self, model_name: str, image_id: str) -> tuple[int, float]:
        """(predicted class, its probability) as the model's prediction file has them."""
        row = self.preds[model_name].loc[image_id]
        return int(row["pred"]), float(row["probs"][int(row["pred"])])

    def top5(self, model_name: str, image_id: str) -> tuple[list[int], list[float]]:
        """The five most probable classes (most probable first) and their probabilities."""
        probs = np.asarray(self.preds[model_name].loc[image_id, "probs"], dtype=float)
        order = np.argsort(-probs, kind="stable")[:5]
        return order.tolist(), probs[order].tolist()

    def image_text(self, image_id: str) -> str:
        """'<id> · true <class> · vit <class> · ...': what the image list shows."""
        preds = " · ".join(f"{m} {self.classes[self.prediction(m, image_id)[0]]}" for m in self.preds)
        return f"{image_id} · true {self.classes[self.label(image_id)]} · {preds}"

    def path(self, image_id: str) -> Path:
        return Path(self.test.at[image_id, "path"])


def pages(ids: Sequence[str]) -> int:
    """Pages of PAGE_SIZE a selection takes (at least 1, so an empty selection has an empty first page)."""
    return max(1, math.ceil(len(ids) / PAGE_SIZE))


def page_of(ids: Sequence[str], image_id: str) -> int:
    """The page (from 1) that holds `image_id`."""
    return list(ids).index(image_id) // PAGE_SIZE + 1


def page_ids(ids: Sequence[str], page: int) -> list[str]:
    """The ids on page `page` (from 1) of a selection."""
    return list(ids[(page - 1) * PAGE_SIZE: page * PAGE_SIZE])


def test_paths(prepared: Prepared, image_ids: Sequence[str]) -> list[Path]:
    """The source files of test images (what the models are scored on), in the order of `image_ids`."""
    rows = prepared.split("test").set_index("image_id")
    return [prepared.path(rows.loc[i, "source"]) for i in image_ids]


def load_catalogue(params: Params, model_names: Sequence[str], prepared: Prepared | None = None) -> Catalogue:
    """The catalogue of a run: 01's test split, the predictions of `model_names`, 05's disagreement sets.

    Fails naming the notebook to run first when an input is missing.
    """
    prepared = prepared or load_prepared(params)
    test = prepared.split("test").set_index("image_id")[["label"]].copy()
    test["path"] = [str(p) for p in prepared.eval_paths("test")]  # `test` is in the split's order
    preds = {}
    for name in model_names:
        df = artifacts.read_predictions(name, params).set_index("image_id")
        if set(df.index) != set(test.index):
            raise ValueError(f"predictions/{name}.parquet covers other images than 01's test split: rerun its notebook")
        if (df.loc[test.index, "label"].to_numpy() != test["label"].to_numpy()).any():
            raise ValueError(f"predictions/{name}.parquet has other labels than 01's test split: rerun its notebook")
        preds[name] = df[["pred", "probs"]]
    members = artifacts.read_disagreement_members(params)[["set", "rank", "image_id"]]
    return Catalogue(list(prepared.classes), test, preds, members, artifacts.read_disagreement_sizes(params))
