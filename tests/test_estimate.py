"""The CPU wall-time estimate printed before a full-scale run on CPU."""
from dataclasses import replace

from foodlib import config
from foodlib.run import estimate


def test_no_estimate_for_gpu_or_tiny_models():
    assert estimate.cpu_estimate(config.resolve("full", device="cuda")) is None
    assert estimate.cpu_estimate(config.resolve("rehearsal", device="cuda")) is None
    assert estimate.cpu_estimate(config.resolve("smoke")) is None  # tiny models: minutes


def test_rehearsal_on_cpu_warns_in_days():
    text = estimate.cpu_estimate(config.resolve("rehearsal", device="cpu"), cores=2)
    assert text.startswith("Rough CPU estimate for profile 'rehearsal' on 2 cores")
    assert "days" in text and "02_vit_finetune" in text
    assert "71,962 training / 3,788 validation / 25,250 test images" in text


def test_rehearsal_counts_the_same_images_as_full():
    full, rehearsal = config.resolve("full", device="cpu"), config.resolve("rehearsal", device="cpu")
    assert estimate.image_counts(full) == estimate.image_counts(rehearsal)
    a, b = estimate.stage_seconds(full), estimate.stage_seconds(rehearsal)
    assert {k: v for k, v in a.items() if k != "01_data_prep"} == {k: v for k, v in b.items() if k != "01_data_prep"}
    assert b["01_data_prep"] > a["01_data_prep"]  # the photos are generated first


def test_training_time_follows_epochs_images_and_cores():
    p = config.resolve("full", device="cpu")
    n = estimate.image_counts(p)
    s = estimate.SECONDS_PER_IMAGE
    # 7 epochs of ViT-B/16 on 71,962 images at 3.9 s each, plus validation, probe and test passes.
    train_only = p.num_epochs * n["fit"] * s[("vit", "train")]
    vit = estimate.stage_seconds(p)["02_vit_finetune"]
    assert train_only < vit < train_only * 1.5 and vit / 3600 > 500
    one_epoch = estimate.stage_seconds(replace(p, num_epochs=1))["02_vit_finetune"]
    assert one_epoch < vit / 3
    assert estimate.stage_seconds(p, cores=8)["02_vit_finetune"] == vit / 4
    quick = estimate.image_counts(config.resolve("quick"))
    assert quick["fit"] + quick["val"] == 101 * 60 and quick["test"] == 101 * 20


def test_published_finetune_only_costs_the_test_pass():
    p = config.resolve("full", device="cpu", vit_finetuned="some/finetune")
    assert estimate.stage_seconds(p)["02_vit_finetune"] == 25_250 * estimate.SECONDS_PER_IMAGE[("vit", "eval")]
