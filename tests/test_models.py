"""The model registry: every model is named once, loads with its preprocessing, and every list derives from it."""
import json

import pytest
import torch

from foodlib import artifacts, config, models, paths, registry, train
from foodlib.models import archs, hf, standins, tinyclip

# What each registered model's smoke stand-in must look like: its token grid at the first and last stage.
# A model added to the registry needs an entry here (and so a test).
TESTED = {
    "vit": {"first_grid": 7, "last_grid": 7, "real_grid": 14},  # ViT-B/16 at 224: 14x14 throughout
    "swin": {"first_grid": 10, "last_grid": 5, "real_grid": 64},  # Swin V2-T at 256: 64x64 ... 8x8
    "clip": {"first_grid": 8, "last_grid": 8, "real_grid": 7},  # CLIP ViT-B/32 at 224: 7x7
}
CLASSES = ["ceviche", "apple_pie", "bibimbap"]  # not sorted: the head must follow this order, not sort it


def test_every_registered_model_has_a_test():
    untested = sorted(set(models.available()) - set(TESTED))
    assert not untested, f"registered models without a test (add them to TESTED in tests/test_models.py): {untested}"


def test_every_list_of_models_derives_from_the_registry():
    from foodlib import compare
    from foodlib.run import report

    assert models.available() == ["vit", "swin", "clip"]
    assert models.artifact_names() == ["vit", "swin", "clip", "vit_linear", "swin_linear", "clip_linear"]
    assert compare.MAIN_MODELS == tuple(models.available())
    assert compare.KNOWN_MODELS == tuple(models.artifact_names())
    assert [models.producer(n) for n in models.artifact_names()] == [
        "02_vit_finetune", "03_swin_finetune", "04_clip_zero_shot", "02_vit_finetune", "03_swin_finetune",
        "04_clip_zero_shot"]
    colours = [models.colour(n) for n in models.artifact_names()]
    assert len(set(colours)) == len(colours) and models.colour("not_a_model") == "tab:gray"
    titles = " ".join(s.title for s in report.SECTIONS)
    assert all(models.spec(n).title in titles for n in models.available())
    # a parameter for a published fine-tune of every fine-tuned model, and none for the others
    fields = config.field_names()
    assert [n for n in models.available() if f"{n}_finetuned" in fields] == registry.trainable() == ["vit", "swin"]


def test_a_missing_prediction_file_names_its_notebook(smoke_params):
    with pytest.raises(artifacts.MissingArtifactError, match="03_swin_finetune"):
        artifacts.read_predictions("swin_linear", smoke_params)
    with pytest.raises(artifacts.MissingArtifactError, match="04_clip_zero_shot"):
        artifacts.read_metrics("clip", smoke_params)
    assert artifacts.read_metrics("clip", smoke_params, missing_ok=True) == {}


@pytest.fixture(scope="module")
def clip_params(tmp_path_factory):
    """Smoke parameters with a randomly initialised tiny CLIP file as clip_model (fast: nothing trained)."""
    folder = tmp_path_factory.mktemp("clip")
    torch.manual_seed(0)
    torch.save(tinyclip.build().state_dict(), folder / "tiny_random.pt")
    return config.resolve("smoke", results_dir=str(folder / "results"), clip_model=str(folder / "tiny_random.pt"))


def _grid(name: str, model) -> int:
    if name == "clip":
        return model.visual.input_resolution // model.visual.conv1.kernel_size[0]
    return model.config.image_size // model.config.patch_size


@pytest.mark.parametrize("name", models.available())
def test_load_gives_the_model_with_its_own_preprocess(name, smoke_params, clip_params):
    params = clip_params if name == "clip" else smoke_params
    model, pre = models.load(name, params, CLASSES)
    assert isinstance(pre, models.Preprocess)
    x = pre.eval()(torch.randint(0, 256, (3, 90, 117), dtype=torch.uint8))
    assert x.shape == (3, pre.image_size, pre.image_size)
    grid = _grid(name, model)
    assert grid == TESTED[name]["first_grid"] != TESTED[name]["real_grid"]  # nothing may assume the real grid
    with torch.no_grad():
        if name == "clip":
            assert model.encode_image(x[None]).shape == (1, model.text_projection.shape[1])
        else:
            assert model(pixel_values=x[None]).logits.shape == (1, len(CLASSES))


