"""Figures read as clean documents: panels, labels, colour maps, empty sets and PNG sizes."""
from __future__ import annotations

import io
import json
import subprocess

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image

import pandas as pd

from foodlib import artifacts, attention, compare, figures, paths

ROOT = paths.project_root()
PERCEPTUAL = {"viridis", "inferno", "magma", "plasma", "cividis"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _curves(models: dict[str, list[str]], steps: int = 5) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {f"{m} {method}": torch.rand(3, steps + 1, generator=gen) for m, methods in models.items()
            for method in [*methods, "random"]}


def test_deletion_plot_has_one_panel_per_model_with_distinct_colours_and_a_title():
    methods = {"vit": ["cls", "rollout", "relevancy"], "swin": ["rollout", "gradcam", "last_stage"],
               "clip": ["cls", "rollout", "relevancy"]}
    fig = attention.plots.deletion_plot(_curves(methods))
    assert [ax.get_title() for ax in fig.axes] == list(methods)
    assert "lower area = more faithful" in fig.get_suptitle()
    first = fig.axes[0]
    assert all(ax.get_shared_y_axes().joined(first, ax) for ax in fig.axes)
    for ax, (model, names) in zip(fig.axes, methods.items()):
        lines = ax.get_lines()
        assert len(lines) == len(names) + 1  # its methods and its own random order, nothing of the others
        colours = [matplotlib.colors.to_hex(line.get_color()) for line in lines]
        assert len(set(colours)) == len(colours)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any(label.startswith("random") for label in labels)


def test_pairwise_figure_shows_the_holm_adjusted_p_and_says_so():
    p_holm = np.array([0.03, 0.04, 0.04])  # of unadjusted 0.01, 0.02, 0.04
    pairwise = pd.DataFrame({"model_a": ["a", "a", "b"], "model_b": ["b", "c", "c"], "diff": [0.1, 0.05, -0.02],
                             "diff_ci_low": [0.05, 0.0, -0.06], "diff_ci_high": [0.15, 0.1, 0.02], "p_holm": p_holm})
    fig = compare.plots.pairwise_figure(pairwise)
    notes = [t.get_text() for t in fig.axes[0].texts]
    assert notes == [f"Holm-adjusted p={p:.2g}" for p in p_holm]
    assert "Holm-adjusted p" in fig.axes[0].get_title()


def _used_cmaps(fig) -> set[str]:
    return {im.get_cmap().name for ax in fig.axes for im in ax.get_images() if im.get_array().ndim == 2}


def test_overlays_use_a_perceptual_colour_map_with_one_labelled_colour_bar():
    img = np.random.default_rng(0).random((32, 32, 3))
    rows = [{"image": img, "label": 0, "maps": {"a": torch.rand(4, 4), "b": torch.rand(2, 2)},
             "pred": {"a": 0, "b": 1}, "conf": {"a": 0.9, "b": 0.4}, "method": {"a": "rollout", "b": "gradcam"}}] * 2
    figs = [attention.plots.gallery(rows, ["a", "b"], ["x", "y"], "t"),
            attention.plots.head_grid({"a": img, "b": img}, {"a": torch.rand(3, 4, 4), "b": torch.rand(1, 2, 2)})]
    for fig in figs:
        assert _used_cmaps(fig) and _used_cmaps(fig) <= PERCEPTUAL
        bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert len(bars) == 1 and "0 = least, 1 = most" in bars[0].get_xlabel() + bars[0].get_ylabel()


def test_no_figure_module_or_notebook_names_a_rainbow_colour_map():
    sources = [*(ROOT / "foodlib").rglob("*.py"), *(ROOT / "notebooks").glob("*.ipynb")]
    offenders = [p.name for p in sources for bad in ('"jet"', "'jet'", '"rainbow"', "'rainbow'", '\\"jet\\"')
                 if bad in p.read_text()]
    assert offenders == []


def test_an_empty_disagreement_set_draws_one_text_panel():
    text = f"no test image where {artifacts.describe_set('swin_only')}"
    fig = attention.plots.gallery([], ["vit", "swin", "clip"], ["x"], "swin_only (0 images)", empty=text)
    assert len(fig.axes) == 1 and not fig.axes[0].axison
    assert [t.get_text() for t in fig.axes[0].texts] == ["no test image where swin is right and vit and clip are wrong"]


def test_sets_are_described_in_words():
    assert artifacts.describe_set("clip_right_vit_wrong") == "clip is right and vit is wrong"
    assert artifacts.describe_set("vit_only", ["vit", "swin"]) == "vit is right and swin is wrong"


# -- PNG sizes ---------------------------------------------------------------------
def _photo_grid(rows: int = 12, cols: int = 4, thumbnail: int = 96):
    """Like data_plots.sample_grid: `rows` x `cols` thumbnails of a real photo (matplotlib's sample JPEG)."""
    photo = Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")  # 512 x 600
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(rows, cols, figsize=(1.0 * cols, 1.0 * rows + 0.4), squeeze=False)
    for r in range(rows):
        for ax in axes[r]:
            x, y = rng.integers(0, photo.width - 300), rng.integers(0, photo.height - 300)
            tile = photo.crop((x, y, x + 300, y + 300))
            tile.thumbnail((thumbnail, thumbnail), Image.LANCZOS)
            ax.imshow(tile)
            ax.axis("off")
        axes[r][0].set_title(f"class {r}", loc="left", fontsize=8)
    fig.suptitle("Training images")
    fig.tight_layout()
    return fig


def test_a_sample_grid_of_photos_is_saved_within_the_size_budget(smoke_params):
    path = smoke_params.subdir("figures") / "grid.png"
    figures.save_figure(_photo_grid(), "grid", smoke_params)
    meta = json.loads(path.with_name("grid.png.meta.json").read_text())
    assert path.stat().st_size <= figures.MAX_FIGURE_BYTES
    assert meta["dpi"] >= figures.MIN_FIGURE_DPI and meta["png_bytes"] == path.stat().st_size


def test_png_compaction_is_lossless():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    ax.imshow(np.random.default_rng(0).random((8, 8, 3)), extent=(0, 0.5, 0, 0.5))
    buf = io.BytesIO()
    fig.savefig(buf, dpi=100, bbox_inches="tight", format="png")
    reference = np.asarray(Image.open(buf).convert("RGB"))
    compact = np.asarray(Image.open(io.BytesIO(figures.png_bytes(fig, 100))).convert("RGB"))
    np.testing.assert_array_equal(compact, reference)


def _committed(suffix: str) -> list:
    listed = subprocess.run(["git", "ls-files", "-z", "--", "record"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    return [ROOT / p for p in listed.stdout.split("\0") if p.endswith(suffix) and (ROOT / p).exists()]


def test_no_committed_png_is_over_the_size_budget():
    """Every PNG git tracks under record/ (figures of a kept example run) is at most MAX_FIGURE_BYTES."""
    too_big = {str(p.relative_to(ROOT)): p.stat().st_size for p in _committed(".png")
               if p.stat().st_size > figures.MAX_FIGURE_BYTES}
    assert too_big == {}


def test_no_committed_notebook_embeds_a_png_over_the_size_budget():
    """The executed notebooks kept under record/ show their figures inline: each of those within the budget too."""
    import base64

    import nbformat

    too_big = {}
    for path in _committed(".ipynb"):
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            for out in cell.get("outputs", []):
                size = len(base64.b64decode(out.get("data", {}).get("image/png", "")))
                if size > figures.MAX_FIGURE_BYTES:
                    too_big[f"{path.relative_to(ROOT)} cell {i}"] = size
    assert too_big == {}


def test_a_figure_of_many_photos_falls_back_to_256_colours_within_the_budget(smoke_params):
    """Too many photo panels for a lossless PNG even at MIN_FIGURE_DPI: a 256-colour palette that fits."""
    path = smoke_params.subdir("figures") / "many.png"
    fig = _photo_grid(rows=12, cols=4, thumbnail=150)
    assert len(figures.png_bytes(fig, figures.MIN_FIGURE_DPI)) > 200_000  # lossless cannot fit
    figures.save_figure(fig, "many", smoke_params, max_bytes=200_000)
    meta = json.loads(path.with_name("many.png.meta.json").read_text())
    assert meta["colours_reduced"] is True and meta["png_bytes"] == path.stat().st_size <= 200_000
    assert Image.open(path).mode == "P" and meta["dpi"] > figures.MIN_FIGURE_DPI  # the palette fits above the floor


def test_heads_beyond_twelve_wrap_onto_a_second_row():
    img = np.zeros((8, 8, 3))
    fig = attention.plots.head_grid({"vit": img, "swin": img},
                                    {"vit": torch.rand(12, 4, 4), "swin": torch.rand(24, 2, 2)})
    grid = np.array([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]).reshape(3, 14)
    titles = [[ax.get_title() for ax in row] for row in grid]
    assert titles[0][:3] == ["vit input (8px)", "mean of heads", "head 0"] and titles[0][-1] == "head 11"
    assert titles[1][0].startswith("swin input") and titles[1][-1] == "head 11"
    assert titles[2][:2] == ["", ""] and titles[2][2] == "head 12" and titles[2][-1] == "head 23"
    assert all(not ax.axison for ax in grid[2][:2])
