"""Attention capture and maps on small random models with the smoke models' shapes."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from foodlib import attention

transformers = pytest.importorskip("transformers")
clip_model = pytest.importorskip("clip.model")


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    cfg = transformers.ViTConfig(image_size=60, patch_size=6, hidden_size=64, num_hidden_layers=4,
                                 num_attention_heads=4, intermediate_size=128, num_labels=5)
    return transformers.ViTForImageClassification._from_config(cfg, attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def swin():
    torch.manual_seed(0)
    cfg = transformers.Swinv2Config(image_size=48, patch_size=4, embed_dim=32, depths=[2, 2, 2],
                                    num_heads=[2, 4, 8], window_size=3, num_labels=5)
    return transformers.Swinv2ForImageClassification._from_config(cfg, attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def clip_clf():
    torch.manual_seed(0)
    model = clip_model.CLIP(embed_dim=64, image_resolution=64, vision_layers=2, vision_width=64,
                            vision_patch_size=8, context_length=16, vocab_size=49408,
                            transformer_width=64, transformer_heads=1, transformer_layers=2).eval()
    return attention.vit.ClipClassifier(model, torch.randn(5, 64))


def _images(n: int, size: int) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(n + size))


def test_grid_comes_from_config(vit, swin, clip_clf):
    assert attention.vit.hf_grid(vit.config) == (10, 10)  # 60 // 6
    assert attention.vit.clip_grid(clip_clf.model) == (8, 8)  # 64 // 8
    geo = attention.swin.block_geometry(swin.config)
    assert [(g.height, g.window, g.shift) for g in geo] == [(12, 3, 0), (12, 3, 1), (6, 3, 0), (6, 3, 1),
                                                            (3, 3, 0), (3, 3, 0)]
    # The same window and shift the model itself uses, block by block.
    blocks = [b for stage in swin.swinv2.encoder.layers for b in stage.blocks]
    assert [(b.window_size, b.shift_size) for b in blocks] == [(g.window, g.shift) for g in geo]


def test_rollout_rows_sum_to_one_for_every_fusion(vit):
    atts, _ = attention.vit.hf_attentions(vit, _images(2, 60))
    for fusion in ("mean", "max", "min"):
        for discard in (0.0, 0.5):
            r = attention.vit.rollout_matrix(atts, fusion, discard)
            assert r.shape == (2, 101, 101)
            torch.testing.assert_close(r.sum(-1), torch.ones(2, 101), atol=1e-5, rtol=0)
    # Discarding changes the result: the option is not a no-op.
    assert not torch.allclose(attention.vit.rollout_matrix(atts, "mean", 0.0), attention.vit.rollout_matrix(atts, "mean", 0.9))


def test_rollout_matches_hand_product():
    # Two layers, one head, 2 tokens: rollout = rownorm(A2 + I) @ rownorm(A1 + I).
    a1 = torch.tensor([[[[0.5, 0.5], [0.2, 0.8]]]])
    a2 = torch.tensor([[[[0.9, 0.1], [0.4, 0.6]]]])
    expected = ((a2[0, 0] + torch.eye(2)) / 2) @ ((a1[0, 0] + torch.eye(2)) / 2)
    torch.testing.assert_close(attention.vit.rollout_matrix((a1, a2))[0], expected)


@pytest.mark.parametrize("method", attention.vit.METHODS)
def test_vit_and_clip_batch_of_two_equals_two_batches_of_one(vit, clip_clf, method):
    for model, size in ((vit, 60), (clip_clf, 64)):
        x = _images(2, size)
        both = attention.vit.attention_map(model, x, method)
        one = torch.cat([attention.vit.attention_map(model, x[i:i + 1], method) for i in range(2)])
        assert both.shape == (2, *attention.vit.grid_of(model))
        torch.testing.assert_close(both, one, atol=1e-5, rtol=1e-4)
        assert not torch.allclose(both[0], both[1])  # two different images, two different maps


@pytest.mark.parametrize("method", attention.swin.METHODS)
def test_swin_batch_of_two_equals_two_batches_of_one(swin, method):
    x = _images(2, 48)
    both = attention.swin.swin_map(swin, x, method)
    one = torch.cat([attention.swin.swin_map(swin, x[i:i + 1], method) for i in range(2)])
    torch.testing.assert_close(both, one, atol=1e-5, rtol=1e-4)


def test_clip_hook_weights_match_manual_softmax(clip_clf):
    model = clip_clf.model
    x = _images(2, 64)
    inputs = []
    block = model.visual.transformer.resblocks[1]
    h = block.attn.register_forward_hook(lambda m, args, out: inputs.append(args[0]))
    with attention.vit.clip_attention_hooks(model) as store:
        model.encode_image(x)
    h.remove()
    q_in = inputs[0]  # (T, B, D): CLIP's transformer is sequence-first
    mha = block.attn
    heads, d = mha.num_heads, mha.embed_dim
    q, k, _ = F.linear(q_in, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
    q = q.reshape(q.shape[0], q.shape[1] * heads, d // heads).transpose(0, 1)  # (B*heads, T, d_head)
    k = k.reshape(k.shape[0], k.shape[1] * heads, d // heads).transpose(0, 1)
    manual = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d // heads), dim=-1)
    assert store[1].shape == (2, heads, 65, 65)
    torch.testing.assert_close(store[1], manual.view(2, heads, 65, 65), atol=1e-5, rtol=1e-4)


def test_hooks_are_removed_and_model_unchanged(clip_clf, swin):
    x = _images(2, 64)
    model = clip_clf.model
    with torch.no_grad():
        before = model.encode_image(x)
    attention.vit.attention_map(clip_clf, x, "relevancy")
    attention.vit.attention_map(clip_clf, x, "rollout")
    for block in model.visual.transformer.resblocks:
        assert not block.attn._forward_hooks and not block.attn._forward_pre_hooks
    with torch.no_grad():
        torch.testing.assert_close(model.encode_image(x), before)
    attention.swin.swin_map(swin, _images(1, 48), "gradcam")
    attention.swin.swin_map(swin, _images(1, 48), "rollout")
    for module in swin.modules():
        assert not module._forward_hooks, type(module).__name__


def test_sdpa_model_is_refused():
    cfg = transformers.ViTConfig(image_size=12, patch_size=6, hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=16)
    model = transformers.ViTForImageClassification._from_config(cfg, attn_implementation="sdpa").eval()
    with pytest.raises(ValueError, match="eager"):
        attention.vit.hf_attentions(model, torch.zeros(1, 3, 12, 12))


def test_relevancy_is_class_specific(vit):
    x = _images(1, 60)
    a = attention.vit.relevancy(vit, x, torch.tensor([0]))
    b = attention.vit.relevancy(vit, x, torch.tensor([3]))
    assert a.shape == (1, 10, 10) and not torch.allclose(a, b)


def test_swin_relevancy_is_class_specific_and_on_the_first_stage_grid(swin):
    x = _images(2, 48)
    a = attention.swin.relevancy(swin, x, torch.tensor([0, 0]))
    b = attention.swin.relevancy(swin, x, torch.tensor([3, 3]))
    assert a.shape == (2, 12, 12) and (a >= 0).all()
    assert not torch.allclose(a, b)  # another class, another map
    # Default target: the predicted class.
    with torch.no_grad():
        pred = swin(pixel_values=x).logits.argmax(-1)
    torch.testing.assert_close(attention.swin.relevancy(swin, x), attention.swin.relevancy(swin, x, pred))


def test_swin_relevancy_equals_the_rule_on_the_full_matrix(swin):
    # The rule as written: R = I, then R += cam @ R per block, R = merge @ R between stages, map = mean row
    # of R less the identity path's; the module takes the mean row from the other end as a vector.
    x = _images(2, 48)
    cams = attention.swin.attentions_and_grads(swin, x)
    geo = attention.swin.block_geometry(swin.config)
    rel, alone = torch.eye(144).expand(2, 144, 144), torch.eye(144)
    for i, (cam, g) in enumerate(zip(cams, geo)):
        if i and g.stage != geo[i - 1].stage:
            merge = attention.swin.merge_matrix(geo[i - 1].height, geo[i - 1].width).float()
            rel, alone = merge @ rel, merge @ alone
        rel = rel + cam @ rel
    expected = (rel.mean(1) - alone.mean(0)).reshape(2, 12, 12)
    torch.testing.assert_close(attention.swin.relevancy(swin, x), expected, atol=1e-6, rtol=1e-4)
    assert expected.amin() > 1e-5  # the attention terms reach every token, far above the tolerance


def test_swin_relevancy_terms_agree_with_transformers_own_windows(swin):
    # transformers returns the last block of each stage; the gradient of the score with respect to those very
    # tensors, cut into windows by transformers' own roll + window_partition, gives the same per-block terms.
    x = _images(1, 48)
    cams = attention.swin.attentions_and_grads(swin, x)
    geo = attention.swin.block_geometry(swin.config)
    assert [c.shape[-1] for c in cams] == [g.height * g.width for g in geo]
    out = swin(pixel_values=x.requires_grad_(True), output_attentions=True)
    score = out.logits[0, out.logits[0].argmax()]
    grads = torch.autograd.grad(score, out.attentions)
    for block, att, grad in zip((1, 3, 5), out.attentions, grads):
        g = geo[block]
        theirs = (grad * att).clamp(min=0).mean(1, keepdim=True)  # (windows, 1, w*w, w*w)
        torch.testing.assert_close(_hf_windows(cams[block][0], g.height, g.width, g.window, g.shift), theirs.detach())
    # Attention only inside windows: the first block's term is zero across its 3x3 windows.
    first = cams[0][0].reshape(12, 12, 12, 12)
    assert first[0, 0, 3:, :].abs().sum() == 0 and first[0, 0, :, 3:].abs().sum() == 0
    # Not rollout under another name: the gradients weigh the terms.
    rel = attention.swin.relevancy(swin, x)
    assert not torch.allclose(rel / rel.sum(), attention.swin.rollout(swin, x), atol=1e-4)


# -- Swin window reassembly ---------------------------------------------------
def _hf_windows(full: torch.Tensor, height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """Cut a (N, N) token map into Swin windows with transformers' own roll + window_partition."""
    from transformers.models.swinv2.modeling_swinv2 import window_partition

    ids = torch.arange(height * width, dtype=torch.float64).view(1, height, width, 1)
    ids = torch.roll(ids, shifts=(-shift, -shift), dims=(1, 2)) if shift else ids
    ids = window_partition(ids, window).reshape(-1, window * window).long()  # (nW, w*w) token ids
    return full[ids[:, :, None], ids[:, None, :]].unsqueeze(1)  # (nW, 1 head, w*w, w*w)