@pytest.mark.parametrize("name", registry.trainable())
def test_load_builds_tiny_model_with_head_from_classes(name, smoke_params):
    model, pre = models.load(name, smoke_params, CLASSES)
    folder = smoke_params.cache_dir / "models" / "tiny" / name
    for f in ("config.json", "model.safetensors", "preprocessor_config.json", standins.MARKER):
        assert (folder / f).exists(), f"{f} missing from {folder}"
    assert model.config.id2label == dict(enumerate(CLASSES))
    assert model.config.label2id == {c: i for i, c in enumerate(CLASSES)}
    assert pre.image_size == model.config.image_size
    published = archs.PROCESSORS[name]  # the published checkpoint's processor, at the tiny input size
    assert (list(pre.mean), list(pre.std)) == (published["image_mean"], published["image_std"])
    assert (pre.resize, pre.interpolation) == ("square", {2: "bilinear", 3: "bicubic"}[published["resample"]])


@pytest.mark.parametrize("name", registry.trainable())
def test_tiny_model_is_built_once_and_reused(name, smoke_params):
    models.source(name, smoke_params)
    weights = smoke_params.cache_dir / "models" / "tiny" / name / "model.safetensors"
    before = weights.stat().st_mtime_ns
    models.source(name, smoke_params)
    assert weights.stat().st_mtime_ns == before


@pytest.mark.parametrize("name", registry.trainable())
def test_load_pretrained_is_the_backbone_without_a_new_head(name, smoke_params):
    base, pre = models.load_pretrained(name, smoke_params)
    assert not hasattr(base, "classifier")
    size = base.config.image_size
    assert pre.image_size == size  # its preprocessing travels with it, as from every loader
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
    models.source("swin", smoke_params)
    assert len(json.loads((smoke_params.cache_dir / "models" / "tiny" / "swin" / "config.json").read_text())["id2label"]) == 1000
    model, _ = models.load("swin", smoke_params, CLASSES)
    assert model.classifier.out_features == len(CLASSES)


def test_attn_implementation_reaches_the_model(smoke_params):
    model, _ = models.load("vit", smoke_params, CLASSES, attn_implementation="eager")
    assert model.config._attn_implementation == "eager"


@pytest.mark.parametrize("name,notebook", [("vit", "02_vit_finetune"), ("swin", "03_swin_finetune")])
def test_missing_checkpoint_names_the_notebook(name, notebook, smoke_params):
    with pytest.raises(artifacts.MissingArtifactError, match=notebook):
        models.load_trained(name, smoke_params, CLASSES)


def test_a_training_stopped_before_its_first_epoch_loads_as_trained_but_a_crashed_one_does_not(smoke_params):
    """No best epoch after `max_steps` stopped 02 inside its first epoch: 06 and 07 get the model 02 scored (its
    last/ weights); a run that crashed there (no stop reason) still names the notebook to run."""
    from safetensors.torch import save_model

    trained, _ = models.load("vit", smoke_params, CLASSES)
    with torch.no_grad():
        trained.classifier.weight.add_(1.0)  # not what a fresh load gives
    last = models.checkpoint_dir("vit", smoke_params) / "last"
    last.mkdir(parents=True)
    save_model(trained, str(last / "model.safetensors"))
    state = {"global_step": 3, "best_epoch": None, "finished": False}
    (last / "state.json").write_text(json.dumps({**state, "stop_reason": None}))
    with pytest.raises(artifacts.MissingArtifactError, match="02_vit_finetune"):
        models.load_trained("vit", smoke_params, CLASSES)
    (last / "state.json").write_text(json.dumps({**state, "stop_reason": "max_steps"}))
    model, pre = models.load_trained("vit", smoke_params, CLASSES, attn_implementation="eager")
    assert not model.training and pre.image_size == trained.config.image_size
    for key, value in trained.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_unknown_model_and_variant_are_refused(smoke_params):
    with pytest.raises(KeyError, match="not_a_model"):
        models.load("not_a_model", smoke_params, CLASSES)
    with pytest.raises(ValueError, match="probe"):
        models.artifact_name("vit", "probe")
    assert models.artifact_name("clip", "linear") == "clip_linear"  # not trained, but probed like the others
    with pytest.raises(ValueError, match="finetune"):
        models.artifact_name("clip", "finetune")  # CLIP is not fine-tuned here


# -- a published fine-tune standing in for training ------------------------------------------

