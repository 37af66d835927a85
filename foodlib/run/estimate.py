"""A rough wall-time estimate for a full-scale run on CPU, to print before it starts.

`cpu_estimate(params)` answers None unless the run would train the real-size models on a
CPU; then a short text with hours per notebook. It counts images (the dataset's size,
epochs, validation passes, notebook 06's deletion curves) and multiplies them by seconds per
image measured on this project's build machine. It is an order of magnitude, not a promise:
early stopping can end training sooner, and another CPU can be several times faster or slower.
"""
from __future__ import annotations

from foodlib import runtime
from foodlib.config import Params

# Seconds per image on the build machine: 2 cores (AMD EPYC, AVX2), fp32, torch 2.14.1, batch 8,
# the real architectures built from configs (foodlib.bench.build_model; CLIP ViT-B/32 from
# clip.model.CLIP). train = forward + cross-entropy + backward + AdamW step; eval = forward under
# inference_mode. Measured 2026-11-23 twice while other sessions kept the machine busy (load 3-5
# on 2 cores); each figure is the faster run (the slower one in brackets), so a quiet machine may
# still be up to about 2x faster. foodlib.bench's `models` section remeasures.
MEASURED_CORES = 2
SECONDS_PER_IMAGE = {
    ("vit", "train"): 3.9,  # ViT-B/16 224: 0.25 img/s [0.23]; benchmarks.md, shared machine: 0.22
    ("vit", "eval"): 0.77,  # 1.31 img/s [0.78]
    ("swin", "train"): 0.84,  # Swin V2-T 256: 1.19 img/s [0.57]; benchmarks.md, busier: 0.27
    ("swin", "eval"): 0.24,  # 4.12 img/s [4.10]
    ("clip", "eval"): 0.088,  # CLIP ViT-B/32 image encoder: 11.4 img/s [2.5]
}
# Data preparation, seconds per image on one core: the photo-style generator (render + JPEG + write:
# 36.5 ms of CPU time per 512 px image) and notebook 01's cache (decode, convert, resize, JPEG:
# 92 img/s, benchmarks.md).
GENERATE_S_PER_IMAGE = 0.037
PREPARE_S_PER_IMAGE = 1 / 92
# Food-101's official split, for the hub and archive sources.
FOOD101_TRAIN, FOOD101_TEST, FOOD101_CLASSES = 75_750, 25_250, 101
# Notebook 06: per model, one random-order and about two saliency-order deletion curve sets, each
# attention_images x (deletion_steps + 1) forward passes.
DELETION_CURVE_SETS = 3
REPORT_ABOVE_S = 3600  # shorter runs need no warning


def image_counts(params: Params) -> dict[str, int]:
    """Images in each part of the run: fit (train minus validation), val, test, and all files."""
    if params.data_source == "synthetic":
        classes = params.synthetic_classes
        train, test = classes * params.synthetic_train_per_class, classes * params.synthetic_test_per_class
    else:
        classes, train, test = FOOD101_CLASSES, FOOD101_TRAIN, FOOD101_TEST
    if params.subset_per_class > 0:
        train = min(train, classes * params.subset_per_class)
        test = min(test, classes * max(1, params.subset_per_class // 3))
    val = round(params.val_fraction * train)
    return {"fit": train - val, "val": val, "test": test, "files": train + test}


def _finetune_s(params: Params, model_name: str, n: dict[str, int]) -> float:
    """Notebook 02 / 03: linear probe, then fine-tuning (or only the test pass of a published fine-tune)."""
    train, evaluate = SECONDS_PER_IMAGE[(model_name, "train")], SECONDS_PER_IMAGE[(model_name, "eval")]
    if params.finetuned(model_name):
        return n["test"] * evaluate
    fit_images = params.num_epochs * n["fit"]
    if params.max_steps > 0:
        fit_images = min(fit_images, params.max_steps * params.batch_size)
    finetune = fit_images * train + params.num_epochs * n["val"] * evaluate
    # The probe's backbone is frozen: a forward pass per image, the head's backward is negligible.
    probe = params.linear_probe_epochs * (n["fit"] + n["val"]) * evaluate
    return finetune + probe + 2 * n["test"] * evaluate


def stage_seconds(params: Params, cores: int = MEASURED_CORES) -> dict[str, float]:
    """Estimated seconds per notebook on a CPU with `cores` cores (assumes linear scaling: optimistic)."""
    n = image_counts(params)
    prep = n["files"] * PREPARE_S_PER_IMAGE
    if params.data_source == "synthetic" and params.synthetic_style == "photo":
        prep += n["files"] * GENERATE_S_PER_IMAGE
    deletion = DELETION_CURVE_SETS * params.attention_images * (params.deletion_steps + 1)
    stages = {
        "01_data_prep": prep / MEASURED_CORES,  # per-core figures, one process per core
        "02_vit_finetune": _finetune_s(params, "vit", n),
        "03_swin_finetune": _finetune_s(params, "swin", n),
        "04_clip_zero_shot": n["test"] * SECONDS_PER_IMAGE[("clip", "eval")],
        "06_attention_maps": deletion * sum(SECONDS_PER_IMAGE[(m, "eval")] for m in ("vit", "swin", "clip")),
    }
    return {name: s * MEASURED_CORES / max(1, cores) for name, s in stages.items()}


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    if hours < 1:
        return f"{seconds / 60:.0f} min"
    return f"{hours:,.0f} h ({hours / 24:,.1f} days)" if hours >= 48 else f"{hours:,.1f} h"


def cpu_estimate(params: Params, cores: int | None = None) -> str | None:
    """A few lines estimating the run's wall time on this CPU, or None when there is nothing to warn of.

    None when the device is (or resolves to) a GPU, when the models are the tiny ones, or when
    the estimate is under an hour.
    """
    if params.device == "cuda" or params.model_source == "tiny":
        return None
    if params.device == "auto":
        if runtime.resolve_device("auto") != "cpu":
            return None
    cores = cores or runtime.cpu_cores()
    stages = stage_seconds(params, cores)
    total = sum(stages.values())
    if total < REPORT_ABOVE_S:
        return None
    n = image_counts(params)
    lines = [
        f"Rough CPU estimate for profile {params.profile!r} on {cores} cores: about {_hours(total)}.",
        f"  {n['fit']:,} training / {n['val']:,} validation / {n['test']:,} test images; "
        f"{params.num_epochs} epochs of ViT-B/16 and Swin V2-T at "
        f"{SECONDS_PER_IMAGE[('vit', 'train')]:.1f} / {SECONDS_PER_IMAGE[('swin', 'train')]:.2f} s per image "
        f"(measured on {MEASURED_CORES} cores, scaled by core count).",
    ]
    lines += [f"  {name}: {_hours(s)}" for name, s in stages.items() if s >= 60]
    lines.append("  For comparison, one H100 trains ViT-B/16 at about 2,400 images/s (benchmarks.md); "
                 "on a CPU, profile smoke runs in minutes.")
    return "\n".join(lines)
