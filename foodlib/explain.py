"""One interface over the three models for notebook 06: predict, map, per-head maps, images.

An `Explainer` holds a model with its preprocessing and the map methods that
apply to it: ViT and CLIP (class token) get `foodlib.attention`'s methods,
Swin V2 (windows, no class token) gets `foodlib.swinmaps`'. Every map is
(B, h, w) on the model's own grid; figures upsample it to the image.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from foodlib import attention, attention_plots, faithfulness, swinmaps
from foodlib.config import Params
from foodlib.data.loader import decode_rgb, eval_transform

CLASS_TOKEN_METHODS = ("cls", "rollout", "relevancy")


@dataclass
class Explainer:
    name: str  # registry name: vit | swin | clip
    model: torch.nn.Module  # HF classifier (eager attention) or attention.ClipClassifier
    image_size: int
    mean: Sequence[float]
    std: Sequence[float]
    eval_transform: Callable | None = None  # uint8 (3, H, W) -> normalised (3, S, S); default: foodlib's eval transform
    rollout_discard_ratio: float = 0.0
    kind: str = field(init=False)

    def __post_init__(self):
        self.model.eval()
        self.kind = "swin" if hasattr(self.model, "swinv2") else "class_token"

    @property
    def methods(self) -> tuple[str, ...]:
        return swinmaps.METHODS if self.kind == "swin" else CLASS_TOKEN_METHODS

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def predict(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, C) logits."""
        x = pixel_values.to(self.device)
        if isinstance(self.model, attention.ClipClassifier):
            return self.model(x).float()
        return self.model(pixel_values=x).logits.float()

    def map(self, pixel_values: torch.Tensor, method: str, target: torch.Tensor | None = None) -> torch.Tensor:
        """(B, h, w) map by `method` (one of `self.methods`), on the CPU."""
        x = pixel_values.to(self.device)
        if self.kind == "swin":
            return swinmaps.swin_map(self.model, x, method, target).cpu()
        return attention.attention_map(self.model, x, method, target,
                                       discard_ratio=self.rollout_discard_ratio).detach().cpu()

    def head_maps(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, heads, h, w): last-layer class-token attention per head (Swin: attention received in the last block)."""
        x = pixel_values.to(self.device)
        with torch.no_grad():
            if self.kind == "swin":
                maps, _ = swinmaps.swin_attentions(self.model, x)
                last = swinmaps.block_geometry(self.model.config)[-1]
                return maps[-1].mean(2).reshape(len(x), -1, last.height, last.width).cpu()
            atts, _ = attention.attentions_and_logits(self.model, x)
            return attention.cls_attention(atts, attention.grid_of(self.model)).cpu()

    @property
    def deletion_grid(self) -> tuple[int, int]:
        """Patches removed in the deletion test: the model's own token grid (Swin: its first stage)."""
        if self.kind == "swin":
            g = swinmaps.block_geometry(self.model.config)[0]
            return g.height, g.width
        return attention.grid_of(self.model)

    def transform(self) -> Callable:
        return self.eval_transform or eval_transform(self.image_size, self.mean, self.std)


def load_explainers(params: Params, classes: Sequence[str], device: str = "cpu") -> dict[str, Explainer]:
    """Every registered model as notebook 05 compares it, with attention it can read.

    The fine-tuned checkpoints load with eager attention (Hugging Face returns
    attention weights only then); CLIP is scored against the class embeddings of
    `params.clip_prompt_set`, the prompt set whose predictions notebook 04 saved,
    so its maps explain the predictions of 05. Each keeps its own preprocessing.
    """
    from foodlib import models, zeroshot

    out = {}
    for name in models.available():
        model, pre = models.load_final(name, params, classes, device=device, attn_implementation="eager")
        if not models.spec(name).trainable:  # zero-shot: a classifier over the class prompts
            text = zeroshot.text_features(model, classes, zeroshot.prompt_sets()[params.clip_prompt_set], device)
            model = attention.ClipClassifier(model, text)
        out[name] = Explainer(name, model, pre.image_size, pre.mean, pre.std, pre.eval(), params.rollout_discard_ratio)
    return out


def load_eval_images(paths: Sequence[str | Path], explainer: Explainer) -> torch.Tensor:
    """(N, 3, S, S) images through the model's own eval transform."""
    t = explainer.transform()
    return torch.stack([t(decode_rgb(p)) for p in paths])


