"""Deletion test and in-box mass on toy models whose answer is known."""
from __future__ import annotations

import matplotlib
import numpy as np
import torch

from foodlib import attention

matplotlib.use("Agg")


def _patch_detector(patch_rc: tuple[int, int], grid: tuple[int, int], size: int):
    """A 'classifier' whose class-1 logit is the mean brightness of one patch: only that patch matters."""
    ph, pw = size // grid[0], size // grid[1]
    r, c = patch_rc

    def predict(x: torch.Tensor) -> torch.Tensor:
        v = x[:, :, r * ph:(r + 1) * ph, c * pw:(c + 1) * pw].mean((1, 2, 3)) * 10
        return torch.stack([torch.zeros_like(v), v], dim=1)

    return predict


def test_deletion_masks_remove_in_order():
    order = torch.tensor([[3, 0, 2, 1]])
    masks = attention.faithfulness.deletion_masks(order, (2, 2), num_steps=4)
    assert masks.shape == (1, 5, 2, 2)
    assert masks[0, 0].sum() == 0 and masks[0, 4].sum() == 4
    assert masks[0, 1].flatten().tolist() == [0, 0, 0, 1]  # patch 3 goes first
    assert masks[0, 2].flatten().tolist() == [1, 0, 0, 1]


def test_map_on_the_decisive_patch_beats_random_and_wrong_map_does_not():
    grid, size = (4, 4), 32
    predict = _patch_detector((1, 2), grid, size)
    x = torch.ones(3, 3, size, size)
    good = torch.zeros(3, 4, 4)
    good[:, 1, 2] = 1.0
    bad = torch.zeros(3, 4, 4)
    bad[:, 1, 2] = -1.0  # the decisive patch ranked last
    target = torch.ones(3, dtype=torch.long)
    rand = attention.faithfulness.auc(attention.faithfulness.random_curves(predict, x, grid, target, num_steps=16))
    f = attention.faithfulness
    m_good = f.auc(f.saliency_curves(predict, x, good, grid, target, num_steps=16))
    m_bad = f.auc(f.saliency_curves(predict, x, bad, grid, target, num_steps=16))
    assert (m_good < rand).all() and (m_bad > rand).all()
    row = attention.faithfulness.summarize("toy", "good", m_good, rand)
    assert row["beats_random"] == 1.0 and row["auc_gain"] > 0


def test_box_mass():
    sal = torch.zeros(2, 4, 4)
    sal[0, 0, 3] = 1.0  # top-right cell
    sal[1] = 1.0  # uniform
    boxes = torch.tensor([[24, 0, 31, 7], [24, 0, 31, 7]])  # the top-right 8x8 of a 32x32 image
    mass, area = attention.faithfulness.box_mass(sal, boxes, (32, 32))
    np.testing.assert_allclose(area, [1 / 16, 1 / 16])
    assert mass[0] > 0.5  # bilinear upsampling leaks a little
    np.testing.assert_allclose(mass[1], 1 / 16, rtol=1e-5)


def test_figures_draw():
    img = np.random.rand(32, 32, 3)
    rows = [{"image": img, "label": 0, "maps": {"a": torch.rand(4, 4), "b": torch.rand(2, 2)},
             "pred": {"a": 0, "b": 1}, "conf": {"a": 0.9, "b": 0.4}, "method": {"a": "rollout", "b": "gradcam"}}]
    fig = attention.plots.gallery(rows, ["a", "b"], ["x", "y"], "t")
    assert len(fig.axes) == 3 + 1  # + the colour bar
    fig = attention.plots.head_grid({"a": img, "b": img}, {"a": torch.rand(4, 4, 4), "b": torch.rand(1, 2, 2)})
    assert len(fig.axes) == 2 * 6 + 1
    up = attention.resize.upsample(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), (8, 8))
    assert up.shape == (8, 8) and up[0, 7] == 1.0 and up[7, 0] == 0.0
