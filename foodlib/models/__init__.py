"""Models by registry name: what `foodlib.registry` names, loaded with its preprocessing.

    models.available()                            -> ["vit", "swin", "clip"]
    models.load(name, params, classes)            -> (model, Preprocess): the starting point (02-04)
    models.load_trained(name, params, classes)    -> (model, Preprocess): the model 05 compares (06, 07)
    models.load_pretrained(name, params)          -> (model, Preprocess): the pretrained backbone, no head (07)

Every function takes the model's registry name first, then the parameters.
Whatever the source (`model_source`: hub, tiny, random), weights and their
preprocessing travel together. Which notebook writes a model's predictions,
its colour in figures and its report section come from its `ModelSpec` in
`foodlib.registry` (re-exported here); adding a model is one entry there and
its test (tests/test_models.py).

  hf           Hugging Face classifiers (ViT, Swin V2): sources, loading, a published fine-tune
  clipmodels   CLIP through the `clip` package, and its zero-shot head (prompt templates, text features)
  standins     the offline stand-ins for downloads (smoke's tiny models, the rehearsal's random ones)
  archs        the published architectures the random stand-ins are built from
  tinyclip     the smoke profile's tiny CLIP and its training
  checkpoints  the checkpoints 02/03 write and `load_trained` reads
  swin_sdpa    Swin V2's window attention through fused SDPA kernels
"""
from __future__ import annotations

from typing import Sequence

from foodlib import artifacts
from foodlib.config import Params
from foodlib.data.preprocess import Preprocess
from foodlib.models import checkpoints, clipmodels, hf
from foodlib.models.checkpoints import best_dir, checkpoint_dir
from foodlib.models.clipmodels import PROMPT_SETS, text_features
from foodlib.registry import (REGISTRY, ClipZeroShot, HFClassifier, ModelSpec, artifact_name, artifact_names,
                              available, colour, producer, spec, trainable)

__all__ = [  # the registry's names, then loading, then CLIP's zero-shot head
    "REGISTRY", "ModelSpec", "HFClassifier", "ClipZeroShot", "available", "spec", "trainable", "artifact_name",
    "artifact_names", "producer", "colour",
    "Preprocess", "source", "load", "load_trained", "load_pretrained", "checkpoint_dir", "best_dir",
    "count_parameters", "PROMPT_SETS", "text_features",
]


def source(model_name: str, params: Params) -> str:
    """Where the starting weights come from: a hub id, a released CLIP name, or a local path."""
    if isinstance(spec(model_name).family, ClipZeroShot):
        return clipmodels.source(params)
    return hf.source(model_name, params)


def load(model_name: str, params: Params, classes: Sequence[str], device: str = "cpu",
         attn_implementation: str | None = None):
    """(model, Preprocess): the starting point; for a fine-tuned family a new head of len(classes) outputs.

    `attn_implementation`: None, fused attention (Swin V2's through `models.swin_sdpa`), what training and
    scoring use; "eager" for a model whose attention weights are read.
    """
    if isinstance(spec(model_name).family, ClipZeroShot):
        return clipmodels.load(params, device)
    return hf.load(model_name, params, classes, device, attn_implementation)


def load_trained(model_name: str, params: Params, classes: Sequence[str], device: str = "cpu",
                 attn_implementation: str | None = None):
    """(model, Preprocess) whose predictions notebook 05 compares: the best checkpoint 02 (vit) or 03 (swin)
    kept, or CLIP itself.

    A training that `max_steps` stopped before its first epoch ended has no best epoch: the model as trained
    (its `last/` weights) is the one 02/03 scored, so it is the one returned. A run that crashed keeps the error.
    """
    if not spec(model_name).trainable:
        return load(model_name, params, classes, device, attn_implementation)
    name = artifact_name(model_name)
    folder = checkpoints.best_dir(model_name, params)
    if not (folder / "config.json").exists() and checkpoints.stopped_before_an_epoch(model_name, params):
        return _as_trained(model_name, params, classes, device, attn_implementation)
    artifacts.require(folder / "config.json", producer(name))
    try:
        return hf.load_checkpoint(folder, classes, device, attn_implementation)
    except artifacts.MissingArtifactError as exc:
        raise artifacts.MissingArtifactError(
            f"{exc}: run notebooks/{producer(name)}.ipynb again with these parameters first") from None


def _as_trained(model_name: str, params: Params, classes: Sequence[str], device: str,
                attn_implementation: str | None):
    from safetensors.torch import load_model

    model, preprocess = load(model_name, params, classes, "cpu", attn_implementation)
    load_model(model, str(checkpoints.last_dir(model_name, params) / "model.safetensors"))
    print(f"{artifact_name(model_name)}: max_steps stopped its training before the first epoch ended: "
          "the model as trained, not a best epoch")
    return model.to(device).eval(), preprocess


def load_pretrained(model_name: str, params: Params, device: str = "cpu", attn_implementation: str | None = None):
    """(model, Preprocess): the pretrained backbone as published (no new head), the 'before fine-tuning' model."""
    if not spec(model_name).trainable:
        raise ValueError(f"{model_name!r} is not fine-tuned: load it with models.load")
    return hf.load_pretrained(model_name, params, device, attn_implementation)


def count_parameters(model) -> tuple[int, int]:
    """(all, trainable) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
