"""CLIP zero-shot classification: embed prompts and images, score, write the results (notebook 04).

Class names come from the dataset's own label list, in its order (underscores
become spaces). Text features are computed once per class (all prompts of a
set in one batch); images are encoded in batches, in mixed precision on a GPU.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from foodlib import artifacts, compiling, metrics, models, registry, runtime
from foodlib.config import Params
from foodlib.data import evalcache, loader
from foodlib.data.prepare import Prepared
from foodlib.models import standins
from foodlib.models.clipmodels import prompt_sets, text_features


@dataclass
class ZeroShotResult:
    """Zero-shot on the test split: per prompt set the (N, C) probabilities, classes in the dataset's order."""

    probs: dict[str, np.ndarray]  # prompt set -> (N, C)
    labels: np.ndarray  # (N,)
    image_ids: list[str]
    images_per_s: float  # image encoding, compile time excluded
    compile_s: float | None  # None: not compiled
    num_parameters: int  # of the CLIP scored


@torch.no_grad()
def image_features(model, batches: Iterable, device: str = "cpu", dtype: torch.dtype | None = None,
                   normalize=None, encoder=None, pad_to: int = 0) -> torch.Tensor:
    """(N, D) L2-normalised image embeddings of image batches, or of (images, labels) batches.

    uint8 batches are normalised on `device` by `normalize` (`Preprocess.normalize()`). `encoder`
    (default `model.encode_image`) may be a compiled `ImageEncoder`; with `pad_to`, a short last batch
    is padded to that many rows (a compiled graph's shape) and the padding's outputs dropped."""
    encode = encoder or model.encode_image
    out = []
    for batch in batches:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = loader.to_device(images, device, normalize)
        x, n = compiling.pad_batch(x, pad_to) if pad_to else (x, len(x))
        with runtime.autocast(device, dtype):
            feats = encode(x)[:n]
        out.append(F.normalize(feats.float(), dim=-1).cpu())
    return torch.cat(out)


class ImageEncoder(torch.nn.Module):
    """CLIP's image tower as a module of its own (`encode_image`), so that it can be compiled."""

    def __init__(self, model):
        super().__init__()
        self.clip = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(images)


def zero_shot_probs(image_feats: torch.Tensor, text_feats: torch.Tensor, logit_scale) -> torch.Tensor:
    """(N, C) softmax over classes of logit_scale * cosine similarity.

    `logit_scale` is the multiplier itself, model.logit_scale.exp() (100 for the released models).
    """
    logits = float(logit_scale) * image_feats.float() @ text_feats.float().t()
    return logits.softmax(dim=-1)


def eval_loader(params: Params, preprocess: models.Preprocess, prepared: Prepared, device: str):
    """uint8 batches of the prepared TEST split through CLIP's own resize and crop (normalise with
    `preprocess.normalize()`), from the eval cache when `params.eval_cache`."""
    dataset = evalcache.for_run(params, prepared, "test", preprocess)
    return loader.make_loader(dataset, batch_size=params.eval_batch_size, shuffle=False,
                       num_workers=params.num_workers, device=device)


def score(params: Params, model, preprocess: models.Preprocess, prepared: Prepared, device: str) -> ZeroShotResult:
    """Zero-shot on the test split for every prompt set, classes in prepared.classes order.

    Images are encoded once; `params.compile` compiles the image tower (its compile time is reported apart,
    not in images_per_s).
    """
    dtype = runtime.autocast_dtype(params.mixed_precision, device)
    batches = eval_loader(params, preprocess, prepared, device)
    encoder = compiling.maybe_compile(ImageEncoder(model).eval(), compiling.enabled(params.compile, params.profile, device))
    compiled = isinstance(encoder, compiling.Compiled)
    t0 = time.perf_counter()
    img = image_features(model, batches, device, dtype, normalize=preprocess.normalize(), encoder=encoder,
                         pad_to=params.eval_batch_size if compiled else 0)
    if device == "cuda":
        torch.cuda.synchronize()
    compile_s = compiling.compile_seconds(encoder)  # None when not compiled
    seconds = time.perf_counter() - t0 - (compile_s or 0.0)
    scale = model.logit_scale.exp().item()
    probs = {name: zero_shot_probs(img, text_features(model, prepared.classes, templates, device, dtype), scale).numpy()
             for name, templates in prompt_sets().items()}
    return ZeroShotResult(probs, np.asarray(batches.dataset.labels), list(batches.dataset.image_ids),
                          len(img) / max(seconds, 1e-9), compile_s, models.count_parameters(model)[0])


def published_top1(params: Params) -> dict[str, float] | None:
    """Published zero-shot top-1 of `params.clip_model` on Food-101 (the registry's figures, by a short name of
    their source), or None where none applies (synthetic data)."""
    if params.data_source == "synthetic":
        return None
    return {f.source.split(",")[0].split(" (")[0]: f.top1 for f in registry.published("clip", params.clip_model)}


def describe_model(model, params: Params, device: str) -> str:
    """What CLIP was loaded: parameters, input size, logit scale, device; for the tiny CLIP, how it was trained."""
    text = (f"CLIP {params.clip_model}: {models.count_parameters(model)[0] / 1e6:.1f} M parameters, "
            f"input {model.visual.input_resolution} px, logit scale {model.logit_scale.exp().item():.1f}, "
            f"device {device}")
    if params.clip_model == "tiny":
        info = standins.clip_training(params)
        text += (f"\ntiny CLIP: trained in {info['train_seconds']:.1f} s on {info['num_train_images']} training "
                 f"images, loss {info['loss_first']:.2f} -> {info['loss_last']:.2f}")
    return text


def prompt_table(result: ZeroShotResult) -> pd.DataFrame:
    """One row per prompt set: templates and metrics (from `score`'s result)."""
    sets = prompt_sets()
    rows = []
    for name, probs in result.probs.items():
        m = metrics.summarize(result.labels, probs)
        rows.append({"prompt_set": name, "templates": len(sets[name]), "example": sets[name][0],
                     **{k: m[k] for k in ("top1", "top5", "mean_per_class_recall", "macro_f1")}})
    return pd.DataFrame(rows)


def write_results(result: ZeroShotResult, params: Params, prepared: Prepared) -> dict[str, Any]:
    """Write predictions/clip.parquet and metrics/clip.json for `params.clip_prompt_set`; return the metrics."""
    probs = result.probs[params.clip_prompt_set]
    frame = metrics.predictions_frame(result.image_ids, result.labels, probs)
    name = models.artifact_name("clip")
    artifacts.write_predictions(frame, name, params, num_classes=len(prepared.classes))
    row = {
        **metrics.summarize(result.labels, probs),
        "eval_images_per_s": result.images_per_s,
        "eval_compile_s": result.compile_s,
        "num_parameters": result.num_parameters,
        "clip_model": params.clip_model,
        "prompt_set": params.clip_prompt_set,
        "templates": prompt_sets()[params.clip_prompt_set],
    }
    artifacts.write_metrics(row, name, params)
    return row
