"""foodlib.run.estimate: the image counts, and the CPU wall-time estimate printed before a full-scale CPU run."""
from dataclasses import replace

import pytest

from foodlib import config
from foodlib.run import estimate as E


@pytest.mark.parametrize("train_per_class", [40, 9])
def test_image_counts_are_those_of_a_prepared_smoke_dataset(smoke_params, smoke_data, train_per_class):
    params = replace(smoke_params, synthetic_train_per_class=train_per_class)
    prepared = smoke_data(params)
    got = E.image_counts(params)
    assert got == {"fit": len(prepared.split("train")), "val": len(prepared.split("val")),
                   "test": len(prepared.split("test")), "files": len(prepared.index)}
    if train_per_class == 9:  # 7 classes of 9 hold out 1 (0.15 * 9 = 1.35), 3 of 10 (a planted file) hold out 2
        assert got["val"] == 13  # per class; round(0.15 * 93) = 14 over the whole split


def test_food101_counts_hold_out_per_class():
    # 0.05 * 750 = 37.5 rounds to 38 per class (half to even): 101 * 38 = 3,838, where the whole split would give 3,788
    full = {"fit": 75_750 - 3_838, "val": 3_838, "test": 25_250, "files": 101_000}
    assert E.image_counts(config.resolve("full")) == full
    # the rehearsal is Food-101's size plus the 6 planted broken or odd files, 3 of them usable (classes 0-2: 751
    # images, 0.05 * 751 = 37.55 -> 38 held out as before)
    assert E.image_counts(config.resolve("rehearsal")) == {**full, "fit": full["fit"] + 3, "files": 101_006}
    # quick: 60 train / 20 test per class, 0.05 * 60 = 3 held out
    assert E.image_counts(config.resolve("quick")) == {"fit": 101 * 57, "val": 303, "test": 2_020, "files": 8_080}


def test_no_estimate_for_gpu_or_tiny_models():
    assert E.cpu_estimate(config.resolve("full", device="cuda")) is None
    assert E.cpu_estimate(config.resolve("rehearsal", device="cuda")) is None
    assert E.cpu_estimate(config.resolve("smoke")) is None  # tiny models: minutes


def test_rehearsal_on_cpu_warns_in_days():
    text = E.cpu_estimate(config.resolve("rehearsal", device="cpu"), cores=2)
    assert text.startswith("Rough CPU estimate for profile 'rehearsal' on 2 cores")
    assert "days" in text and "02_vit_finetune" in text
    assert "71,915 training / 3,838 validation / 25,250 test images" in text  # the counts above


def _cpu(params, cores: int = 2) -> dict[str, float]:
    return E.project(E.cpu_lines(params, cores), params)


def test_the_cpu_parts_are_measured_seconds_per_image():
    p = config.resolve("full", device="cpu")
    s, got = E.SECONDS_PER_IMAGE, _cpu(p)
    fit, val, test = 71_912, 3_838, 25_250
    assert got["02_vit_finetune"] == pytest.approx(
        7 * (fit * s["vit", "train"] + val * s["vit", "eval"])  # 7 epochs: train steps and a validation pass
        + (fit + val + 2 * test) * s["vit", "eval"])  # the probe's features, two test passes
    assert got["04_clip_zero_shot"] == pytest.approx((fit + val + 2 * test) * s["clip", "eval"])  # probe, zero-shot
    # 06: 3 curve sets of 200 images x 21 deletion steps, through each of the three models
    assert got["06_attention_maps"] == pytest.approx(3 * 200 * 21 * (s["vit", "eval"] + s["swin", "eval"]
                                                                      + s["clip", "eval"]))
    assert got["01_data_prep"] == pytest.approx(101_000 * E.PREPARE_S_PER_IMAGE / 2)  # one process per core
    rehearsal = _cpu(config.resolve("rehearsal", device="cpu"))  # 3 more fit images; the photos generated first
    assert rehearsal["02_vit_finetune"] - got["02_vit_finetune"] == pytest.approx(
        3 * (7 * s["vit", "train"] + s["vit", "eval"]))
    assert rehearsal["01_data_prep"] > got["01_data_prep"]


def test_training_time_follows_epochs_and_cores():
    p = config.resolve("full", device="cpu")
    vit = _cpu(p)["02_vit_finetune"]
    assert vit / 3600 > 500
    assert _cpu(replace(p, num_epochs=1))["02_vit_finetune"] < vit / 3
    assert _cpu(p, cores=8)["02_vit_finetune"] == pytest.approx(vit / 4)


def test_published_finetune_costs_the_probe_and_the_test_pass_only():
    p = config.resolve("full", device="cpu", vit_finetuned="some/finetune")
    assert _cpu(p)["02_vit_finetune"] == pytest.approx((71_912 + 3_838 + 2 * 25_250) * E.SECONDS_PER_IMAGE["vit", "eval"])
