"""What the model loaders and builders share: a leaf that imports nothing of foodlib's.

`hf`, `clipmodels`, `tinyclip`, `archs` and `standins` import from here, never
from each other's loaders, so building a stand-in never goes back through a loader.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Iterator, Sequence

# OpenAI CLIP's normalisation (clip.clip._transform): what the tiny CLIP is trained with.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

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
