import numpy as np
import pytest
import torch

from foodlib import posembed


def sinusoid_2d(grid: tuple[int, int], dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """(H*W, dim) fixed 2-D sin-cos embeddings (MAE / MoCo v3 style): half the channels encode y, half x.

    A position embedding whose similarity is known to fall with distance: the reference the analysis is
    checked against."""
    h, w = grid
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    omega = 1.0 / temperature ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))
    oy, ox = y.reshape(-1, 1) * omega, x.reshape(-1, 1) * omega
    return torch.cat([oy.sin(), oy.cos(), ox.sin(), ox.cos()], dim=1)


def test_similarity_symmetric_unit_diagonal_and_class_token_dropped():
    grid = (3, 4)
    pe = torch.randn(1, 1 + 12, 16)
    sim = posembed.similarity(pe, grid, has_class_token=True)
    assert sim.shape == (12, 12)
    assert torch.allclose(sim, sim.T, atol=1e-6)
    assert torch.allclose(sim.diagonal(), torch.ones(12), atol=1e-6)
    # The class token is row 0 of the input: it must not appear.
    assert torch.allclose(sim, posembed.cosine_similarity(pe[0, 1:]), atol=1e-6)
    with pytest.raises(ValueError, match="3x4"):
        posembed.similarity(pe, grid, has_class_token=False)


def test_sinusoid_similarity_decays_with_distance():
    grid = (10, 10)
    sim = posembed.cosine_similarity(sinusoid_2d(grid, 64, temperature=100.0))
    along_row = sim[0, :6].numpy()  # position (0, 0) against (0, d), d = 0..5
    assert (np.diff(along_row) < 0).all()  # strictly falls with distance along an axis
    prof = posembed.distance_profile(sim, grid)
    assert prof.mean_similarity.iloc[0] > prof.mean_similarity.iloc[-1] + 0.3
    assert posembed.distance_correlation(sim, grid) < -0.5


def test_row_column_table_on_embeddings_that_encode_only_rows():
    grid = (4, 5)
    rows = torch.arange(4).repeat_interleave(5)
    pe = torch.nn.functional.one_hot(rows, 4).float() + 1e-3 * torch.randn(20, 4)  # same row -> same embedding
    table = posembed.row_column_table(posembed.cosine_similarity(pe), grid).set_index("pairs")
    assert table.loc["same_row", "mean_similarity"] > 0.99
    assert table.loc["same_column", "mean_similarity"] < 0.05
    assert table.loc["same_row", "n"] == 4 * 5 * 4  # 4 rows x 5 queries x 4 others


def test_mosaic_places_each_query_map_at_its_own_position():
    h, w = 3, 4
    query = torch.arange(h * w, dtype=torch.float32)[:, None].expand(h * w, h * w)  # sim[q, k] = q
    canvas = posembed.plots.mosaic(query, (h, w))
    for i in range(h):
        for j in range(w):
            block = canvas[i * (h + 1):i * (h + 1) + h, j * (w + 1):j * (w + 1) + w]
            assert (block == i * w + j).all()
    keys = torch.arange(h * w, dtype=torch.float32)[None, :].expand(h * w, h * w)  # sim[q, k] = k
    block = posembed.plots.mosaic(keys, (h, w))[0:h, 0:w]
    assert block.tolist() == np.arange(h * w).reshape(h, w).tolist()  # keys laid out row-major, not transposed


def test_movement_zero_when_unchanged_and_detects_a_moved_position():
    grid = (2, 3)
    before = torch.randn(1, 7, 8)
    after = before.clone()
    after[0, 1 + 4] *= -1  # position row 1, col 1
    df = posembed.movement(before, after, grid, has_class_token=True)
    moved = df[(df.row == 1) & (df.col == 1)].iloc[0]
    assert moved.cosine_before_after == pytest.approx(-1, abs=1e-5)
    assert (df.drop(moved.name).cosine_before_after > 0.9999).all()


def test_swin_bias_matches_what_the_attention_adds():
    from transformers import Swinv2Config, Swinv2Model

    cfg = Swinv2Config(image_size=32, patch_size=4, window_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 4])
    model = Swinv2Model(cfg).eval()
    attn = posembed.swin_attention_module(model, stage=1)
    bias = posembed.swin_relative_bias(attn)
    w = attn.window_size[0]
    assert bias.shape == (4, 2 * w - 1, 2 * w - 1)
    # What the module's forward adds for query i and key j (its own table and index):
    with torch.no_grad():
        table = attn.continuous_position_bias_mlp(attn.relative_coords_table).view(-1, attn.num_attention_heads)
        added = 16 * torch.sigmoid(table[attn.relative_position_index.view(-1)].view(w * w, w * w, -1))
    qy, qx, ky, kx = 0, 3, 2, 1  # query at (0, 3), key at (2, 1): offset dy=-2, dx=+2
    i, j = qy * w + qx, ky * w + kx
    assert torch.allclose(bias[:, qy - ky + w - 1, qx - kx + w - 1], added[i, j], atol=1e-6)
    assert not torch.allclose(bias[:, qx - kx + w - 1, qy - ky + w - 1], added[i, j], atol=1e-6)


def test_grid_follows_the_config():
    from transformers import ViTConfig, ViTForImageClassification

    model = ViTForImageClassification(ViTConfig(image_size=60, patch_size=6, hidden_size=32, num_hidden_layers=1,
                                                num_attention_heads=2, intermediate_size=32, num_labels=3))
    pe, grid = posembed.vit_position_embeddings(model)
    assert grid == (10, 10) and pe.shape == (101, 32)
    assert posembed.similarity(pe, grid, has_class_token=True).shape == (100, 100)


def test_clip_grid_follows_the_model():
    from clip.model import CLIP

    model = CLIP(embed_dim=64, image_resolution=64, vision_layers=1, vision_width=64, vision_patch_size=8,
                 context_length=8, vocab_size=100, transformer_width=64, transformer_heads=1, transformer_layers=1)
    pe, grid = posembed.clip_position_embeddings(model)
    assert grid == (8, 8) and pe.shape == (65, 64)


def test_structure_table_separates_row_structure_from_noise():
    grid = (4, 4)
    rows = torch.arange(4).repeat_interleave(4)
    by_row = torch.nn.functional.one_hot(rows, 4).float() + 1e-3 * torch.randn(16, 4)
    sims = {"rows": posembed.cosine_similarity(by_row), "noise": posembed.cosine_similarity(torch.randn(16, 64))}
    table = posembed.structure_table(sims, {"rows": grid, "noise": grid}).set_index("embedding")
    assert table.loc["rows", "same_row"] > 0.99 and table.loc["rows", "other"] < 0.05
    assert abs(table.loc["noise", "same_row"] - table.loc["noise", "other"]) < 0.15
