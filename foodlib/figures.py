"""Figures as the notebooks save them: `save_figure(fig, name, params)` writes `figures/<name>.png`.

Every PNG stays within a byte budget (a committed figure stays light in the
repository and quick to open): lossless, lowering the dpi when needed, else a
256-colour dithered palette. In a notebook the saved file itself is shown, so
the executed copy carries the same compact PNG rather than a larger inline one.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from foodlib import artifacts, frontend
from foodlib.config import Params

MAX_FIGURE_BYTES = 300_000  # a committed figure stays light in the repository and quick to open
MIN_FIGURE_DPI = 80  # below this, 8 pt labels fall under 9 px and stop being legible


def figure_path(name: str, params: Params) -> Path:
    """`results/<profile>/figures/<name>.png`."""
    return params.subdir("figures") / f"{name}.png"


def save_figure(fig: Any, name: str, params: Params, dpi: int = 130,
                max_bytes: int = MAX_FIGURE_BYTES, show: bool = True) -> None:
    """Write `fig` as `figures/<name>.png` of at most `max_bytes`: lossless, lowering the dpi when needed
    (not below MIN_FIGURE_DPI); a figure that cannot fit losslessly even then (many real photos) is written
    with a 256-colour dithered palette, again at the highest dpi that fits, and at MIN_FIGURE_DPI if none does.

    The dpi used, whether the palette was reduced and the size are recorded in the sidecar meta file.
    In a notebook (with `show`), the saved file itself is displayed and the figure closed, so the executed
    notebook carries the same compact PNG rather than a larger inline copy; `show=False` leaves the figure
    to the caller. Returns nothing: a notebook cell ending in this call shows no path.
    """
    path = figure_path(name, params)
    reduced = False
    used, data = _fitted(fig, dpi, max_bytes, png_bytes)
    if len(data) > max_bytes:
        reduced = True
        used, data = _fitted(fig, dpi, max_bytes, png_256_colours)
    with artifacts.atomic_path(path) as tmp:
        tmp.write_bytes(data)
    artifacts.write_meta(path, params, dpi=used, png_bytes=len(data), colours_reduced=reduced)
    if show and frontend.in_kernel():
        import matplotlib.pyplot as plt
        from IPython.display import Image, display

        plt.close(fig)
        display(Image(data=data, format="png"))


def show_saved(name: str, params: Params):
    """The saved `figures/<name>.png` as a notebook image (for a figure saved earlier with `show=False`)."""
    from IPython.display import Image

    return Image(filename=str(figure_path(name, params)))


def _fitted(fig: Any, dpi: int, max_bytes: int, render) -> tuple[int, bytes]:
    """(dpi, `render(fig, dpi)`) at the highest dpi from `dpi` down to MIN_FIGURE_DPI whose PNG fits `max_bytes`."""
    used = dpi
    data = render(fig, used)
    while len(data) > max_bytes and used > MIN_FIGURE_DPI:
        # Bytes grow with the pixel count, i.e. with dpi**2; 0.95 leaves room for the estimate's error.
        used = max(MIN_FIGURE_DPI, int(used * (max_bytes / len(data)) ** 0.5 * 0.95))
        data = render(fig, used)
    return used, data


def png_256_colours(fig: Any, dpi: int) -> bytes:
    """`fig` as a palette PNG of 256 colours (median cut, Floyd-Steinberg dithering): lossy, about a third
    of the lossless size for photos with map overlays, and hard to tell apart from it at screen size."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, bbox_inches="tight", format="png")
    img = Image.open(buf).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT,
                                                   dither=Image.Dither.FLOYDSTEINBERG)
    out = io.BytesIO()
    img.save(out, format="png", optimize=True)
    return out.getvalue()


def png_bytes(fig: Any, dpi: int) -> bytes:
    """`fig` rendered as PNG, compacted losslessly: RGB when opaque, a palette when it has at most 256 colours."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, bbox_inches="tight", format="png")
    rgba = np.asarray(Image.open(buf).convert("RGBA"))
    if (rgba[..., 3] != 255).any():
        return buf.getvalue()  # transparency: keep matplotlib's own file
    rgb = rgba[..., :3]
    packed = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    colours, index = np.unique(packed.ravel(), return_inverse=True)
    if len(colours) <= 256:  # every colour kept exactly: a palette image is the same picture
        img = Image.fromarray(index.reshape(packed.shape).astype(np.uint8))  # "L"; putpalette makes it "P"
        img.putpalette(np.stack([colours >> 16, colours >> 8 & 255, colours & 255], 1).astype(np.uint8).ravel())
    else:
        img = Image.fromarray(np.ascontiguousarray(rgb))
    out = io.BytesIO()
    img.save(out, format="png", optimize=True)
    return min(out.getvalue(), buf.getvalue(), key=len)