@pytest.mark.parametrize("height,width,shift", [(12, 12, 1), (12, 12, 0), (6, 9, 1)])
def test_reassembly_puts_every_value_back_where_it_came_from(height, width, shift):
    n = height * width
    full = torch.arange(n * n, dtype=torch.float64).view(n, n) + 1  # value encodes (query, key)
    windows = _hf_windows(full, height, width, 3, shift)
    back = attention.swin.reassemble(windows, height, width, 3, shift)[0, 0]
    seen = back != 0
    assert seen.sum() == windows.numel()  # every window entry lands on its own cell
    torch.testing.assert_close(back[seen], full[seen])
    if shift:  # ignoring the shift (or reading windows in column order) would misplace the values
        wrong = attention.swin.reassemble(windows, height, width, 3, 0)[0, 0]
        assert not torch.equal(wrong[wrong != 0], full[wrong != 0])
    rows = torch.arange(n) // width
    assert seen[0].nonzero().squeeze(1).tolist() == sorted(seen[0].nonzero().squeeze(1).tolist())
    assert set(rows[seen[0]].tolist()) <= set(range(height))


def test_reassembly_detects_transposed_window_order():
    height, width = 6, 9  # 2 x 3 windows: a transposed order would not even fit
    full = torch.rand(54, 54, dtype=torch.float64) + 0.1
    windows = _hf_windows(full, height, width, 3, 1)
    back = attention.swin.reassemble(windows, height, width, 3, 1)[0, 0]
    transposed = attention.swin.reassemble(windows, width, height, 3, 1)[0, 0]
    assert torch.equal(back[back != 0], full[back != 0])
    assert not torch.equal(transposed[transposed != 0], full[transposed != 0])


