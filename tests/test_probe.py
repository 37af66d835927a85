"""The linear probe (foodlib.probe): scikit-learn's objective, the paper's search on validation only, the
probed layer of each backbone against the libraries' own outputs, and the probe on the smoke data."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from foodlib import artifacts, config, models, registry
from foodlib.data.prepare import load_prepared
from foodlib.data.preprocess import Preprocess
from foodlib.models import archs, tinyclip
from foodlib.models.common import CLIP_MEAN, CLIP_STD, import_clip
from foodlib.probe import cache, features, fewshot, logreg, protocol, sweep


def clusters(n: int, dim: int = 16, classes: int = 5, spread: float = 1.5, seed: int = 0, flip: float = 0.0):
    """(n, dim) float64 features around one mean per class, (n,) labels; a share `flip` of labels made random."""
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(123).normal(size=(classes, dim))
    y = rng.integers(0, classes, n)
    x = means[y] + spread * rng.normal(size=(n, dim))
    noisy = rng.random(n) < flip
    y[noisy] = rng.integers(0, classes, int(noisy.sum()))
    return torch.tensor(x), torch.tensor(y)


def as_features(x: torch.Tensor, y: torch.Tensor) -> cache.Features:
    return cache.Features(x, y, [f"img{i}" for i in range(len(y))], "synthetic", False, 0.0)


@pytest.mark.parametrize("strength", [0.03, 1.0, 30.0])
def test_fit_matches_scikit_learn_logistic_regression(strength):
    x, y = clusters(400)
    reference = LogisticRegression(C=1 / strength, solver="lbfgs", tol=1e-10, max_iter=10_000).fit(x.numpy(), y.numpy())
    ours = logreg.fit(x, y, 5, strength, tol=1e-12, ftol=1e-15, max_iter=5000)  # float64, as scikit-learn
    assert logreg.inverse(strength) == pytest.approx(reference.C)
    probs = ours.logits(x).softmax(dim=1).numpy()
    assert (probs.argmax(1) == reference.predict(x.numpy())).all()
    np.testing.assert_allclose(probs, reference.predict_proba(x.numpy()), atol=1e-5)
    np.testing.assert_allclose(ours.weight.numpy(), reference.coef_, atol=1e-4, rtol=1e-4)
    # the intercepts are defined up to a shared constant (softmax): compare them centred
    np.testing.assert_allclose(ours.bias.numpy() - ours.bias.numpy().mean(),
                               reference.intercept_ - reference.intercept_.mean(), atol=1e-4)


def test_fit_is_deterministic_and_a_warm_start_reaches_the_same_optimum():
    x, y = clusters(300, flip=0.2)
    x = x.float()
    a, b = logreg.fit(x, y, 5, 1.0), logreg.fit(x, y, 5, 1.0)
    assert torch.equal(a.weight, b.weight) and a.iterations == b.iterations
    warm = logreg.fit(x, y, 5, 1.0, init=logreg.fit(x, y, 5, 3.0))
    assert warm.iterations < a.iterations
    torch.testing.assert_close(warm.logits(x).softmax(1), a.logits(x).softmax(1), atol=2e-3, rtol=0)
    with pytest.raises(ValueError, match="> 0"):
        logreg.fit(x, y, 5, 0.0)


def test_a_fit_cut_short_says_it_did_not_converge():
    x, y = clusters(400, flip=0.2)
    x = x.float()
    short, done = logreg.fit(x, y, 5, 0.01, max_iter=3), logreg.fit(x, y, 5, 0.01)
    assert short.iterations == 3 and not short.converged
    assert done.converged and done.iterations > 3 and done.objective < short.objective


def test_the_search_visits_the_papers_grid_and_ends_at_an_eighth_of_a_decade():
    strengths = sweep.grid()
    assert len(strengths) == 97 and strengths[0] == pytest.approx(1e-6) and strengths[-1] == pytest.approx(1e6)
    np.testing.assert_allclose(np.diff(np.log10(strengths)), 1 / 8)
    (x, y), (vx, vy) = clusters(300, flip=0.3, seed=1), clusters(150, flip=0.3, seed=2)
    result = sweep.search(x.float(), y, vx.float(), vy, 5)
    table = result.table
    logs = np.round(table["log10_strength"].to_numpy() * 8).astype(int)
    assert set(range(-48, 49, 16)) <= set(logs) and len(table) <= 15  # the 7 starting points, at most 15 fits
    chosen = table[table["chosen"]].iloc[0]
    assert chosen["strength"] == result.strength and chosen["val_top1"] == table["val_top1"].max()
    at = int(round(chosen["log10_strength"] * 8))
    assert {max(at - 1, -48), min(at + 1, 48)} <= set(logs)  # its neighbours 1/8 decade away were fitted
    again = sweep.search(x.float(), y, vx.float(), vy, 5)
    pd.testing.assert_frame_equal(again.table, table)  # deterministic


def test_the_chosen_strength_never_reads_the_test_split():
    """A test split that rewards memorising the training set (it IS the training set, its label also written
    into a feature) would pull a search that read it elsewhere; the search, its curve and the few-shot
    choices stay those of the validation split whatever the test split holds."""
    (x, y), (vx, vy) = clusters(300, flip=0.3, seed=3), clusters(150, flip=0.3, seed=4)
    tr, va = as_features(x.float(), y), as_features(vx.float(), vy)
    planted_x = x.float().clone()
    planted_x[:, 0] = y.float()
    runs = [protocol.evaluate(tr, va, test, 5, name="probe", ks=(2, fewshot.ALL), seeds=(0,))
            for test in (as_features(*clusters(100, seed=5)), as_features(planted_x, y))]
    clean, planted = runs
    pd.testing.assert_frame_equal(clean.sweep, planted.sweep)
    assert clean.strength == planted.strength == sweep.search(x.float(), y, vx.float(), vy, 5).strength
    cols = ["k", "seed", "n_train", "strength", "val_top1"]
    pd.testing.assert_frame_equal(clean.fewshot[cols], planted.fewshot[cols])
    # the plant bites: choosing on that test split would have given another strength
    assert sweep.search(x.float(), y, planted_x, y, 5).strength != clean.strength


def test_a_run_without_few_shot_probes_leaves_no_earlier_few_shot_files(tmp_path):
    params = config.resolve("smoke", results_dir=str(tmp_path), fewshot_k="")
    (x, y), (vx, vy), (tx, ty) = clusters(100, seed=1), clusters(50, seed=2), clusters(50, seed=3)
    splits = [as_features(a.float(), b) for a, b in ((x, y), (vx, vy), (tx, ty))]
    prepared = type("Prepared", (), {"classes": [f"c{i}" for i in range(5)]})()
    with_shots = protocol.evaluate(*splits, 5, name="p_linear", ks=(2, fewshot.ALL), seeds=(0,))
    protocol.write_results(with_shots, params, prepared)
    tables, figure = params.subdir("tables"), params.subdir("figures") / "p_linear_fewshot.png"
    assert (tables / "p_linear_fewshot_summary.csv").exists() and figure.exists()
    assert str(protocol.show_fewshot(with_shots, params).filename) == str(figure)
    without = protocol.evaluate(*splits, 5, name="p_linear", ks=(), seeds=(0,))
    protocol.write_results(without, params, prepared)
    assert sorted(p.name for p in tables.iterdir() if "fewshot" in p.name) == [] and not figure.exists()
    assert protocol.show_fewshot(without, params) == "p_linear: no few-shot probes (fewshot_k is empty)"


def test_shots_are_stratified_seeded_and_nested():
    labels = np.repeat(np.arange(4), 10)
    one, four = fewshot.shots(labels, 1, seed=0), fewshot.shots(labels, 4, seed=0)
    assert np.bincount(labels[four]).tolist() == [4, 4, 4, 4] and set(one) <= set(four)
    assert not np.array_equal(four, fewshot.shots(labels, 4, seed=1))
    np.testing.assert_array_equal(four, fewshot.shots(labels, 4, seed=0))
    with pytest.raises(ValueError, match="fewer than k"):
        fewshot.shots(labels, 11, seed=0)


def uint8_batch(side: int, n: int = 2) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def probe_features(model, images: torch.Tensor, preprocess: Preprocess) -> torch.Tensor:
    x, labels = features.extract(model, [(images, torch.zeros(len(images)))], device="cpu",
                                 normalize=preprocess.normalize())
    assert labels.tolist() == [0] * len(images)
    return x


def hf_model(config):
    import transformers

    torch.manual_seed(0)
    model = transformers.AutoModelForImageClassification.from_config(config).eval()
    side = config.image_size
    return model, Preprocess(side, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), uint8_batch(side)


# What each Hugging Face classifier's head reads: ViT's layer-normed class token, Swin V2's pooled output.
BACKBONE_OUTPUT = {"vit": lambda model, pixels: model.vit(pixel_values=pixels).last_hidden_state[:, 0],
                   "swin": lambda model, pixels: model.swinv2(pixel_values=pixels).pooler_output}


@pytest.mark.parametrize("size", ["tiny", "real"])
@pytest.mark.parametrize("name", ["vit", "swin"])
def test_hf_features_are_what_the_head_reads(name, size):
    config = registry.spec(name).family.tiny_config() if size == "tiny" else archs.HF_CONFIGS[name]()
    config.num_labels = 7
    model, preprocess, images = hf_model(config)
    x = probe_features(model, images, preprocess)
    with torch.no_grad():
        pixels = preprocess.normalize()(images)
        reference, logits = BACKBONE_OUTPUT[name](model, pixels), model(pixel_values=pixels).logits
    assert x.shape == (2, config.hidden_size)
    torch.testing.assert_close(x, reference)
    torch.testing.assert_close(model.classifier(x), logits)


@pytest.mark.parametrize("size", ["tiny", "real"])
def test_clip_features_come_before_the_projection(size):
    torch.manual_seed(0)
    clip = import_clip()
    model = (tinyclip.build() if size == "tiny" else clip.model.CLIP(**archs.clip_dims("ViT-B/32"))).eval()
    side = model.visual.input_resolution
    preprocess, images = Preprocess(side, CLIP_MEAN, CLIP_STD), uint8_batch(side)
    x = probe_features(model, images, preprocess)
    assert x.shape == (2, model.visual.proj.shape[0])  # the tower's width, not the embedding's
    with torch.no_grad():
        torch.testing.assert_close(x @ model.visual.proj, model.encode_image(preprocess.normalize()(images)))
    assert "ln_post" in features.probed_layer(model)[2]


def test_a_model_without_a_linear_head_is_refused():
    with pytest.raises(ValueError, match="no linear head 'classifier'"):
        features.probed_layer(torch.nn.Sequential(torch.nn.Linear(3, 3)))


# -- the probe on the smoke data --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smoke(smoke_data, tmp_path_factory):
    params = config.resolve("smoke", results_dir=str(tmp_path_factory.mktemp("probe") / "results"))
    return params, smoke_data(params)


def _probe(params, name: str) -> tuple[dict, pd.DataFrame]:
    """A probe the smoke series wrote (02-04): its metrics and its few-shot summary."""
    shots = pd.read_csv(params.subdir("tables") / f"{name}_fewshot_summary.csv", dtype={"k": str})
    return artifacts.read_metrics(name, params), shots


def test_the_tiny_clip_probe_is_far_above_chance_and_improves_with_shots(smoke_ok):
    """The smoke series' clip_linear (04): CLIP's tiny features were trained on the synthetic images."""
    metrics, summary = _probe(smoke_ok, "clip_linear")
    assert metrics["top1"] >= 0.6, metrics["top1"]  # 10 classes: chance is 0.1
    assert metrics["feature_dim"] == tinyclip.ARCH["vision_width"]  # visual.ln_post: before the projection
    assert summary["k"].tolist()[-1] == "all" and (summary["seeds"].iloc[:-1] == smoke_ok.fewshot_seeds).all()
    mean, spread = summary["mean"].to_numpy(), (summary["max"] - summary["min"]).to_numpy()
    for i in range(len(summary) - 1):  # non-decreasing in k within the spread over seeds
        assert mean[i + 1] >= mean[i] - spread[i] - spread[i + 1], summary
    assert mean[-1] > mean[0]


@pytest.mark.parametrize("name", ["vit", "swin"])
def test_the_tiny_random_backbones_probe_above_chance(smoke_ok, name):
    """The smoke series' vit_linear / swin_linear (02, 03): random tiny backbones, yet features of the shapes."""
    metrics, _ = _probe(smoke_ok, f"{name}_linear")
    assert metrics["top1"] > 0.2, metrics["top1"]  # chance 0.1
    hidden = models.load(name, smoke_ok, load_prepared(smoke_ok).classes)[0].config.hidden_size
    assert metrics["feature_dim"] == hidden


