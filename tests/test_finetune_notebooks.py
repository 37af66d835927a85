"""Notebooks 02 and 03 on the smoke profile (run once, by the smoke_ok session fixture)."""
import numpy as np
import pandas as pd
import pytest

from foodlib import artifacts, models
from foodlib.train import scoring
from foodlib.data import prepare

METRIC_KEYS = [
    "top1", "top5", "mean_per_class_recall", "macro_f1", "n", "loss", "train_wall_time_s", "train_images_per_s",
    "eval_images_per_s", "num_parameters", "num_trainable_parameters", "peak_gpu_mem_gb", "epochs_run",
    "best_epoch", "params", "versions",
]
# Chance is 1/10 on the 10-class synthetic set. With 120 test images the accuracy of a guesser has a
# standard deviation of about sqrt(0.1 * 0.9 / 120) = 0.027, so 0.5 is about 15 standard deviations above
# chance. Were the probability columns in another order than the dataset's labels (a head whose label ids
# do not follow the dataset's class list), predictions would score about chance, and this would fail.
MIN_TOP1 = 0.5


def _check_predictions(artifact: str, params, prepared) -> dict:
    """The contract of one prediction file and its metrics; returns the metrics."""
    test = prepared.split("test")
    preds = artifacts.read_predictions(artifact, params)
    assert len(preds) == len(test) and set(preds["image_id"]) == set(test["image_id"])
    truth = dict(zip(test["image_id"], test["label"]))
    assert (preds["label"] == preds["image_id"].map(truth)).all()
    assert preds["probs"].map(len).eq(len(prepared.classes)).all()
    metrics = artifacts.read_metrics(artifact, params)
    assert metrics["top1"] == pytest.approx((preds["pred"] == preds["label"]).mean())
    assert metrics["params"]["profile"] == "smoke"
    return metrics


@pytest.mark.parametrize("name", ["vit", "swin"])
def test_finetune_notebook_writes_the_contract(smoke_ok, name):
    prepared = prepare.load_prepared(smoke_ok)
    metrics = _check_predictions(name, smoke_ok, prepared)
    assert not [k for k in METRIC_KEYS if k not in metrics] and metrics["peak_gpu_mem_gb"] is None
    assert (smoke_ok.subdir("figures") / f"{name}_curves.png").stat().st_size > 10_000
    history = pd.read_csv(smoke_ok.subdir("tables") / f"{name}_history.csv")
    assert len(history) == metrics["epochs_run"] and history["val_top1"].between(0, 1).all()
    # the clock at each validation's start (what the projection reads an epoch's cost off), compile apart
    assert history["elapsed_s"].is_monotonic_increasing and (history["compile_s"] == 0).all()  # CPU: no compile
    assert history["elapsed_s"].iloc[-1] < metrics["train_wall_time_s"]  # the last validation came after
    assert (smoke_ok.run_dir / "tensorboard" / name).is_dir()


@pytest.mark.parametrize("name", ["vit", "swin", "clip"])
def test_each_notebook_writes_its_linear_probe(smoke_ok, name):
    """02-04 write `<name>_linear` by the probe's protocol: the strength swept on validation (the chosen one the
    best there), the final fit on train + val, few-shot at the profile's k and seeds, and their figures."""
    prepared = prepare.load_prepared(smoke_ok)
    probe_name = f"{name}_linear"
    metrics = _check_predictions(probe_name, smoke_ok, prepared)
    assert metrics["final_fit"] == "train+val" and metrics["feature_dim"] > 0
    assert metrics["n_train"] == len(prepared.split("train")) and metrics["n_val"] == len(prepared.split("val"))
    sweep = pd.read_csv(smoke_ok.subdir("tables") / f"{probe_name}_sweep.csv")
    chosen = sweep[sweep["chosen"]]
    assert len(chosen) == 1 and chosen["strength"].iloc[0] == pytest.approx(metrics["strength"], rel=1e-5)  # csv: 6 digits
    assert chosen["val_top1"].iloc[0] == sweep["val_top1"].max()
    shots = pd.read_csv(smoke_ok.subdir("tables") / f"{probe_name}_fewshot_summary.csv", dtype={"k": str})
    assert shots["k"].tolist() == [str(k) for k in smoke_ok.fewshot_ks] + ["all"]
    assert (shots["seeds"].iloc[:-1] == smoke_ok.fewshot_seeds).all()
    for figure in ("sweep", "fewshot"):
        assert (smoke_ok.subdir("figures") / f"{probe_name}_{figure}.png").stat().st_size > 10_000
    assert not (smoke_ok.subdir("figures") / f"{probe_name}_curves.png").exists()  # no training epochs: no curves


@pytest.mark.parametrize("name", ["vit", "swin"])
def test_finetuned_smoke_models_are_far_above_chance(smoke_ok, name):
    metrics = artifacts.read_metrics(name, smoke_ok)
    assert metrics["top1"] >= MIN_TOP1, f"{name}: top-1 {metrics['top1']:.3f} (chance 0.10)"


@pytest.mark.parametrize("name", ["vit", "swin"])
def test_saved_checkpoint_reproduces_the_saved_predictions(smoke_ok, name):
    """What notebooks 06 and 07 load (models.load_trained) is the model that made the predictions."""
    prepared = prepare.load_prepared(smoke_ok)
    model, pre = models.load_trained(name, smoke_ok, prepared.classes)
    from foodlib.data import loader

    test = loader.SourceImages(prepared, "test", pre.eval())
    logits = scoring.predict(model, test, batch_size=64, num_workers=0, device="cpu")
    preds = artifacts.read_predictions(name, smoke_ok).set_index("image_id").loc[test.image_ids]
    assert logits.argmax(1).tolist() == preds["pred"].tolist()
    np.testing.assert_allclose(scoring.softmax(logits), np.stack(preds["probs"]), atol=1e-5)
