"""Photo-like images: JPEGs that weigh, decode and resize like Food-101's, without any photo.

`photo_like` makes a picture that compresses like a food photo; `render` draws a class's
object over one, so a synthetic set at Food-101's real scale (the `rehearsal` profile) still
has a signal to learn and a box for notebook 06's in-box check. Deterministic from `rng`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from foodlib.data import shapes

# Food-101's JPEGs average about 50 KB; at quality 85 these come out at about 40-80 KB at 512 px.
JPEG_QUALITY = 85
# 10 shapes x 11 colours = 110 distinct objects >= Food-101's 101 classes.
PALETTE = [*shapes.COLOURS, (255, 150, 190)]


def photo_like(rng: np.random.Generator, max_side: int = 512,
               overlay: Callable[[Image.Image], None] | None = None) -> Image.Image:
    """A PIL image that compresses like a food photo: up to `max_side` a side (most at it, as
    in Food-101), a smooth colour field, blurred shapes, texture and sensor-like noise.
    At JPEG quality 85 files come out at about 40-80 KB (Food-101 averages about 50 KB).

    `overlay(img)`, when given, draws on the blurred picture before the texture and noise
    are added (`render` draws a class's object so); without it, a picture with nothing on it.
    """
    long = max_side if rng.random() < 0.85 else int(rng.integers(max_side * 3 // 5, max_side))
    short = int(long * rng.uniform(0.6, 1.0))
    w, h = (long, short) if rng.random() < 0.7 else (short, long)
    coarse = rng.uniform(40, 220, size=(int(rng.integers(3, 7)), int(rng.integers(3, 7)), 3)).astype(np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.float32)
    mid = rng.normal(0, 14, size=(h // 12 + 2, w // 12 + 2, 3))
    mid = np.asarray(Image.fromarray(np.clip(mid + 128, 0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC),
                     dtype=np.float32) - 128
    img = Image.fromarray(np.clip(base + mid, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(4, 12))):
        x0, y0 = rng.uniform(-0.2, 1.0) * w, rng.uniform(-0.2, 1.0) * h
        s = rng.uniform(0.08, 0.5) * min(w, h)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x0 + s, y0 + s * rng.uniform(0.5, 1.5)), fill=colour)
        else:
            pts = [(x0 + s * rng.uniform(0, 1), y0 + s * rng.uniform(0, 1)) for _ in range(int(rng.integers(3, 7)))]
            draw.polygon(pts, fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.6, 1.5))))
    if overlay is not None:
        overlay(img)
    arr = np.asarray(img, dtype=np.float32)
    fine = rng.normal(0, 1, size=(h // 2 + 1, w // 2 + 1, 1)) * rng.uniform(6, 14)
    fine = np.repeat(np.repeat(fine, 2, 0), 2, 1)[:h, :w]
    arr = arr + fine + rng.normal(0, rng.uniform(2, 5), size=arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def class_object(label: int) -> tuple[str, tuple[int, int, int]]:
    """The (shape, colour) that stands for class `label`: distinct for labels 0..109."""
    return shapes.SHAPES[label % len(shapes.SHAPES)], PALETTE[(label // len(shapes.SHAPES)) % len(PALETTE)]


def render(label: int, rng: np.random.Generator, max_side: int) -> tuple[Image.Image, list[int]]:
    """A photo-like image with class `label`'s object on it, and the object's box [x0, y0, x1, y1]."""
    box: list[int] = []

    def draw_object(img: Image.Image) -> None:
        w, h = img.size
        side = int(min(w, h) * rng.uniform(0.3, 0.45))
        x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        shape, colour = class_object(label)
        colour = tuple(int(np.clip(c + d, 0, 255)) for c, d in zip(colour, rng.normal(0, 12, 3)))
        shapes.draw_shape(ImageDraw.Draw(img), shape, (x0, y0, x0 + side - 1, y0 + side - 1), colour)
        box.extend([x0, y0, x0 + side, y0 + side])

    return photo_like(rng, max_side, overlay=draw_object), box
