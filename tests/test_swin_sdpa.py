"""Swin V2 attention through SDPA agrees with transformers' eager attention (fp32, CPU)."""
from __future__ import annotations

import pytest
import torch

from foodlib.models import swin_sdpa
from foodlib.registry import _tiny_swin

transformers = pytest.importorskip("transformers")

ATOL = 1e-5  # fp32 forward
GRAD_ATOL = 1e-4  # fp32 backward


def real_config(**overrides):
    """microsoft/swinv2-tiny-patch4-window8-256's architecture: 64x64 patches in 8x8 windows, 4 stages."""
    return transformers.Swinv2Config(image_size=256, patch_size=4, embed_dim=96, depths=[2, 2, 6, 2],
                                     num_heads=[3, 6, 12, 24], window_size=8, num_labels=101, **overrides)


def build(config, seed: int = 0):
    torch.manual_seed(seed)
    return transformers.Swinv2ForImageClassification(config).eval()


CONFIGS = {"real_256": real_config, "tiny_smoke": _tiny_swin}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def model_and_images(request):
    model = build(CONFIGS[request.param]())
    size = model.config.image_size
    return model, torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))


def _blocks(model):
    return [b for stage in model.swinv2.encoder.layers for b in stage.blocks]


def _eager_block_calls(model, x):
    """For every block: the (args, kwargs) it was called with and its output, from one eager forward."""
    calls = []

    def keep(module, args, kwargs, out):
        calls.append((module, args, kwargs, out[0]))

    handles = [b.register_forward_hook(keep, with_kwargs=True) for b in _blocks(model)]
    try:
        with torch.no_grad():
            logits = model(pixel_values=x).logits
    finally:
        for h in handles:
            h.remove()
    return calls, logits


def test_every_block_and_the_logits_match_eager(model_and_images):
    """Each block on the same input, shifted and unshifted alike, then the whole model."""
    model, x = model_and_images
    assert not swin_sdpa.is_installed(model)
    calls, eager_logits = _eager_block_calls(model, x)
    assert {b.shift_size > 0 for b, *_ in calls} == {True, False}  # both kinds of block are compared
    with swin_sdpa.eager(model):  # nothing to uninstall: still eager inside, still eager after
        pass
    assert swin_sdpa.install(model) == len(calls)
    try:
        assert swin_sdpa.is_installed(model)
        with torch.no_grad():
            for i, (block, args, kwargs, expected) in enumerate(calls):
                got = block(*args, **kwargs)[0]
                diff = (got - expected).abs().max().item()
                assert diff < ATOL, f"block {i} (shift {block.shift_size}): max abs diff {diff:.2e}"
            logits = model(pixel_values=x).logits
    finally:
        swin_sdpa.uninstall(model)
    assert (logits - eager_logits).abs().max().item() < ATOL


def test_the_mask_and_the_bias_both_matter_at_this_tolerance(model_and_images):
    """Were the shift mask or the position bias dropped, a shifted block's output would move far beyond ATOL.

    So the agreement test above fails for an SDPA forward that forgets either (checked by mutation).
    """
    model, _ = model_and_images
    block = next(b for b in _blocks(model) if b.shift_size > 0)
    attn = block.attention.self
    mask = block.get_attn_mask(*block.input_resolution, dtype=torch.float32)  # (windows, N, N)
    h = torch.randn(2 * len(mask), mask.shape[1], attn.all_head_size, generator=torch.Generator().manual_seed(2))
    last = attn.continuous_position_bias_mlp[-1].weight
    with torch.no_grad():
        full = attn(h, mask)[0]
        assert (attn(h, None)[0] - full).abs().max() > 100 * ATOL
        saved = last.clone()
        last.zero_()  # bias = 16 * sigmoid(0) = 8 everywhere: softmax cancels it, as if it were dropped
        try:
            assert (attn(h, mask)[0] - full).abs().max() > 100 * ATOL
        finally:
            last.copy_(saved)


def test_output_attentions_still_returns_the_eager_weights():
    model = build(_tiny_swin())
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        expected = model(pixel_values=x, output_attentions=True).attentions
        swin_sdpa.install(model)
        got = model(pixel_values=x, output_attentions=True).attentions
    assert len(got) == len(expected) == 2
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.shape[-1] == g.shape[-2] == 25  # (B x windows, heads, 5*5, 5*5)
        torch.testing.assert_close(g, e, rtol=0, atol=0)
    assert swin_sdpa.is_installed(model)  # the fallback is per call: SDPA stays installed


