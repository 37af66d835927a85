"""The naive input path the pipeline benchmark compares against: PIL + ViTImageProcessor per image."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from foodlib.bench.common import MEAN, STD


def hf_processor(size: int = 224):
    """ViTImageProcessor with google/vit-base-patch16-224-in21k's values, built locally (no hub)."""
    from transformers import ViTImageProcessor

    return ViTImageProcessor(do_resize=True, size={"height": size, "width": size}, do_rescale=True,
                             rescale_factor=1 / 255, do_normalize=True, image_mean=list(MEAN), image_std=list(STD))


def naive_load(path: str | Path, processor) -> Any:
    """What the HF tutorial does per image: PIL open, convert to RGB, run the processor."""
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB")
    return processor(rgb, return_tensors="pt")["pixel_values"][0]


class NaiveImages:
    """Dataset of the original JPEGs through `naive_load` (picklable for DataLoader workers)."""

    def __init__(self, paths: list[Path], size: int = 224):
        self.paths, self.size = [str(p) for p in paths], size
        self.processor = None  # built in the worker that first reads

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        if self.processor is None:
            self.processor = hf_processor(self.size)
        return naive_load(self.paths[i], self.processor), 0