def load_resized(paths: Sequence[str | Path], boxes: Sequence[Sequence[float]], size: int, mean, std
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images resized straight to (size, size), no crop, with their [x0, y0, x1, y1] boxes mapped alike.

    One scale per axis, so a box maps exactly: x * size / width, y * size / height.
    """
    xs, out_boxes = [], []
    m, s = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    for path, (x0, y0, x1, y1) in zip(paths, boxes):
        img = Image.open(path).convert("RGB")
        sx, sy = size / img.width, size / img.height
        arr = np.asarray(img.resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0
        xs.append((torch.from_numpy(arr).permute(2, 0, 1) - m) / s)
        # Box ends are exclusive pixel edges (x0 + side); the last pixel inside is (end * scale) - 1.
        out_boxes.append([x0 * sx, y0 * sy, max(x0 * sx, x1 * sx - 1), max(y0 * sy, y1 * sy - 1)])
    return torch.stack(xs), torch.tensor(out_boxes).round()


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
            sal = attention.batched(lambda b: ex.map(b, method), x, batch_size)
            order = faithfulness.patch_order(sal, ex.deletion_grid)
            c = faithfulness.deletion_curves(ex.predict, x, order, ex.deletion_grid, num_steps, target)
            curves[f"{name} {method}"] = c
            rows.append(faithfulness.summarize(name, method, faithfulness.auc(c), faithfulness.auc(rand)))
    return pd.DataFrame(rows), curves


def best_methods(table: pd.DataFrame) -> dict[str, str]:
    """Per model, the method whose map hurt the prediction most when deleted first (largest AUC gain)."""
    best = table.sort_values("auc_gain", ascending=False, kind="stable").groupby("model", sort=False).head(1)
    return dict(zip(best["model"], best["method"]))


def test_paths(prepared, image_ids: Sequence[str]) -> list[Path]:
    """Cached image files of test images, in the order of `image_ids`."""
    rows = prepared.split("test").set_index("image_id")
    return [prepared.path(rows.loc[i, "path"]) for i in image_ids]


def spread(ids: Sequence[str], n: int) -> list[str]:
    """`n` ids evenly spaced through `ids` (the test split is ordered by class, so this covers the classes)."""
    if n >= len(ids):
        return list(ids)
    return [ids[int(i)] for i in np.linspace(0, len(ids) - 1, n).round()]


def head_example(explainers: dict[str, Explainer], path: str | Path) -> tuple[dict, dict]:
    """For `attention_plots.head_grid`: each model's own input image (H, W, 3) and its per-head maps (heads, h, w)."""
    images, heads = {}, {}
    for name, ex in explainers.items():
        x = load_eval_images([path], ex)  # the model's own resize, crop and normalisation
        images[name] = attention_plots.to_image(x[0], ex.mean, ex.std)
        heads[name] = ex.head_maps(x)[0]
    return images, heads


def gallery_rows(explainers: dict[str, Explainer], shown: pd.DataFrame, paths: Sequence[Path],
                 methods: dict[str, str]) -> list[dict]:
    """Rows for `attention_plots.gallery`: each model's map for the class it predicted, on its own input image."""
    rows = [{"label": int(r.label), "images": {}, "maps": {}, "pred": {}, "conf": {}, "method": methods}
            for r in shown.itertuples()]
    if not rows:
        return rows
    for name, ex in explainers.items():
        x = load_eval_images(paths, ex)
        target = torch.tensor(shown[f"pred_{name}"].to_numpy(), dtype=torch.long)
        maps = ex.map(x, methods[name], target.to(ex.device))
        for i, row in enumerate(rows):
            row["images"][name] = attention_plots.to_image(x[i], ex.mean, ex.std)
            row["maps"][name] = maps[i]
            row["pred"][name] = int(shown[f"pred_{name}"].iloc[i])
            row["conf"][name] = float(shown[f"conf_{name}"].iloc[i])
    for row in rows:
        row["image"] = next(iter(row["images"].values()))
    return rows


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
            sal = attention.batched(lambda chunk: ex.map(chunk, method), x, batch_size)
            mass, area = faithfulness.box_mass(sal, b, (ex.image_size, ex.image_size))
            rows.append({"model": name, "method": method, "mass": mass, "area": area})
    return faithfulness.box_table(rows)
