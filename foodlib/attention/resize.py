"""Resizing in notebook 06: maps to another grid or onto their image, and images straight to a model's input.

A map is (B, h, w) on its model's own grid; the deletion test resamples it to the patch grid it removes,
figures upsample it to the image they draw it over, and the in-box check resizes images straight (no crop)
so that a recorded box maps exactly.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def resample(saliency: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, h, w) -> (B, H, W), bilinear (area when shrinking), for maps of any grid."""
    s = saliency.float().unsqueeze(1)
    mode = "area" if size[0] < s.shape[-2] else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(s, size=size, mode=mode, **kwargs).squeeze(1)


def upsample(saliency: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(h, w) map -> (H, W) in [0, 1] (min-max scaled), bilinear."""
    s = resample(saliency.detach().cpu()[None], size)[0]
    s = s - s.min()
    return (s / s.max().clamp(min=1e-12)).numpy()


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
