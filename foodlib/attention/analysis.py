"""What notebook 06 computes over the three models: the deletion test, the galleries, every head, the in-box check.

Each function takes the `Explainer`s of `explain.load_explainers` and returns a
table or the rows a figure of `foodlib.attention.plots` draws.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from foodlib import artifacts
from foodlib.attention import faithfulness, plots, vit
from foodlib.attention.catalogue import test_paths
from foodlib.attention.explain import Explainer, load_eval_images
from foodlib.attention.resize import load_resized
from foodlib.config import Params
from foodlib.data import synthetic
from foodlib.data.prepare import Prepared, load_prepared



@dataclass
class Inputs:
    """What notebook 06 reads from 01 and 05: the prepared data and the disagreement examples."""

    prepared: Prepared
    shown: pd.DataFrame  # tables/disagreements.csv: the first num_examples of each set

    @property
    def test_ids(self) -> list[str]:
        return self.prepared.split("test")["image_id"].tolist()


def check_inputs(params: Params) -> Inputs:
    """The disagreement examples of 05 and the prepared data of 01; fails naming the notebook to run first."""
    shown = artifacts.read_disagreements(params)
    return Inputs(load_prepared(params), shown)


def describe(explainers: dict[str, Explainer]) -> dict[str, str]:
    """Per model: its input size, the grid its maps are on, and its methods."""
    return {name: f"{ex.image_size}px, map grid {ex.deletion_grid}, methods {', '.join(ex.methods)}"
            for name, ex in explainers.items()}


def spread(ids: Sequence[str], n: int) -> list[str]:
    """`n` ids evenly spaced through `ids` (the test split is ordered by class, so this covers the classes)."""
    if n >= len(ids):
        return list(ids)
    return [ids[int(i)] for i in np.linspace(0, len(ids) - 1, n).round()]


def deletion_images(explainers: dict[str, Explainer], prepared: Prepared, image_ids: Sequence[str]
                    ) -> dict[str, torch.Tensor]:
    """Per model, the test images `image_ids` through its own eval transform: (N, 3, S, S)."""
    paths = test_paths(prepared, image_ids)
    return {name: load_eval_images(paths, ex) for name, ex in explainers.items()}


def deletion_table(explainers: dict[str, Explainer], images: dict[str, torch.Tensor], num_steps: int,
                   batch_size: int = 16, seed: int = 0) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Deletion AUC per model and method against random order; also the mean curves for a figure."""
    rows, curves = [], {}
    for name, ex in explainers.items():
        x = images[name].to(ex.device)
        with torch.no_grad():
            target = torch.cat([ex.predict(x[i:i + batch_size]).argmax(-1) for i in range(0, len(x), batch_size)])
        rand = faithfulness.random_curves(ex.predict, x, ex.deletion_grid, target, num_steps, seed=seed)
        curves[f"{name} random"] = rand
        for method in ex.methods:
            sal = vit.batched(lambda b: ex.map(b, method), x, batch_size)
            c = faithfulness.saliency_curves(ex.predict, x, sal, ex.deletion_grid, target, num_steps)
            curves[f"{name} {method}"] = c
            rows.append(faithfulness.summarize(name, method, faithfulness.auc(c), faithfulness.auc(rand)))
    return pd.DataFrame(rows), curves


def best_methods(table: pd.DataFrame) -> dict[str, str]:
    """Per model, the method whose map hurt the prediction most when deleted first (largest AUC gain)."""
    best = table.sort_values("auc_gain", ascending=False, kind="stable").groupby("model", sort=False).head(1)
    return dict(zip(best["model"], best["method"]))


def gallery_rows(explainers: dict[str, Explainer], shown: pd.DataFrame, paths: Sequence[Path],
                 methods: dict[str, str]) -> list[dict]:
    """Rows for `plots.gallery`: each model's map for the class it predicted, on its own input image."""
    rows = [{"label": int(r.label), "images": {}, "maps": {}, "pred": {}, "conf": {}, "method": methods}
            for r in shown.itertuples()]
    if not rows:
        return rows
    for name, ex in explainers.items():
        x = load_eval_images(paths, ex)
        target = torch.tensor(shown[f"pred_{name}"].to_numpy(), dtype=torch.long)
        maps = ex.map(x, methods[name], target.to(ex.device))
        for i, row in enumerate(rows):
            row["images"][name] = plots.to_image(x[i], ex.mean, ex.std)
            row["maps"][name] = maps[i]
            row["pred"][name] = int(shown[f"pred_{name}"].iloc[i])
            row["conf"][name] = float(shown[f"conf_{name}"].iloc[i])
    for row in rows:
        row["image"] = next(iter(row["images"].values()))
    return rows


