"""What the explorer browses, and the maps it has computed.

`Catalogue` joins 01's test split, the test predictions of 02-04
(`predictions/<model>.parquet`) and 05's disagreement sets; `MapCache`
computes a map the first time a view asks for it, on its explainer's device,
and keeps it per (image, model, method, head).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from foodlib import artifacts, compare
from foodlib.attention import plots
from foodlib.attention.analysis import GALLERY_SETS, test_paths
from foodlib.attention.explain import Explainer, load_eval_images
from foodlib.config import Params
from foodlib.data.loader import decode_source
from foodlib.data.prepare import Prepared, load_prepared

COUNTS_FILE = "disagreement_counts.csv"  # 05: the size of every disagreement set, empty ones included
METHOD_TEXT = {
    "cls": "cls: last-layer class-token attention", "rollout": "rollout: attention rollout",
    "relevancy": "relevancy (Chefer et al. 2021)", "head": "head: one last-layer head",
    "last_stage": "last_stage: attention the last block receives", "gradcam": "gradcam: Grad-CAM, last stage",
}


def view_methods(ex: Explainer) -> tuple[str, ...]:
    """The explorer's methods for a model: its maps and, for a class-token model, one last-layer head."""
    return (*ex.methods, "head") if ex.kind == "class_token" else tuple(ex.methods)


def check_method(model_name: str, method: str, ex: Explainer) -> str:
    """`method` if `ex` has it, else a ValueError naming it and the valid ones."""
    valid = view_methods(ex)
    if method not in valid:
        raise ValueError(f"unknown method {method!r} for {model_name}: choose one of {', '.join(valid)}")
    return method


@dataclass
class Catalogue:
    """The test images with their labels, the three models' predictions and 05's disagreement sets."""

    classes: list[str]
    test: pd.DataFrame  # indexed by image_id, in the split's order: label, path (the source file scored)
    preds: dict[str, pd.DataFrame]  # per model, indexed by image_id: pred, probs (one per class)
    members: pd.DataFrame  # every member of every disagreement set: set, rank, image_id
    set_sizes: dict[str, int]  # every disagreement set of 05, in 05's order, empty ones included

    def browse_options(self) -> list[tuple[str, str]]:
        """(label, key) of what can be browsed: all test images, each disagreement set, each true class."""
        per_class = self.test["label"].value_counts()
        return [(f"all test images ({len(self.test)})", "all"),
                *[(f"set {s}: {compare.describe_set(s)} ({n})", f"set:{s}") for s, n in self.set_sizes.items()],
                *[(f"class {c} ({per_class.get(i, 0)})", f"class:{i}") for i, c in enumerate(self.classes)]]

    def select(self, key: str) -> list[str]:
        """Image ids of a browse key ('all', 'set:<name>' by rank, 'class:<index>' in test order)."""
        kind, _, value = key.partition(":")
        if kind == "all":
            return self.test.index.tolist()
        if kind == "set" and value in self.set_sizes:
            return self.members[self.members["set"] == value].sort_values("rank")["image_id"].tolist()
        if kind == "class" and value.isdigit() and int(value) < len(self.classes):
            return self.test.index[self.test["label"] == int(value)].tolist()
        raise ValueError(f"nothing to browse as {key!r}: use 'all', 'set:<name>' (one of "
                         f"{', '.join(self.set_sizes)}) or 'class:<index>' (0 to {len(self.classes) - 1})")

    def empty_text(self, key: str) -> str:
        """What an empty selection shows instead of a figure."""
        kind, _, value = key.partition(":")
        if kind == "set":
            return f"No test image where {compare.describe_set(value)}: pick another set."
        return f"No test image in {key}."

    def default_key(self) -> str:
        """The first non-empty gallery set of 06, else all test images."""
        return next((f"set:{s}" for s in GALLERY_SETS if self.set_sizes.get(s)), "all")

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
        """'<id> · true <class> · vit <class> · ...': what the image selector shows."""
        preds = " · ".join(f"{m} {self.classes[self.prediction(m, image_id)[0]]}" for m in self.preds)
        return f"{image_id} · true {self.classes[self.label(image_id)]} · {preds}"

    def path(self, image_id: str) -> Path:
        return Path(self.test.at[image_id, "path"])


def load_catalogue(params: Params, model_names: Sequence[str], prepared: Prepared | None = None) -> Catalogue:
    """The catalogue of a run: 01's test split, the predictions of `model_names`, 05's disagreement sets.

    Fails naming the notebook to run first when an input is missing.
    """
    prepared = prepared or load_prepared(params)
    test = prepared.split("test").set_index("image_id")[["label"]].copy()
    test["path"] = [str(p) for p in test_paths(prepared, test.index)]
    preds = {}
    for name in model_names:
        df = artifacts.read_predictions(name, params).set_index("image_id")
        if set(df.index) != set(test.index):
            raise ValueError(f"predictions/{name}.parquet covers other images than 01's test split: rerun its notebook")
        if (df.loc[test.index, "label"].to_numpy() != test["label"].to_numpy()).any():
            raise ValueError(f"predictions/{name}.parquet has other labels than 01's test split: rerun its notebook")
        preds[name] = df[["pred", "probs"]]
    counts = pd.read_csv(artifacts.require(params.subdir("tables") / COUNTS_FILE, "05_comparison"))
    sizes = {r.set: int(r.count) for r in counts.itertuples() if r.kind != "all"}
    members = compare.load_disagreement_members(params)[["set", "rank", "image_id"]]
    return Catalogue(list(prepared.classes), test, preds, members, sizes)


@dataclass
class MapCache:
    """Maps computed on demand, kept per (image, model, method, head); inputs kept per (image, model)."""

    catalogue: Catalogue
    explainers: dict[str, Explainer]
    maps: dict[tuple, torch.Tensor] = field(default_factory=dict)  # -> (h, w) on the CPU
    inputs: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict)  # -> (1, 3, S, S)

    def input(self, image_id: str, model_name: str) -> torch.Tensor:
        """The image through the model's own eval transform, as it was scored: (1, 3, S, S)."""
        key = (image_id, model_name)
        if key not in self.inputs:
            self.inputs[key] = load_eval_images([self.catalogue.path(image_id)], self.explainers[model_name])
        return self.inputs[key]

    def image(self, image_id: str, model_name: str) -> np.ndarray:
        """The model's own input crop as an (S, S, 3) picture."""
        ex = self.explainers[model_name]
        return plots.to_image(self.input(image_id, model_name)[0], ex.mean, ex.std)

    def source(self, image_id: str) -> np.ndarray:
        """The test image as decoded from its source file: (H, W, 3) uint8."""
        return np.asarray(decode_source(self.catalogue.path(image_id)))

    def map(self, image_id: str, model_name: str, method: str, head: int = 0) -> torch.Tensor:
        """(h, w) map of `model_name` by `method` for the class it predicted; `head` only for 'head'."""
        ex = self.explainers[model_name]
        check_method(model_name, method, ex)
        key = (image_id, model_name, method, head if method == "head" else None)
        if key not in self.maps:
            x = self.input(image_id, model_name).to(ex.device)
            if method == "head":  # one forward gives every head: keep them all
                for h, m in enumerate(ex.head_maps(x)[0]):
                    self.maps[(image_id, model_name, "head", h)] = m
            else:
                target = torch.tensor([self.catalogue.prediction(model_name, image_id)[0]], device=ex.device)
                self.maps[key] = ex.map(x, method, target)[0]
        if key not in self.maps:
            raise ValueError(f"{model_name} has {ex.num_heads} heads (0 to {ex.num_heads - 1}), not head {head}")
        return self.maps[key]
