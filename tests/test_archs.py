"""The rehearsal's models (`model_source="random"`): the published architectures, built once, loaded like the real ones.

The expected values are typed here from the published files, independently of
foodlib.models.archs: google/vit-base-patch16-224-in21k and
microsoft/swinv2-tiny-patch4-window8-256 (config.json, preprocessor_config.json)
and OpenAI's CLIP release. Each model is built once per module (ViT-B/16 is
~350 MB on disk); the seed tests use Swin V2-T, the quickest to build.
"""
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from foodlib import config, models
from foodlib.models import archs, common, standins

CLASSES = ["ceviche", "apple_pie", "bibimbap"]  # 3 classes: the new head must have 3 outputs, not 1000
IMAGE = torch.randint(0, 256, (3, 300, 400), dtype=torch.uint8)  # any photo size: preprocessing makes the input


# -- the configurations are the published ones --------------------------------------------

def test_vit_config_is_the_published_vit_b16_in21k():
    c = archs.vit_config()
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == (768, 12, 12, 3072)
    assert (c.image_size, c.patch_size, c.num_channels) == (224, 16, 3)
    assert (c.qkv_bias, c.layer_norm_eps, c.hidden_act) == (True, 1e-12, "gelu")
    assert (c.hidden_dropout_prob, c.attention_probs_dropout_prob) == (0.0, 0.0)


def test_swin_config_is_the_published_swinv2_tiny_window8_256():
    c = archs.swin_config()
    assert (c.image_size, c.patch_size, c.embed_dim, c.window_size) == (256, 4, 96, 8)
    assert list(c.depths) == [2, 2, 6, 2] and list(c.num_heads) == [3, 6, 12, 24]
    assert list(c.pretrained_window_sizes) == [0, 0, 0, 0]
    assert (c.mlp_ratio, c.drop_path_rate, c.use_absolute_embeddings, c.num_labels) == (4.0, 0.1, False, 1000)
    assert c.hidden_size == 768  # 96 * 2**3 after the last patch merging


def test_processor_configs_are_the_published_ones():
    vit, swin = archs.PROCESSORS["vit"], archs.PROCESSORS["swin"]
    assert (vit["size"], vit["resample"]) == ({"height": 224, "width": 224}, 2)  # bilinear
    assert vit["image_mean"] == vit["image_std"] == [0.5, 0.5, 0.5]
    assert (swin["size"], swin["resample"]) == ({"height": 256, "width": 256}, 3)  # bicubic
    assert swin["image_mean"] == [0.485, 0.456, 0.406] and swin["image_std"] == [0.229, 0.224, 0.225]