def gallery_figure(set_name: str, explainers: dict[str, Explainer], inputs: Inputs, methods: dict[str, str],
                   num_examples: int):
    """The gallery of one disagreement set: its first `num_examples` images, each model's map by `methods`."""
    rows = inputs.shown[inputs.shown["set"] == set_name].sort_values("rank").head(num_examples)
    gallery = gallery_rows(explainers, rows, test_paths(inputs.prepared, rows["image_id"]), methods)
    rule = artifacts.describe_set(set_name)  # e.g. "clip is right and vit is wrong"
    return plots.gallery(gallery, list(explainers), inputs.prepared.classes,
                         f"{set_name}: {rule} ({len(rows)} shown)", empty=f"no test image where {rule}")


def head_example(explainers: dict[str, Explainer], path: str | Path) -> tuple[dict, dict]:
    """For `plots.head_grid`: each model's own input image (H, W, 3) and its per-head maps (heads, h, w)."""
    images, heads = {}, {}
    for name, ex in explainers.items():
        x = load_eval_images([path], ex)  # the model's own resize, crop and normalisation
        images[name] = plots.to_image(x[0], ex.mean, ex.std)
        heads[name] = ex.head_maps(x)[0]
    return images, heads


def heads_figure(explainers: dict[str, Explainer], inputs: Inputs):
    """Every last-layer head of each model on one image: the first of the first non-empty disagreement set
    (or the first test image when every set is empty)."""
    example = inputs.shown.sort_values(["set", "rank"]).head(1)
    if len(example) == 0:
        example = inputs.prepared.split("test").head(1)
    image_id = example["image_id"].iloc[0]
    images, heads = head_example(explainers, test_paths(inputs.prepared, [image_id])[0])
    return plots.head_grid(images, heads, f"{image_id}: last layer, every head")


def off_diagonal(objects: dict[str, dict], image_ids: Sequence[str], min_offset: float = 0.3) -> list[str]:
    """Ids whose box centre is at least `min_offset` (in image fractions) off the main diagonal.

    A map drawn transposed (rows for columns) would then miss the box.
    """
    keep = []
    for i in image_ids:
        o = objects[i]
        x0, y0, x1, y1 = o["box"]
        cx, cy = (x0 + x1) / 2 / o["width"], (y0 + y1) / 2 / o["height"]
        if abs(cx - cy) >= min_offset:
            keep.append(i)
    return keep


def in_box_table(explainers: dict[str, Explainer], objects: dict[str, dict], image_ids: Sequence[str],
                 original_paths: Sequence[Path], batch_size: int = 16) -> pd.DataFrame:
    """Share of each map's mass inside the object's box, per model and method, vs the box's share of the image.

    Images are resized straight to the model's input (no crop), so the boxes map exactly (`load_resized`).
    """
    rows = []
    boxes = [objects[i]["box"] for i in image_ids]
    for name, ex in explainers.items():
        x, b = load_resized(original_paths, boxes, ex.image_size, ex.mean, ex.std)
        for method in ex.methods:
            sal = vit.batched(lambda chunk: ex.map(chunk, method), x, batch_size)
            mass, area = faithfulness.box_mass(sal, b, (ex.image_size, ex.image_size))
            rows.append({"model": name, "method": method, "mass": mass, "area": area})
    return faithfulness.box_table(rows)


def in_box(params: Params, explainers: dict[str, Explainer], image_ids: Sequence[str]) -> pd.DataFrame | None:
    """On synthetic data, `in_box_table` over those of `image_ids` whose box lies off the diagonal, read from the
    generator's original files; None on real data, which records no boxes."""
    if params.data_source != "synthetic":
        return None
    objects = synthetic.load_objects(params.data_root)
    ids = off_diagonal(objects, [i for i in image_ids if i in objects])
    return in_box_table(explainers, objects, ids, synthetic.image_paths(params.data_root, ids))
