"""A catalogue of Food-101's size (25,250 test images, 101 classes, three models, 05's sets) made up for the
explorer's tests and its benchmark (tools/explorer_bench.py), without models or a prepared dataset."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from foodlib.attention import catalogue
from foodlib.data import synthetic

MODELS = ("vit", "swin", "clip")
PER_CLASS = 250  # Food-101's test images per class


def fabricate(folder: Path, seed: int = 0) -> catalogue.Catalogue:
    """25,250 test rows over Food-101's 101 classes (every row's file is one small JPEG written under
    `folder`), each model's predictions and probabilities, and three disagreement sets (one of them empty)."""
    rng = np.random.default_rng(seed)
    classes = synthetic.FOOD101_CLASSES
    labels = np.repeat(np.arange(len(classes)), PER_CLASS)
    ids = [f"{classes[c]}/{100000 + i}" for i, c in enumerate(labels)]
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), (200, 120, 40)).save(folder / "image.jpg")
    test = pd.DataFrame({"label": labels, "path": str(folder / "image.jpg")}, index=pd.Index(ids, name="image_id"))
    preds, right = {}, {}
    for m in MODELS:
        pred = np.where(rng.random(len(ids)) < 0.85, labels, rng.integers(0, len(classes), len(ids)))
        probs = rng.dirichlet(np.ones(len(classes)), len(ids)).astype(np.float32)
        probs[np.arange(len(ids)), pred] += 1.0
        probs /= probs.sum(1, keepdims=True)
        preds[m] = pd.DataFrame({"pred": pred, "probs": list(probs)}, index=test.index)
        right[m] = pred == labels
    sets = {"clip_right_vit_wrong": right["clip"] & ~right["vit"], "swin_only": right["swin"] & ~right["vit"]
            & ~right["clip"], "vit_only": np.zeros(len(ids), bool)}
    members = pd.concat([pd.DataFrame({"set": name, "rank": np.arange(mask.sum()), "image_id": np.asarray(ids)[mask]})
                         for name, mask in sets.items()], ignore_index=True)
    return catalogue.Catalogue(list(classes), test, preds, members, {s: int(m.sum()) for s, m in sets.items()})