def test_uninstall_restores_the_eager_forward():
    model = build(_tiny_swin())
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        before = model(pixel_values=x).logits
        assert swin_sdpa.install(model) == 4 and swin_sdpa.install(model) == 4  # installing twice is harmless
        with swin_sdpa.eager(model):
            assert not swin_sdpa.is_installed(model)
            inside = model(pixel_values=x).logits
        assert swin_sdpa.is_installed(model)
        assert swin_sdpa.uninstall(model) == 4 and swin_sdpa.uninstall(model) == 0
        after = model(pixel_values=x).logits
    assert not swin_sdpa.is_installed(model)
    assert all("forward" not in m.__dict__ for m in model.modules())
    assert torch.equal(before, after) and torch.equal(before, inside)


def test_a_model_without_swin_is_left_alone():
    vit = transformers.ViTForImageClassification(transformers.ViTConfig(
        image_size=16, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32))
    assert swin_sdpa.install(vit) == 0 and not swin_sdpa.is_installed(vit)


def test_an_attention_written_otherwise_stays_eager(monkeypatch):
    """transformers 4.x's forward also takes a head_mask: SDPA's stand-in would get its arguments shifted."""
    from transformers.models.swinv2.modeling_swinv2 import Swinv2SelfAttention

    model = build(_tiny_swin())
    assert all(swin_sdpa.supported(m) for m in swin_sdpa._attention_modules(model))
    eager_forward = Swinv2SelfAttention.forward

    def forward_4x(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False):
        return eager_forward(self, hidden_states, attention_mask, output_attentions)

    monkeypatch.setattr(Swinv2SelfAttention, "forward", forward_4x)
    assert swin_sdpa.install(model) == 0 and not swin_sdpa.is_installed(model)
    assert all("forward" not in m.__dict__ for m in model.modules())


def _grads(model, x, y) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(pixel_values=x).logits, y).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_gradients_match_eager_in_train_mode(name):
    config = CONFIGS[name]()
    config.drop_path_rate = config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    model = build(config).train()
    size, batch = config.image_size, 1 if name == "real_256" else 2  # batch 1 at 256 px: half the time (~15 s)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(3))
    y = torch.tensor([0, 1][:batch])
    expected = _grads(model, x, y)
    swin_sdpa.install(model)
    got = _grads(model, x, y)
    assert got.keys() == expected.keys()
    assert any("continuous_position_bias_mlp" in n for n in got) and any("logit_scale" in n for n in got)
    worst = max(got, key=lambda n: (got[n] - expected[n]).abs().max())
    assert (got[worst] - expected[worst]).abs().max() < GRAD_ATOL, worst


def test_attention_dropout_is_applied_in_training_only():
    config = _tiny_swin()
    config.drop_path_rate, config.attention_probs_dropout_prob = 0.0, 0.5
    model = build(config)
    swin_sdpa.install(model)
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        assert torch.equal(model(pixel_values=x).logits, model(pixel_values=x).logits)
        model.train()
        assert not torch.equal(model(pixel_values=x).logits, model(pixel_values=x).logits)


# -- where it is installed: every Swin V2 loaded for training and scoring, never for reading attention ----

CLASSES = ["ceviche", "apple_pie", "bibimbap"]


def test_swin_loads_with_sdpa_unless_eager_is_asked_for(smoke_params, tmp_path):
    from foodlib import models
    from foodlib.models import hf

    fused, _ = models.load("swin", smoke_params, CLASSES)
    eager, _ = models.load("swin", smoke_params, CLASSES, attn_implementation="eager")
    assert swin_sdpa.is_installed(fused) and not swin_sdpa.is_installed(eager)
    assert swin_sdpa.is_installed(models.load("swin", smoke_params, CLASSES, attn_implementation="sdpa")[0])
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        assert (fused.eval()(pixel_values=x).logits - eager.eval()(pixel_values=x).logits).abs().max() < ATOL
    from foodlib.models import checkpoints  # a best checkpoint (what load_trained reads) loads the same way

    checkpoints.save_best(tmp_path / "ckpt", fused, models.source("swin", smoke_params), smoke_params, epoch=1)
    assert swin_sdpa.is_installed(hf.load_checkpoint(tmp_path / "ckpt", CLASSES)[0])
    assert not swin_sdpa.is_installed(hf.load_checkpoint(tmp_path / "ckpt", CLASSES, attn_implementation="eager")[0])
    vit, _ = models.load("vit", smoke_params, CLASSES)
    assert not swin_sdpa.is_installed(vit) and vit.config._attn_implementation == "sdpa"


def test_notebook_06_explainers_load_eager_attention(smoke_params, monkeypatch):
    from foodlib import attention, models

    asked = []

    def load_trained(name, params, classes, device="cpu", attn_implementation=None):
        asked.append(attn_implementation)
        raise LookupError("recorded")

    monkeypatch.setattr(models, "load_trained", load_trained)
    with pytest.raises(LookupError):
        attention.load_explainers(smoke_params, CLASSES)
    assert asked == ["eager"]
