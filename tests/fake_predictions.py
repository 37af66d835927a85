"""Contract-conformant prediction and metrics files made up for testing notebook 05 without 02-04.

Correctness is correlated across models, as it is for real ones: every test
image gets a shared difficulty, and a model is right where its skill beats
that difficulty plus its own noise.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from foodlib import artifacts, metrics
from foodlib.config import Params
from foodlib.data import prepare

SKILL = {"vit": 0.9, "swin": 1.0, "clip": 0.4, "vit_linear": 0.2, "swin_linear": 0.3, "clip_linear": 0.6}
FINE_TUNED = {"vit", "swin"}
PROBES = {"vit_linear", "swin_linear", "clip_linear"}
FEWSHOT_KS = ("1", "2", "4", "all")


def fabricate(params: Params, models=tuple(SKILL), seed: int = 0) -> prepare.Prepared:
    """Prepare the smoke data, then write predictions/<m>.parquet and metrics/<m>.json for each model."""
    prepared = prepare.prepare_dataset(params, progress=False)
    test = prepared.split("test")
    num_classes, n = len(prepared.classes), len(test)
    labels = test["label"].to_numpy()
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(size=n)  # shared by all models: their mistakes overlap
    for model in models:
        correct = SKILL.get(model, 0.5) - difficulty + 0.8 * rng.normal(size=n) > 0
        pred = np.where(correct, labels, (labels + rng.integers(1, num_classes, size=n)) % num_classes)
        probs = fake_probs(pred, num_classes, rng)
        frame = metrics.predictions_frame(test["image_id"], labels, probs)
        artifacts.write_predictions(frame, model, params, num_classes)
        extra = {"num_parameters": 1000 + len(model), "eval_images_per_s": 50.0 + len(model)}
        if model in FINE_TUNED:
            extra.update(train_wall_time_s=12.5, train_images_per_s=40.0)
        elif model in PROBES:
            extra.update(strength=1.0, final_fit="train+val")
            _fewshot_summary(model, params, metrics.summarize(labels, probs)["top1"])
        else:
            extra.update(prompt_set="food")
        artifacts.write_metrics({**metrics.summarize(labels, probs), **extra}, model, params)
    return prepared


def _fewshot_summary(model: str, params: Params, top1: float) -> None:
    """The table a probe's notebook writes (`tables/<probe>_fewshot_summary`): rising with k up to `top1`."""
    means = [top1 * (i + 1) / len(FEWSHOT_KS) for i in range(len(FEWSHOT_KS))]
    table = pd.DataFrame({"k": FEWSHOT_KS, "seeds": [2, 2, 2, 1], "n_train": [10, 20, 40, 300], "mean": means,
                          "std": 0.01, "min": [m - 0.02 for m in means], "max": [m + 0.02 for m in means]})
    artifacts.write_table(table, f"{model}_fewshot_summary", params)


def fake_probs(pred: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """(N, C) softmax probabilities whose argmax is `pred`, with varied confidence."""
    logits = rng.normal(size=(len(pred), num_classes))
    rows = np.arange(len(pred))
    logits[rows, pred] = logits.max(axis=1) + rng.uniform(0.05, 4.0, size=len(pred))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