def test_swin_reassembled_rows_sum_to_one_and_rollout_is_a_distribution(swin):
    maps, _ = attention.swin.swin_attentions(swin, _images(2, 48))
    for m, g in zip(maps, attention.swin.block_geometry(swin.config)):
        assert m.shape[-1] == g.height * g.width
        torch.testing.assert_close(m.sum(-1), torch.ones_like(m.sum(-1)), atol=1e-4, rtol=0)
    r = attention.swin.rollout(swin, _images(2, 48))
    assert r.shape == (2, 12, 12)
    torch.testing.assert_close(r.sum((1, 2)), torch.ones(2), atol=1e-5, rtol=0)


def test_swin_hooks_agree_with_hf_attentions(swin):
    # The last block of each stage is what transformers itself returns.
    x = _images(1, 48)
    with torch.no_grad(), attention.swin.block_attention_hooks(swin) as store:
        out = swin(pixel_values=x, output_attentions=True)
    last_per_stage = [store[1], store[3], store[5]]
    for mine, theirs in zip(last_per_stage, out.attentions):
        torch.testing.assert_close(mine, theirs)


def test_merge_matrix_averages_two_by_two():
    m = attention.swin.merge_matrix(4, 4)
    assert m.shape == (4, 16)
    assert m[0].nonzero().squeeze(1).tolist() == [0, 1, 4, 5]
    torch.testing.assert_close(m.sum(1), torch.ones(4, dtype=torch.float64))


