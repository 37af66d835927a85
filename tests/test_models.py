"""The model registry: every registered model loads with a head sized from the classes and its preprocessing."""
import json

import pytest
import torch

from foodlib import artifacts, models

# What each registered model's smoke stand-in must look like: (token grid of the first stage,
# grid of the last stage). A model added to the registry needs an entry here (and so a test).
TESTED = {
    "vit": {"first_grid": 7, "last_grid": 7},  # ViT-B/16 at 224: 14x14 throughout
    "swin": {"first_grid": 10, "last_grid": 5},  # Swin V2-T at 256: 64x64 ... 8x8
}
CLASSES = ["ceviche", "apple_pie", "bibimbap"]  # not sorted: the head must follow this order, not sort it


def test_every_registered_model_has_a_test():
    untested = sorted(set(models.available()) - set(TESTED))
    assert not untested, f"registered models without a test (add them to TESTED in tests/test_models.py): {untested}"


@pytest.mark.parametrize("name", models.available())
def test_load_builds_tiny_model_with_head_from_classes(name, smoke_params):
    model, pre = models.load(name, smoke_params, CLASSES)
    folder = models.tiny_dir(smoke_params, name)
    for f in ("config.json", "model.safetensors", "preprocessor_config.json", "tiny.json"):
        assert (folder / f).exists(), f"{f} missing from {folder}"
    assert model.config.id2label == dict(enumerate(CLASSES))
    assert model.config.label2id == {c: i for i, c in enumerate(CLASSES)}
    assert pre.image_size == model.config.image_size
    s = models.spec(name)
    assert (pre.mean, pre.std) == (s.tiny_mean, s.tiny_std)  # read back from the saved processor config
    x = pre.eval()(torch.randint(0, 256, (3, 90, 117), dtype=torch.uint8))
    assert x.shape == (3, pre.image_size, pre.image_size)
    with torch.no_grad():
        out = model(pixel_values=x[None], output_hidden_states=True)
    assert out.logits.shape == (1, len(CLASSES))
    grid = model.config.image_size // model.config.patch_size
    assert grid == TESTED[name]["first_grid"] and grid not in (14, 8)


@pytest.mark.parametrize("name", models.available())
def test_tiny_model_is_built_once_and_reused(name, smoke_params):
    models.source(smoke_params, name)
    weights = models.tiny_dir(smoke_params, name) / "model.safetensors"
    before = weights.stat().st_mtime_ns
    models.source(smoke_params, name)
    assert weights.stat().st_mtime_ns == before


@pytest.mark.parametrize("name", models.available())
def test_load_base_is_the_backbone_without_a_new_head(name, smoke_params):
    base = models.load_base(smoke_params, name)
    assert not hasattr(base, "classifier")
    size = base.config.image_size
    with torch.no_grad():
        hidden = base(pixel_values=torch.zeros(1, 3, size, size)).last_hidden_state
    tokens = TESTED[name]["last_grid"] ** 2 + (1 if name == "vit" else 0)  # ViT adds a CLS token
    assert hidden.shape[:2] == (1, tokens)


def test_new_head_depends_on_the_seed_only(smoke_params):
    torch.manual_seed(1)
    a, _ = models.load("vit", smoke_params, CLASSES)
    torch.manual_seed(2)  # the caller's RNG state must not matter: a rerun starts from the same weights
    b, _ = models.load("vit", smoke_params, CLASSES)
    assert torch.equal(a.classifier.weight, b.classifier.weight)


def test_swin_replaces_the_imagenet_head(smoke_params):
    folder = models.tiny_dir(smoke_params, "swin")
    models.source(smoke_params, "swin")
    assert len(json.loads((folder / "config.json").read_text())["id2label"]) == 1000
    model, _ = models.load("swin", smoke_params, CLASSES)
    assert model.classifier.out_features == len(CLASSES)


def test_attn_implementation_reaches_the_model(smoke_params):
    model, _ = models.load("vit", smoke_params, CLASSES, attn_implementation="eager")
    assert model.config._attn_implementation == "eager"


@pytest.mark.parametrize("name,notebook", [("vit", "02_vit_finetune"), ("swin", "03_swin_finetune")])
def test_missing_checkpoint_names_the_notebook(name, notebook, smoke_params):
    with pytest.raises(artifacts.MissingArtifactError, match=notebook):
        models.load_finetuned(smoke_params, name, CLASSES)
    with pytest.raises(artifacts.MissingArtifactError, match=notebook):
        models.load_finetuned(smoke_params, name, CLASSES, variant="linear")


def test_unknown_model_and_variant_are_refused(smoke_params):
    with pytest.raises(KeyError, match="not_a_model"):
        models.load("not_a_model", smoke_params, CLASSES)
    with pytest.raises(ValueError, match="probe"):
        models.artifact_name("vit", "probe")
