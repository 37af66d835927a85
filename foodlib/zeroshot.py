"""CLIP zero-shot classification: load a model, embed prompts and images, score.

Class names come from the dataset's own label list, in its order (underscores
become spaces). Text features are computed once per class (all prompts of a
set in one batch); images are encoded in batches, in mixed precision on a GPU.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torchvision.transforms import InterpolationMode, v2

from foodlib import config, metrics, runtime
from foodlib.config import Params

# CLIP's own normalisation (clip.clip._transform).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
FOOD_TEMPLATE = "a photo of {}, a type of food."  # OpenAI's Food-101 prompt (CLIP repo, data/prompts.md)
# Each template's embedding is normalised, averaged per class and renormalised.
ENSEMBLE = [
    FOOD_TEMPLATE,
    "a photo of {}.",
    "a close-up photo of {}.",
    "a photo of a plate of {}.",
    "a photo of a serving of {}.",
    "a cropped photo of {}.",
    "a good photo of {}.",
    "a bright photo of {}.",
]
TEXT_BATCH = 256  # prompts per text-encoder pass


def prompt_sets() -> dict[str, list[str]]:
    """Prompt-set name -> templates ('{}' is replaced by the class name)."""
    return {"name": ["{}"], "photo": ["a photo of {}."], "food": [FOOD_TEMPLATE], "ensemble": list(ENSEMBLE)}


def class_texts(classes: Sequence[str]) -> list[str]:
    """Readable class names in the dataset's order: 'apple_pie' -> 'apple pie'."""
    return [c.replace("_", " ") for c in classes]


def import_clip():
    """The `clip` module, without its pkg_resources deprecation warning (clip-anytorch imports it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import clip
    return clip


def resolve_checkpoint(name: str) -> str:
    """What clip.load gets for `name`: a released model name, or an existing local file."""
    clip = import_clip()
    if name in clip.available_models():
        return name
    path = Path(name).expanduser()
    path = path if path.is_absolute() else config.project_root() / path
    if path.is_file():
        return str(path)
    raise ValueError(f"clip_model {name!r} is neither a released CLIP ({', '.join(clip.available_models())}), "
                     f"'tiny', nor an existing checkpoint file")


def load_clip(params: Params, device: str = "cpu"):
    """(model, preprocess) for params.clip_model through `clip.load`.

    'tiny' (smoke profile) trains the tiny CLIP if it is not cached yet
    (foodlib.tinyclip) and loads that file. The model is returned in float32
    and eval mode: clip.load leaves fp16 weights on a GPU, whereas here mixed
    precision comes from autocast (runtime.autocast_dtype), as for the other models.
    """
    clip = import_clip()
    if params.clip_model == "tiny":
        from foodlib import tinyclip

        name = str(tinyclip.ensure(params))
    else:
        name = resolve_checkpoint(params.clip_model)
    with warnings.catch_warnings():  # clip.load tries torch.jit.load first, which recent torch flags as deprecated
        warnings.filterwarnings("ignore", message=".*torch.jit.load.* is deprecated", category=FutureWarning)
        model, preprocess = clip.load(name, device=device, jit=False)
    return model.float().eval(), preprocess


def image_transform(n_px: int):
    """CLIP's preprocess for uint8 (3, H, W) tensors: bicubic short side to n_px, centre crop, normalise."""
    return v2.Compose([
        v2.Resize(n_px, interpolation=InterpolationMode.BICUBIC, antialias=True),
        v2.CenterCrop(n_px),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(CLIP_MEAN, CLIP_STD),
    ])


