"""CLIP zero-shot (foodlib.zeroshot), loading CLIP through the registry, and the tiny CLIP stand-in."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from foodlib import artifacts, config, models, zeroshot
from foodlib.data.prepare import load_prepared
from foodlib.models import common, standins, tinyclip

# The trained tiny CLIP must score at least this on the synthetic test split (10 classes: chance is 10%).
MIN_TINY_TOP1 = 0.5  # 5x chance; it scores ~0.7 (seed 0)
CLASSES = ["apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare"]


@pytest.fixture(scope="module")
def random_clip_file(tmp_path_factory):
    """A randomly initialised tiny CLIP saved as a state dict: fast, untrained."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clip") / "random_tiny.pt"
    torch.save(tinyclip.build().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def random_clip(random_clip_file):
    """The same file loaded back through the registry (clip.load on a checkpoint path)."""
    model, _ = models.load("clip", config.resolve("smoke", clip_model=str(random_clip_file)), CLASSES)
    return model


def test_tiny_clip_loads_back_through_clip_load(random_clip_file, random_clip):
    from clip.model import VisionTransformer

    model = random_clip
    assert isinstance(model.visual, VisionTransformer)
    assert model.visual.input_resolution == tinyclip.ARCH["image_resolution"]
    grid = model.visual.input_resolution // model.visual.conv1.kernel_size[0]
    assert grid == 8 != 7  # not ViT-B/32's 7x7: code that assumes a grid size fails here
    assert model.visual.positional_embedding.shape == (grid * grid + 1, tinyclip.ARCH["vision_width"])
    assert model.context_length == tinyclip.ARCH["context_length"]
    # What was saved comes back (build_model rounds the linear and conv weights through fp16).
    saved = torch.load(random_clip_file, map_location="cpu", weights_only=True)
    assert model.state_dict().keys() == saved.keys()
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value.float(), saved[name], rtol=1e-3, atol=1e-7, msg=name)


def test_tensor_transform_matches_clip_preprocess():
    import clip

    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, size=(90, 120, 3), dtype=np.uint8)
    reference = clip.clip._transform(64)(Image.fromarray(array))  # PIL path of clip.load's preprocess
    ours = tinyclip.tiny_preprocess(64).eval()(torch.from_numpy(array).permute(2, 0, 1))
    assert ours.shape == reference.shape == (3, 64, 64)
    diff = (ours - reference).abs()
    one_level = 1 / 255 / min(common.CLIP_STD)  # one uint8 step after normalisation
    assert diff.max() <= 2.5 * one_level and diff.mean() < 0.5 * one_level


def test_prompt_sets_and_class_texts():
    sets = zeroshot.prompt_sets()
    assert list(sets) == ["name", "photo", "food", "ensemble"]
    assert sets["food"] == ["a photo of {}, a type of food."]
    assert sets["name"] == ["{}"] and sets["photo"] == ["a photo of {}."]
    assert len(sets["ensemble"]) >= 4 and all(t.count("{}") == 1 for ts in sets.values() for t in ts)
    assert set(sets) == set(config._CHOICES["clip_prompt_set"])  # every set the parameter accepts
    assert zeroshot.class_texts(["apple_pie", "beef_tartare"]) == ["apple pie", "beef tartare"]


def test_the_tiny_clip_was_trained_on_every_prompt_template():
    """The smoke CLIP's captions are written out apart from the prompt sets (editing a prompt does not retrain
    it); a template it never saw would make 04's smoke figures meaningless, so each must be among them."""
    unseen = {t for ts in zeroshot.prompt_sets().values() for t in ts} - set(tinyclip.CAPTIONS)
    assert not unseen, f"add these to foodlib/models/tinyclip.py CAPTIONS (the smoke CLIP retrains): {unseen}"
    assert len(set(tinyclip.CAPTIONS)) == len(tinyclip.CAPTIONS) and all(c.count("{}") == 1 for c in tinyclip.CAPTIONS)


def test_ensemble_is_renormalised_mean_of_normalised_template_embeddings(random_clip):
    import clip

    templates = zeroshot.prompt_sets()["ensemble"]
    names = zeroshot.class_texts(CLASSES)
    with torch.no_grad():
        per_template = torch.stack([
            random_clip.encode_text(clip.tokenize([t.format(n) for n in names], context_length=random_clip.context_length))
            for t in templates
        ])  # (T, C, D)
    expected = F.normalize(F.normalize(per_template, dim=-1).mean(0), dim=-1)
    got = zeroshot.text_features(random_clip, CLASSES, templates)
    assert got.shape == (len(CLASSES), random_clip.text_projection.shape[1])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # Averaging raw embeddings would give something else: the check above can fail.
    unnormalised = F.normalize(per_template.mean(0), dim=-1)
    assert (got - unnormalised).abs().max() > 1e-3


def test_zero_shot_probs_is_softmax_of_scaled_cosines():
    img = F.normalize(torch.randn(6, 16), dim=-1)
    txt = F.normalize(torch.randn(4, 16), dim=-1)
    probs = zeroshot.zero_shot_probs(img, txt, 100.0)
    assert probs.shape == (6, 4)
    torch.testing.assert_close(probs.sum(1), torch.ones(6))
    torch.testing.assert_close(probs, (100 * img @ txt.t()).softmax(-1))
    assert torch.equal(probs.argmax(1), (img @ txt.t()).argmax(1))