def test_clip_dims_are_openais_released_ones():
    text = {"context_length": 77, "vocab_size": 49408, "transformer_width": 512, "transformer_heads": 8,
            "transformer_layers": 12}
    vision = {"embed_dim": 512, "image_resolution": 224, "vision_layers": 12, "vision_width": 768}
    assert archs.clip_dims("ViT-B/32") == {**text, **vision, "vision_patch_size": 32}
    assert archs.clip_dims("ViT-B/16") == {**text, **vision, "vision_patch_size": 16}
    # clip.model.build_model infers the text heads as width // 64: the dims must agree with it
    assert all(d["transformer_heads"] == d["transformer_width"] // 64 for d in archs.CLIP_DIMS.values())


def test_an_unsupported_name_is_refused_listing_the_supported_ones(tmp_path):
    with pytest.raises(ValueError, match="RN50.*supports ViT-B/32, ViT-B/16"):
        standins.clip_build("RN50", 0)
    with pytest.raises(ValueError, match="supports vit, swin"):
        standins.hf_build("clip", "random", 0)
    # through the loader: RN50 is a released CLIP name, but has no random-weight build here
    params = config.resolve("smoke", model_source="random", clip_model="RN50", results_dir=str(tmp_path / "r"))
    with pytest.raises(ValueError, match="ViT-B/32"):
        models.source("clip", params)
    assert not list(tmp_path.rglob("*.pt"))


# -- built, saved and loaded through models.load as the real checkpoints are ---------------------

@pytest.fixture(scope="module")
def params(tmp_path_factory, real_models):
    """Smoke parameters with the real architectures (random weights, the session's build) and the released CLIP
    name."""
    results = tmp_path_factory.mktemp("archs") / "results"
    return real_models(config.resolve("smoke", model_source="random", clip_model="ViT-B/32", results_dir=str(results)))


@pytest.fixture(scope="module")
def vit(params):
    return models.load("vit", params, CLASSES)


@pytest.fixture(scope="module")
def swin(params):
    return models.load("swin", params, CLASSES)


@pytest.fixture(scope="module")
def clip_model(params):
    return models.load("clip", params, CLASSES)


def test_vit_loads_with_a_14x14_grid_and_a_head_per_class(vit):
    model, pre = vit
    assert (pre.image_size, pre.mean, pre.std) == (224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert model.vit.embeddings.patch_embeddings.num_patches == 14 * 14
    with torch.no_grad():
        out = model(pixel_values=pre.eval()(IMAGE)[None], output_hidden_states=True)
    assert out.hidden_states[-1].shape == (1, 1 + 14 * 14, 768)  # CLS + 14x14 patches
    assert len(out.hidden_states) == 12 + 1
    assert out.logits.shape == (1, len(CLASSES))


def test_vit_checkpoint_is_a_bare_vitmodel_with_its_pooler(vit, params):
    folder = Path(models.source("vit", params))
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["ViTModel"]
    base, _ = models.load_pretrained("vit", params)
    assert type(base).__name__ == "ViTModel" and base.pooler is not None
    assert sum(p.numel() for p in base.parameters()) == 86_389_248  # ViT-B/16 in21k with its pooler, as published
    with safe_open(str(folder / "model.safetensors"), "pt") as f:  # the pooler was loaded, not initialised anew
        assert torch.equal(base.pooler.dense.weight, f.get_tensor("pooler.dense.weight"))


def test_swin_loads_with_the_real_stages_and_a_head_per_class(swin, params):
    model, pre = swin
    assert (pre.image_size, pre.mean, pre.std) == (256, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    with torch.no_grad():
        out = model(pixel_values=pre.eval()(IMAGE)[None], output_hidden_states=True)
    # (B, C, H, W) after the patch embedding, then after each stage's patch merging (none after the last)
    shapes = [tuple(h.shape[1:]) for h in out.reshaped_hidden_states]
    assert shapes == [(96, 64, 64), (192, 32, 32), (384, 16, 16), (768, 8, 8), (768, 8, 8)]
    assert out.logits.shape == (1, len(CLASSES))
    saved = json.loads((Path(models.source("swin", params)) / "config.json").read_text())
    assert saved["architectures"] == ["Swinv2ForImageClassification"] and len(saved["id2label"]) == 1000


def test_clip_loads_as_vit_b32_with_a_7x7_grid(clip_model):
    model, pre = clip_model
    assert model.visual.input_resolution == 224 and model.visual.conv1.kernel_size == (32, 32)
    assert model.visual.positional_embedding.shape == (1 + 7 * 7, 768)  # CLS + 7x7 patches
    assert sum(p.numel() for p in model.parameters()) == 151_277_313  # as clip.load("ViT-B/32") counts
    assert (pre.image_size, pre.interpolation, pre.crop_ratio) == (224, "bicubic", 1.0)
    assert pre.mean == common.CLIP_MEAN
    assert next(model.parameters()).dtype == torch.float32
    with torch.no_grad():
        assert model.encode_image(pre.eval()(IMAGE)[None]).shape == (1, 512)


# -- built once, seeded, rebuilt when the seed changes ------------------------------------------

def _weights_file(params, name: str) -> Path:
    path = Path(models.source(name, params))
    return path if name == "clip" else path / "model.safetensors"


@pytest.mark.parametrize("name", models.available())
def test_a_current_build_is_reused_not_rebuilt(name, params, request):
    request.getfixturevalue({"vit": "vit", "swin": "swin", "clip": "clip_model"}[name])  # built by now
    weights = _weights_file(params, name)
    before = weights.stat().st_mtime_ns
    build = standins.clip_build(params.clip_model, 0) if name == "clip" else standins.hf_build(name, "random", 0)
    assert standins.is_current(models.source(name, params), build)
    assert _weights_file(params, name) == weights and weights.stat().st_mtime_ns == before


def test_the_same_seed_gives_the_same_weights_and_a_new_seed_rebuilds(tmp_path):
    def swin_weights(seed: int, results: str) -> dict:
        params = config.resolve("smoke", model_source="random", seed=seed, results_dir=str(tmp_path / results))
        return load_file(_weights_file(params, "swin"))

    first = swin_weights(0, "a")
    again = swin_weights(0, "b")  # a second build, elsewhere, with the same seed
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)
    folder = tmp_path / "a" / "smoke" / "cache" / "models" / "random" / "swin"
    seeded = {seed: standins.hf_build("swin", "random", seed) for seed in (0, 1)}
    assert standins.is_current(folder, seeded[0]) and not standins.is_current(folder, seeded[1])
    other = swin_weights(1, "a")  # same folder, new seed: rebuilt in place
    assert standins.is_current(folder, seeded[1]) and not standins.is_current(folder, seeded[0])
    key = "swinv2.encoder.layers.0.blocks.0.attention.self.query.weight"
    assert not torch.equal(first[key], other[key])


def test_clip_with_the_same_seed_is_the_same_file_content(clip_model, params, tmp_path):
    built = torch.load(_weights_file(params, "clip"))
    path = standins.clip_file(config.resolve("rehearsal", seed=params.seed, results_dir=str(tmp_path)))
    again = torch.load(path)
    assert built.keys() == again.keys() and all(torch.equal(built[k], again[k]) for k in built)
    assert all(v.dtype == torch.float16 for v in again.values())  # as OpenAI releases it
    assert standins.is_current(path, standins.clip_build("ViT-B/32", params.seed))
    assert not standins.is_current(path, standins.clip_build("ViT-B/16", params.seed))


def test_an_incomplete_or_stale_build_is_not_current(tmp_path):
    params = config.resolve("smoke", model_source="random", seed=3, results_dir=str(tmp_path))
    folder = Path(standins.hf_folder("swin", params))
    build = standins.hf_build("swin", "random", 3)
    assert standins.is_current(folder, build)
    marker = standins.marker_path(folder)
    saved = json.loads(marker.read_text())
    saved["build"]["config"]["window_size"] = 7  # built with another configuration
    marker.write_text(json.dumps(saved))
    assert not standins.is_current(folder, build)
    marker.unlink()  # a crash before the marker was written
    assert not standins.is_current(folder, build)


def test_building_leaves_the_callers_random_state_alone(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    standins.hf_folder("swin", config.resolve("smoke", model_source="random", results_dir=str(tmp_path)))
    assert torch.equal(torch.rand(3), expected)