# -- the notebook's interface over the three models -----------------------------
def test_explainers_give_maps_heads_and_a_deletion_table(vit, swin, clip_clf):

    norm = ([0.5] * 3, [0.5] * 3)
    exs = {"vit": attention.Explainer("vit", vit, 60, *norm), "swin": attention.Explainer("swin", swin, 48, *norm),
           "clip": attention.Explainer("clip", clip_clf, 64, *norm)}
    images = {name: _images(3, ex.image_size) for name, ex in exs.items()}
    heads = {name: ex.head_maps(images[name][:1]) for name, ex in exs.items()}
    assert heads["vit"].shape == (1, 4, 10, 10) and heads["clip"].shape == (1, 1, 8, 8)
    assert heads["swin"].shape == (1, 8, 3, 3)  # last stage: 8 heads on a 3x3 grid, one global window
    assert exs["swin"].deletion_grid == (12, 12) and exs["vit"].deletion_grid == (10, 10)
    table, curves = attention.deletion_table(exs, images, num_steps=4, batch_size=2)
    assert len(table) == 3 + 4 + 3 and set(table["model"]) == {"vit", "swin", "clip"}
    assert table[["deletion_auc", "random_auc"]].apply(lambda c: c.between(0, 1)).all().all()
    assert curves["vit cls"].shape == (3, 5)
    best = attention.best_methods(table)
    assert set(best) == {"vit", "swin", "clip"}


def test_every_head_row_is_drawn_on_that_models_own_input(vit, swin, clip_clf, tmp_path):
    """CLIP resizes the short side to its input and crops (crop_ratio 1.0); ViT/Swin resize straight to their input."""
    import numpy as np
    from PIL import Image

    from foodlib.models import Preprocess

    path = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(path)
    vit_pre = Preprocess(60, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    clip_pre = Preprocess(64, (0.48, 0.46, 0.41), (0.27, 0.26, 0.28), "bicubic", "short_side", 1.0, "pil")
    exs = {"vit": attention.Explainer("vit", vit, 60, vit_pre.mean, vit_pre.std, vit_pre.eval()),
           "swin": attention.Explainer("swin", swin, 48, (0.5,) * 3, (0.5,) * 3),
           "clip": attention.Explainer("clip", clip_clf, 64, clip_pre.mean, clip_pre.std, clip_pre.eval())}
    images, heads = attention.head_example(exs, path)
    for name, ex in exs.items():
        own = attention.plots.to_image(attention.load_eval_images([path], ex)[0], ex.mean, ex.std)
        np.testing.assert_array_equal(images[name], own)
    assert [images[n].shape[0] for n in exs] == [60, 48, 64]
    fig = attention.plots.head_grid(images, heads)
    grid = np.array([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]).reshape(len(exs), -1)
    for row, name in zip(grid, exs):
        for ax in row[:2]:  # the input, and the mean-of-heads overlay's base image
            np.testing.assert_array_equal(ax.get_images()[0].get_array(), images[name])