def test_clip_loss_rewards_matched_pairs():
    feats = F.normalize(torch.randn(8, 16), dim=-1)
    assert tinyclip.clip_loss(feats, feats, torch.tensor(100.0)) < 0.01
    chance = tinyclip.clip_loss(feats, feats.roll(1, dims=0), torch.tensor(0.0))  # scale 0: uniform logits
    torch.testing.assert_close(chance, torch.tensor(np.log(8), dtype=torch.float32))


def test_clip_loads_a_checkpoint_path_with_its_own_preprocess_and_refuses_unknown_names(random_clip_file):
    import clip

    model, pre = models.load("clip", config.resolve("smoke", clip_model=str(random_clip_file)), CLASSES)
    assert model.visual.input_resolution == 64 and next(model.parameters()).dtype == torch.float32
    # The Preprocess is read off the transform clip.load returns: size, bicubic, no extra crop margin, CLIP's stats.
    assert (pre.image_size, pre.interpolation, pre.crop_ratio) == (64, "bicubic", 1.0)
    assert pre == models.Preprocess.from_torchvision(clip.clip._transform(64))
    assert pre.eval()(torch.zeros(3, 100, 80, dtype=torch.uint8)).shape == (3, 64, 64)
    with pytest.raises(ValueError, match="ViT-B/32"):
        models.load("clip", config.resolve("smoke", clip_model="ViT-B/33"), CLASSES)


def _test_features(params):
    """(image features, labels, model) of the cached tiny CLIP on the synthetic test split."""
    model, pre = models.load("clip", params, CLASSES)
    loader = zeroshot.eval_loader(params, pre, load_prepared(params), "cpu")
    return zeroshot.image_features(model, loader, normalize=pre.normalize()), np.asarray(loader.dataset.labels), model


def test_tiny_clip_is_far_above_chance_and_blind_to_class_order(smoke_ok):
    path = standins.tiny_clip_path(smoke_ok)
    mtime = path.stat().st_mtime_ns
    classes = load_prepared(smoke_ok).classes
    img, labels, model = _test_features(smoke_ok)
    assert path.stat().st_mtime_ns == mtime  # reused the cached model, not trained again
    food = zeroshot.prompt_sets()["food"]
    scale = model.logit_scale.exp().item()
    pred = zeroshot.zero_shot_probs(img, zeroshot.text_features(model, classes, food), scale).argmax(1).numpy()
    assert (pred == labels).mean() >= MIN_TINY_TOP1 >= 5 / len(classes)  # at least 5x chance

    shuffled = list(np.random.default_rng(1).permutation(classes))
    assert shuffled != classes
    pred_s = zeroshot.zero_shot_probs(img, zeroshot.text_features(model, shuffled, food), scale).argmax(1).numpy()
    assert [shuffled[i] for i in pred_s] == [classes[i] for i in pred]


def test_tiny_clip_is_trained_on_the_train_split_only(smoke_ok):
    prepared = load_prepared(smoke_ok)
    info = standins.clip_training(smoke_ok)
    trained_on = set(standins.read_marker(standins.tiny_clip_path(smoke_ok))["build"]["train_images"])
    assert trained_on == set(prepared.split("train")["image_id"])
    assert not trained_on & set(prepared.split("test")["image_id"])
    assert not trained_on & set(prepared.split("val")["image_id"])
    assert info["num_train_images"] == len(trained_on)
    assert info["loss_last"] < info["loss_first"] - 1


def test_notebook_04_writes_the_contract(smoke_ok):
    p = smoke_ok
    prepared = load_prepared(p)
    n_test, n_classes = len(prepared.split("test")), len(prepared.classes)
    preds = artifacts.read_predictions("clip", p)
    assert list(preds.columns) == list(artifacts.PREDICTION_COLUMNS) and len(preds) == n_test
    assert set(preds["image_id"]) == set(prepared.split("test")["image_id"])
    probs = np.stack(preds["probs"].to_numpy())
    assert probs.shape == (n_test, n_classes) and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert (probs.argmax(1) == preds["pred"]).all() and (preds["top5"].map(lambda r: r[0]) == preds["pred"]).all()

    m = artifacts.read_metrics("clip", p)
    for key in ("top1", "top5", "mean_per_class_recall", "macro_f1", "n", "eval_images_per_s", "num_parameters"):
        assert key in m, key
    assert m["clip_model"] == "tiny" and m["prompt_set"] == p.clip_prompt_set and m["n"] == n_test
    assert m["params"]["profile"] == "smoke" and m["top1"] >= MIN_TINY_TOP1
    assert m["top1"] == pytest.approx((preds["pred"] == preds["label"]).mean())

    table = pd.read_csv(p.subdir("tables") / "clip_prompts.csv")
    assert list(table["prompt_set"]) == list(zeroshot.prompt_sets())
    row = table.set_index("prompt_set").loc[p.clip_prompt_set]
    assert row["top1"] == pytest.approx(m["top1"], abs=1e-4)
    assert (p.subdir("tables") / "clip_prompts.md").exists()
    assert (p.subdir("figures") / "clip_prompts.png").stat().st_size > 10_000
    assert json.loads((p.subdir("figures") / "clip_prompts.png.meta.json").read_text())["params"]["profile"] == "smoke"