def _published(params, folder, classes, order, rename=None):
    """A fine-tuned tiny ViT whose head rows follow `classes`, saved with its labels in `order`
    (and in another spelling: 'Apple pie' for 'apple_pie'), as a checkpoint from elsewhere would be."""
    from transformers import AutoImageProcessor

    model, pre = models.load("vit", params, classes)
    with torch.random.fork_rng():
        torch.manual_seed(5)  # a head unlike the seeded new one, so the order matters
        torch.nn.init.normal_(model.classifier.weight, std=1.0)
        torch.nn.init.normal_(model.classifier.bias, std=1.0)
    saved_names = [classes[i].replace("_", " ").capitalize() for i in order]
    if rename:
        saved_names = [rename.get(n, n) for n in saved_names]
    reordered, _ = models.load("vit", params, saved_names)  # a head with len(classes) rows
    reordered.load_state_dict({k: (v[order] if k.startswith("classifier.") else v)
                               for k, v in model.state_dict().items()})
    reordered.save_pretrained(folder)
    AutoImageProcessor.from_pretrained(models.source("vit", params)).save_pretrained(folder)
    return model, pre


def test_published_finetune_with_labels_in_another_order_predicts_as_the_original(smoke_params, tmp_path):
    order = [2, 0, 1]  # saved label i is CLASSES[order[i]]
    original, pre = _published(smoke_params, tmp_path / "ckpt", CLASSES, order)
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["id2label"]["0"] == "Bibimbap"
    loaded, loaded_pre = hf.load_published("vit", str(tmp_path / "ckpt"), CLASSES)
    x = torch.randn(4, 3, pre.image_size, pre.image_size)
    with torch.no_grad():
        want, got = original(pixel_values=x).logits, loaded(pixel_values=x).logits
    torch.testing.assert_close(got, want)  # column j is CLASSES[j] again
    assert loaded.config.id2label == dict(enumerate(CLASSES)) and loaded_pre == pre


def test_a_published_finetune_folder_is_found_from_the_checkout_not_the_working_folder(smoke_params, tmp_path,
                                                                                       monkeypatch):
    """JupyterLab runs a notebook in notebooks/: a relative folder means the checkout's, as results_dir does."""
    root, elsewhere = tmp_path / "checkout", tmp_path / "notebooks"
    elsewhere.mkdir()
    _published(smoke_params, root / "finetunes" / "vit", CLASSES, [0, 1, 2])
    monkeypatch.setattr(paths, "project_root", lambda: root)
    monkeypatch.chdir(elsewhere)
    assert hf.published_source("finetunes/vit") == str(root / "finetunes" / "vit")
    assert hf.published_source("google/vit-base-patch16-224-in21k") == "google/vit-base-patch16-224-in21k"
    loaded, _ = hf.load_published("vit", "finetunes/vit", CLASSES)
    assert loaded.config.id2label == dict(enumerate(CLASSES))


def test_published_finetune_with_other_class_names_is_refused_naming_the_first(smoke_params, tmp_path):
    _published(smoke_params, tmp_path / "ckpt", CLASSES, [0, 1, 2], rename={"Apple pie": "Bulgogi"})
    with pytest.raises(ValueError, match="'apple_pie'"):
        hf.load_published("vit", str(tmp_path / "ckpt"), CLASSES)
    with pytest.raises(ValueError, match="'clip' is not a Hugging Face classifier"):
        hf.load_published("clip", str(tmp_path / "ckpt"), CLASSES)


def test_class_order_matches_by_name_ignoring_case_and_separators():
    assert hf.class_order(["Apple Pie", "beef-tartare", "ceviche"], ["ceviche", "apple_pie", "beef_tartare"]) == [2, 0, 1]
    with pytest.raises(ValueError, match="4 labels, the dataset 3"):
        hf.class_order(["a", "b", "c", "d"], ["a", "b", "c"])


def test_fit_evaluates_a_published_finetune_instead_of_training(tmp_path):
    from foodlib.data import prepare

    base = config.resolve("smoke", results_dir=str(tmp_path / "results"), synthetic_train_per_class=4,
                          synthetic_test_per_class=2)
    prepared = prepare.prepare_dataset(base, progress=False)
    classes = list(prepared.classes)
    original, _ = _published(base, tmp_path / "ckpt", classes, list(range(len(classes)))[::-1])
    params = config.resolve("smoke", results_dir=base.results_dir, synthetic_train_per_class=4,
                            synthetic_test_per_class=2, vit_finetuned=str(tmp_path / "ckpt"))
    result = train.fit("vit", params, prepared, device="cpu", progress=False)
    assert result.history.empty and result.summary()["published_checkpoint"] == str(tmp_path / "ckpt")
    assert result.summary()["train_wall_time_s"] is None
    # saved where notebooks 06 and 07 look for the fine-tune, in the dataset's class order
    kept, pre = models.load_trained("vit", params, classes)
    x = torch.randn(2, 3, pre.image_size, pre.image_size)
    with torch.no_grad():
        torch.testing.assert_close(kept(pixel_values=x).logits, original(pixel_values=x).logits)
