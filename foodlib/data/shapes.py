"""Small images of one coloured shape per class on a textured background (the smoke profile's style).

Moved unchanged from `foodlib.data.synthetic`: the generator draws these from one random
stream, so any change here changes every file of the smoke archive (tests/test_data.py pins
its digest).
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES = ["disc", "square", "triangle", "cross", "ring", "diamond", "bar", "star", "hexagon", "half_disc"]
COLOURS = [
    (220, 40, 40), (40, 170, 60), (40, 80, 220), (240, 200, 30), (200, 60, 200),
    (30, 200, 210), (250, 130, 20), (120, 60, 20), (250, 250, 250), (20, 20, 20),
]


def background(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Muted low-frequency colour noise plus faint stripes: texture without a class cue."""
    base = rng.uniform(90, 170, size=3)
    coarse = rng.normal(0, 28, size=(h // 8 + 2, w // 8 + 2, 3))
    noise = np.asarray(
        Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC),
        dtype=np.float32,
    ) - 128
    yy, xx = np.mgrid[0:h, 0:w]
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 14)
    stripes = 10 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    img = base + noise + stripes[..., None] + rng.normal(0, 6, size=(h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], colour) -> None:
    """Fill `shape` (one of SHAPES) inside the square `box` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    poly = lambda pts: draw.polygon([(cx + r * px, cy + r * py) for px, py in pts], fill=colour)
    if shape == "disc":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        poly([(0, -1), (1, 1), (-1, 1)])
    elif shape == "cross":
        poly([(-.3, -1), (.3, -1), (.3, -.3), (1, -.3), (1, .3), (.3, .3), (.3, 1), (-.3, 1),
              (-.3, .3), (-1, .3), (-1, -.3), (-.3, -.3)])
    elif shape == "ring":
        draw.ellipse(box, fill=colour)
        w = 0.45 * r
        draw.ellipse((x0 + w, y0 + w, x1 - w, y1 - w), fill=tuple(255 - c for c in colour))
    elif shape == "diamond":
        poly([(0, -1), (1, 0), (0, 1), (-1, 0)])
    elif shape == "bar":
        poly([(-1, -.35), (1, -.35), (1, .35), (-1, .35)])
    elif shape == "star":
        pts = [(np.cos(a) * (1 if i % 2 == 0 else .45), np.sin(a) * (1 if i % 2 == 0 else .45))
               for i, a in enumerate(np.linspace(-np.pi / 2, 3 * np.pi / 2, 10, endpoint=False))]
        poly(pts)
    elif shape == "hexagon":
        poly([(np.cos(a), np.sin(a)) for a in np.linspace(0, 2 * np.pi, 6, endpoint=False)])
    elif shape == "half_disc":
        draw.pieslice(box, 90, 270, fill=colour)
    else:
        raise ValueError(shape)


def render(label: int, rng: np.random.Generator, size: int) -> tuple[Image.Image, list[int]]:
    """One image of class `label` and the object's box [x0, y0, x1, y1] in pixels."""
    w, h = (int(size * f) for f in rng.uniform(0.85, 1.25, size=2))
    img = background(rng, w, h)
    side = int(min(w, h) * rng.uniform(0.32, 0.45))
    x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    box = (x0, y0, x0 + side - 1, y0 + side - 1)
    colour = tuple(int(np.clip(c + d, 0, 255)) for c, d in zip(COLOURS[label % len(COLOURS)], rng.normal(0, 12, 3)))
    shape = SHAPES[(label + label // len(SHAPES)) % len(SHAPES)]
    draw_shape(ImageDraw.Draw(img), shape, box, colour)
    img = img.filter(ImageFilter.GaussianBlur(radius=0.5))
    return img, [x0, y0, x0 + side, y0 + side]
