"""Is a saliency map faithful to the model? Deletion test and in-box mass (tensor in, tensor/table out).

Deletion (Petsiuk et al. 2018, RISE): remove patches from the most to the
least important according to the map, re-classify after each step and track
the probability of the class predicted on the intact image. A map that found
what the model uses makes that probability fall fast: a low area under the
curve. The same curve with the patches in random order is the baseline; a
map whose AUC is not below it tells the reader nothing about the model.

A removed patch is set to 0 in normalised pixel space, i.e. the dataset's
mean colour, so no new edges or colours are introduced.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from foodlib.attention.resize import resample

Predict = Callable[[torch.Tensor], torch.Tensor]  # (B, 3, H, W) normalised pixels -> (B, C) logits


def patch_order(saliency: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, h, w) map -> (B, gh*gw) patch indices on `grid`, most important first."""
    return resample(saliency, grid).flatten(1).argsort(dim=1, descending=True, stable=True)


def random_order(batch: int, num_patches: int, generator: torch.Generator) -> torch.Tensor:
    return torch.stack([torch.randperm(num_patches, generator=generator) for _ in range(batch)])


def deletion_masks(order: torch.Tensor, grid: tuple[int, int], num_steps: int) -> torch.Tensor:
    """(B, P) order -> (B, num_steps + 1, gh, gw) masks, 1 = removed; step k removes round(P*k/num_steps)."""
    b, p = order.shape
    counts = torch.round(torch.linspace(0, p, num_steps + 1)).long()  # (S,)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(p).expand(b, p))  # rank of each patch
    masks = rank[:, None, :] < counts[None, :, None]  # (B, S, P)
    return masks.float().view(b, num_steps + 1, *grid)


@torch.no_grad()
def deletion_curves(predict: Predict, pixel_values: torch.Tensor, order: torch.Tensor, grid: tuple[int, int],
                    num_steps: int = 10, target: torch.Tensor | None = None, batch_size: int = 64) -> torch.Tensor:
    """Target-class probability after each deletion step: (B, num_steps + 1); column 0 is the intact image."""
    x = pixel_values
    if target is None:
        target = predict(x).argmax(-1)
    masks = deletion_masks(order.cpu(), grid, num_steps).to(x.device)
    masks = F.interpolate(masks, size=x.shape[-2:], mode="nearest")  # (B, S, H, W)
    b, s = masks.shape[:2]
    images = (x[:, None] * (1 - masks[:, :, None])).flatten(0, 1)  # (B*S, 3, H, W); removed = 0 = mean colour
    probs = torch.cat([predict(images[i:i + batch_size]).float().softmax(-1)
                       for i in range(0, len(images), batch_size)])
    return probs.view(b, s, -1).gather(2, target.view(b, 1, 1).expand(b, s, 1).to(probs.device)).squeeze(2).cpu()


def auc(curves: torch.Tensor) -> torch.Tensor:
    """(B, S) curves over fractions 0..1 -> (B,) trapezoid area."""
    x = torch.linspace(0, 1, curves.shape[1])
    return torch.trapezoid(curves.float(), x, dim=1)


def saliency_curves(predict: Predict, pixel_values: torch.Tensor, saliency: torch.Tensor, grid: tuple[int, int],
                    target: torch.Tensor, num_steps: int = 10) -> torch.Tensor:
    """(B, num_steps + 1) deletion curves with patches removed in the map's order of importance (`auc` of it:
    the map's deletion AUC)."""
    return deletion_curves(predict, pixel_values, patch_order(saliency, grid), grid, num_steps, target)


def random_curves(predict: Predict, pixel_values: torch.Tensor, grid: tuple[int, int], target: torch.Tensor,
                  num_steps: int = 10, repeats: int = 3, seed: int = 0) -> torch.Tensor:
    """(B, num_steps + 1) deletion curves with patches removed in random order, averaged over `repeats` orders.

    The AUC is linear in the curve, so `auc` of this mean is the mean of the repeats' AUCs.
    """
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([
        deletion_curves(predict, pixel_values, random_order(len(pixel_values), grid[0] * grid[1], gen),
                        grid, num_steps, target)
        for _ in range(repeats)
    ]).mean(0)


def summarize(model_name: str, method: str, map_aucs: torch.Tensor, random_aucs: torch.Tensor) -> dict:
    """One table row: mean AUCs, their difference and how often the map beat random order."""
    m, r = map_aucs.numpy(), random_aucs.numpy()
    return {
        "model": model_name, "method": method, "n": len(m),
        "deletion_auc": float(m.mean()), "random_auc": float(r.mean()),
        "auc_gain": float((r - m).mean()),  # > 0: removing the map's patches first hurts more than random
        "beats_random": float((m < r).mean()),
    }


def box_mass(saliency: torch.Tensor, boxes: torch.Tensor, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Share of each map's mass inside its box, and the box's share of the image.

    saliency (B, h, w), upsampled to `image_size` (H, W) and clipped at 0;
    boxes (B, 4) as [x0, y0, x1, y1] inclusive pixels of that image.
    """
    s = resample(saliency, image_size).clamp(min=0)
    h, w = image_size
    ys, xs = torch.arange(h).view(1, -1, 1), torch.arange(w).view(1, 1, -1)
    b = boxes.long()
    inside = ((xs >= b[:, 0, None, None]) & (xs <= b[:, 2, None, None])
              & (ys >= b[:, 1, None, None]) & (ys <= b[:, 3, None, None])).float()
    mass = (s * inside).sum((1, 2)) / s.sum((1, 2)).clamp(min=1e-12)
    return mass.numpy(), inside.mean((1, 2)).numpy()


def box_table(rows: list[dict]) -> pd.DataFrame:
    """rows of {model, method, mass: array, area: array} -> mean in-box mass vs area per model and method."""
    return pd.DataFrame([{
        "model": r["model"], "method": r["method"], "n": len(r["mass"]),
        "mass_in_box": float(np.mean(r["mass"])), "box_area": float(np.mean(r["area"])),
        "ratio": float(np.mean(r["mass"]) / np.mean(r["area"])),
        "images_above_area": float(np.mean(np.asarray(r["mass"]) > np.asarray(r["area"]))),
    } for r in rows])
