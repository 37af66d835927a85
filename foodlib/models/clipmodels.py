"""CLIP through the `clip` package: where its weights come from, loading them, and its zero-shot head.

`clip_model` names a released CLIP (ViT-B/32, ...) or a local checkpoint file.
Whatever the source, the model comes from `clip.load(name_or_path)` with the
transform it returns: `tiny` (smoke) and `random` (rehearsal) are stand-ins
(`foodlib.models.standins`) saved as a file that `clip.load` reads like a download.

The zero-shot head is CLIP's own: each class name put into prompt templates,
embedded by the text encoder (`text_features`). Notebook 04 scores every prompt
set; notebook 06 explains the predictions of the set 04 saved.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import torch
import torch.nn.functional as F

from foodlib import paths, runtime
from foodlib.config import Params
from foodlib.data.preprocess import Preprocess
from foodlib.models import standins
from foodlib.models.common import class_texts, import_clip

# -- prompt templates ('{}' is replaced by the class name) ----------------------------------
FOOD_TEMPLATE = "a photo of {}, a type of food."  # OpenAI's Food-101 prompt (CLIP repo, data/prompts.md)
# The ensemble: each template's embedding is normalised, averaged per class and renormalised.
ENSEMBLE = [FOOD_TEMPLATE, "a photo of {}.", "a close-up photo of {}.", "a photo of a plate of {}.",
            "a photo of a serving of {}.", "a cropped photo of {}.", "a good photo of {}.", "a bright photo of {}."]
PROMPT_SETS = {"name": ["{}"], "photo": ["a photo of {}."], "food": [FOOD_TEMPLATE], "ensemble": ENSEMBLE}
TEXT_BATCH = 256  # prompts per text-encoder pass


def prompt_sets() -> dict[str, list[str]]:
    """Prompt-set name -> templates: name, photo, food, ensemble."""
    return {name: list(templates) for name, templates in PROMPT_SETS.items()}


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
        with runtime.autocast(device, dtype):
            chunks.append(model.encode_text(tokens[i:i + TEXT_BATCH].to(device)).float())
    feats = F.normalize(torch.cat(chunks), dim=-1).view(len(classes), len(templates), -1)  # (C, T, D)
    return F.normalize(feats.mean(dim=1), dim=-1).cpu()


# -- weights --------------------------------------------------------------------------------

def resolve_checkpoint(name: str) -> str:
    """What clip.load gets for `name`: a released model name, or an existing local file."""
    clip = import_clip()
    if name in clip.available_models():
        return name
    path = paths.from_root(name)
    if path.is_file():
        return str(path)
    raise ValueError(f"clip_model {name!r} is neither a released CLIP ({', '.join(clip.available_models())}), "
                     f"'tiny', nor an existing checkpoint file")


def source(params: Params) -> str:
    """The name or file `clip.load` is given; builds the tiny or random stand-in first when needed.

    `clip_model="tiny"` (smoke) is the trained tiny CLIP; a released name with
    `model_source="random"` (rehearsal) is that architecture with random
    weights; otherwise the released weights or a local checkpoint file.
    """
    released = params.clip_model in import_clip().available_models()
    if params.clip_model == "tiny" or (params.model_source == "random" and released):
        return str(standins.clip_file(params))
    return resolve_checkpoint(params.clip_model)


def load(params: Params, device: str = "cpu"):
    """(model, Preprocess) through `clip.load`, in float32 and eval mode.

    clip.load leaves fp16 weights on a GPU; here mixed precision comes from
    autocast (`runtime.autocast`), as for the other models.
    """
    clip = import_clip()
    name = source(params)
    with warnings.catch_warnings():  # clip.load tries torch.jit.load first, which recent torch flags as deprecated
        warnings.filterwarnings("ignore", message=".*torch.jit.load.* is deprecated", category=FutureWarning)
        model, transform = clip.load(name, device=device, jit=False)
    return model.float().eval(), Preprocess.from_torchvision(transform)