def test_features_are_cached_per_split_and_rebuilt_when_the_weights_change(smoke):
    params, prepared = smoke
    model, preprocess = models.load("vit", params, prepared.classes)
    first = cache.split_features(model, preprocess, params, prepared, "val", "cpu", name="cache_test", progress=False)
    again = cache.split_features(model, preprocess, params, prepared, "val", "cpu", name="cache_test", progress=False)
    assert not first.cached and again.cached and torch.equal(first.x, again.x)
    assert first.labels.tolist() == prepared.split("val")["label"].tolist()
    with torch.no_grad():
        model.classifier.weight.add_(1.0)  # after the probed layer: the features are the same
    assert cache.split_features(model, preprocess, params, prepared, "val", "cpu", name="cache_test",
                                progress=False).cached
    with torch.no_grad():
        model.vit.layernorm.bias.add_(1.0)  # the features change
    rebuilt = cache.split_features(model, preprocess, params, prepared, "val", "cpu", name="cache_test", progress=False)
    assert not rebuilt.cached
    torch.testing.assert_close(rebuilt.x, first.x + 1.0)


def test_training_images_come_from_the_sources_or_else_the_prepared_copies(smoke):
    params, prepared = smoke
    images = features.TrainImages(prepared)
    rows = prepared.split("train")
    assert images.paths == [str(prepared.path(s)) for s in rows["source"]] and images.from_copies == 0
    hub_like = type(prepared)(prepared.classes, prepared.index.assign(source=""), prepared.root)
    copies = features.TrainImages(hub_like)
    assert copies.paths == [str(prepared.path(p)) for p in rows["path"]] and copies.from_copies == len(rows)
