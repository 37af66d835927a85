"""What the model loaders and builders share: a leaf that imports nothing of foodlib's.

`hf`, `clipmodels`, `tinyclip` and `archs` import from here, never from each
other's loaders, so building a stand-in never goes back through a loader.
The prompt templates live here too: notebook 04 scores them, and the tiny CLIP
of the smoke profile is trained on captions that include every one of them.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Iterator, Sequence

# OpenAI CLIP's normalisation (clip.clip._transform): what the tiny CLIP is trained with.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# -- prompt templates ('{}' is replaced by the class name) ----------------------------------
NAME_TEMPLATE = "{}"
PHOTO_TEMPLATE = "a photo of {}."
FOOD_TEMPLATE = "a photo of {}, a type of food."  # OpenAI's Food-101 prompt (CLIP repo, data/prompts.md)
# The ensemble: each template's embedding is normalised, averaged per class and renormalised.
ENSEMBLE = [
    FOOD_TEMPLATE,
    PHOTO_TEMPLATE,
    "a close-up photo of {}.",
    "a photo of a plate of {}.",
    "a photo of a serving of {}.",
    "a cropped photo of {}.",
    "a good photo of {}.",
    "a bright photo of {}.",
]
PROMPT_SETS = {"name": [NAME_TEMPLATE], "photo": [PHOTO_TEMPLATE], "food": [FOOD_TEMPLATE], "ensemble": ENSEMBLE}
# The tiny CLIP's training captions: every template above (in the order it was first trained with, which
# the smoke record depends on) and a few more, so that zero-shot never meets a caption it never saw.
CAPTIONS = [NAME_TEMPLATE, "{}.", PHOTO_TEMPLATE, FOOD_TEMPLATE, *ENSEMBLE[2:],
            "a dark photo of {}.", "food: {}.", "a picture of {}.", "a blurry photo of {}.",
            "a plate of {} on a table.", "this is {}."]


def class_texts(classes: Sequence[str]) -> list[str]:
    """Readable class names in the dataset's order: 'apple_pie' -> 'apple pie'."""
    return [c.replace("_", " ") for c in classes]


def import_clip():
    """The `clip` module, without its pkg_resources deprecation warning (clip-anytorch imports it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import clip
    return clip


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """No 'Loading weights' bars and no load report table: papermill logs would show them raw."""
    from transformers.utils import logging as hf_logging

    was_bar, was_level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(was_level)
        if was_bar:
            hf_logging.enable_progress_bar()