@torch.no_grad()
def text_features(model, classes: Sequence[str], templates: Sequence[str], device: str = "cpu",
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """(C, D) L2-normalised class embeddings, rows in `classes` order.

    With several templates, each template's embedding is normalised, the
    templates are averaged per class, and the mean is normalised again.
    """
    clip = import_clip()
    texts = [t.format(name) for name in class_texts(classes) for t in templates]  # class-major: (C * T,)
    tokens = clip.tokenize(texts, context_length=model.context_length)
    chunks = []
    for i in range(0, len(tokens), TEXT_BATCH):
        with _autocast(device, dtype):
            chunks.append(model.encode_text(tokens[i:i + TEXT_BATCH].to(device)).float())
    feats = F.normalize(torch.cat(chunks), dim=-1).view(len(classes), len(templates), -1)  # (C, T, D)
    return F.normalize(feats.mean(dim=1), dim=-1).cpu()


@torch.no_grad()
def image_features(model, batches: Iterable, device: str = "cpu", dtype: torch.dtype | None = None) -> torch.Tensor:
    """(N, D) L2-normalised image embeddings of image batches, or of (images, labels) batches."""
    out = []
    for batch in batches:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        with _autocast(device, dtype):
            feats = model.encode_image(images.to(device, non_blocking=True))
        out.append(F.normalize(feats.float(), dim=-1).cpu())
    return torch.cat(out)


def zero_shot_probs(image_feats: torch.Tensor, text_feats: torch.Tensor, logit_scale) -> torch.Tensor:
    """(N, C) softmax over classes of logit_scale * cosine similarity.

    `logit_scale` is the multiplier itself, model.logit_scale.exp() (100 for the released models).
    """
    logits = float(logit_scale) * image_feats.float() @ text_feats.float().t()
    return logits.softmax(dim=-1)


def _autocast(device: str, dtype: torch.dtype | None):
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=dtype, enabled=dtype is not None)


def eval_loader(params: Params, model, prepared, device: str):
    """Batches of the prepared TEST split, preprocessed for `model`'s input resolution."""
    from foodlib.data.loader import CachedImages, make_loader

    dataset = CachedImages(prepared, "test", image_transform(model.visual.input_resolution))
    return make_loader(dataset, batch_size=params.eval_batch_size, shuffle=False,
                       num_workers=params.num_workers, device=device)


def evaluate(params: Params, model, prepared, device: str) -> dict:
    """Zero-shot on the test split for every prompt set.

    Returns {"probs": {prompt set: (N, C) array}, "labels", "image_ids",
    "images_per_s"} with classes in prepared.classes order. Images are encoded once.
    """
    dtype = runtime.autocast_dtype(params.mixed_precision, device)
    loader = eval_loader(params, model, prepared, device)
    t0 = time.perf_counter()
    img = image_features(model, loader, device, dtype)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    scale = model.logit_scale.exp().item()
    probs = {name: zero_shot_probs(img, text_features(model, prepared.classes, templates, device, dtype), scale).numpy()
             for name, templates in prompt_sets().items()}
    return {"probs": probs, "labels": np.asarray(loader.dataset.labels), "image_ids": loader.dataset.image_ids,
            "images_per_s": len(img) / seconds}


def num_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


# Zero-shot Food-101 top-1 reported by others on the real test set (not measured here).
PUBLISHED_TOP1 = {
    "ViT-B/32": {"CLIP paper, Table 11": 0.844, "open_clip (OpenAI weights)": 0.840},
    "RN50": {"CLIP paper, Table 11": 0.811},
}


def prompt_table(result: dict) -> pd.DataFrame:
    """One row per prompt set: templates and metrics (from `evaluate`'s result)."""
    sets = prompt_sets()
    rows = []
    for name, probs in result["probs"].items():
        m = metrics.summarize(result["labels"], probs)
        rows.append({"prompt_set": name, "templates": len(sets[name]), "example": sets[name][0],
                     **{k: m[k] for k in ("top1", "top5", "mean_per_class_recall", "macro_f1")}})
    return pd.DataFrame(rows)


def prompt_figure(table: pd.DataFrame, num_classes: int, saved: str | None = None,
                  published: dict[str, float] | None = None):
    """Bar chart of top-1 per prompt set (the `saved` set darker), with chance and published figures as lines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    colours = ["#1F3F73" if name == saved else "#7A9CCB" for name in table["prompt_set"]]
    bars = ax.bar(table["prompt_set"], 100 * table["top1"], color=colours)
    ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.axhline(100 / num_classes, color="grey", ls=":", lw=1, label=f"chance ({100 / num_classes:.1f}%)")
    for (source, value), ls in zip((published or {}).items(), ("--", "-.")):
        ax.axhline(100 * value, color="#C44E52", ls=ls, lw=1, label=f"published: {source} ({100 * value:.1f}%)")
    ax.set(ylabel="top-1 accuracy (%)", xlabel="prompt set (dark: saved as predictions/clip)", ylim=(0, 100),
           title="CLIP zero-shot on the test split, by prompt set")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
