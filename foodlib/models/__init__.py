"""Models by registry name: what `foodlib.registry` names, loaded with its preprocessing.

    models.available()                          -> ["vit", "swin", "clip"]
    models.load(name, params, classes)          -> (model, Preprocess): the starting point
    models.load_final(name, params, classes)    -> (model, Preprocess): the model 05-07 analyse
    models.load_base(name, params)              -> (model, Preprocess): the pretrained backbone, no head

Every function takes the model's registry name first, then the parameters.
Whatever the source (`model_source`: hub, tiny, random), weights and their
preprocessing travel together. Which notebook writes a model's predictions,
its colour in figures and its report section come from its `ModelSpec` in
`foodlib.registry` (re-exported here); adding a model is one entry there and
its test (tests/test_models.py).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from foodlib import artifacts
from foodlib.config import Params
from foodlib.models import clipmodels, hf
from foodlib.models.preprocess import Preprocess
from foodlib.registry import (REGISTRY, ClipZeroShot, HFClassifier, ModelSpec, artifact_name, artifact_names,
                              available, colour, producer, spec, trainable)

__all__ = [  # the registry's names, then loading
    "REGISTRY", "ModelSpec", "HFClassifier", "ClipZeroShot", "available", "spec", "trainable", "artifact_name",
    "artifact_names", "producer", "colour",
    "Preprocess", "source", "load", "load_final", "load_finetuned", "load_published", "load_base", "checkpoint_dir",
    "best_dir", "count_parameters",
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


def checkpoint_dir(model_name: str, params: Params, variant: str = "finetune") -> Path:
    """Folder of one training run's checkpoints (`best/`, `last/`): outside git, under the cache."""
    return params.cache_dir / "checkpoints" / artifact_name(model_name, variant)


def best_dir(model_name: str, params: Params, variant: str = "finetune") -> Path:
    """The `best/` checkpoint of a training run (its `.old` copy after a crash between two renames)."""
    return artifacts.settled(checkpoint_dir(model_name, params, variant) / "best")


def load_finetuned(model_name: str, params: Params, classes: Sequence[str], device: str = "cpu",
                   attn_implementation: str | None = None, variant: str = "finetune"):
    """The best checkpoint notebook 02 (vit) or 03 (swin) kept, and its Preprocess.

    A training that `max_steps` stopped before its first epoch ended has no best epoch: the model as trained
    (its `last/` weights) is the one 02/03 scored, so it is the one returned. A run that crashed keeps the error.
    """
    name = artifact_name(model_name, variant)
    folder = best_dir(model_name, params, variant)
    if not (folder / "config.json").exists() and _stopped_before_an_epoch(model_name, params, variant):
        return _as_trained(model_name, params, classes, device, attn_implementation, variant)
    artifacts.require(folder / "config.json", producer(name))
    try:
        return hf.load_checkpoint(folder, classes, device, attn_implementation)
    except artifacts.MissingArtifactError as exc:
        raise artifacts.MissingArtifactError(
            f"{exc}: run notebooks/{producer(name)}.ipynb again with these parameters first") from None


def _last_dir(model_name: str, params: Params, variant: str) -> Path:
    return artifacts.settled(checkpoint_dir(model_name, params, variant) / "last")


def _stopped_before_an_epoch(model_name: str, params: Params, variant: str) -> bool:
    state = _last_dir(model_name, params, variant) / "state.json"
    if not state.exists():
        return False
    saved = json.loads(state.read_text())
    return saved.get("stop_reason") == "max_steps" and saved.get("best_epoch") is None


def _as_trained(model_name: str, params: Params, classes: Sequence[str], device: str,
                attn_implementation: str | None, variant: str):
    from safetensors.torch import load_model

    model, preprocess = load(model_name, params, classes, "cpu", attn_implementation)
    load_model(model, str(_last_dir(model_name, params, variant) / "model.safetensors"))
    print(f"{artifact_name(model_name, variant)}: max_steps stopped its training before the first epoch ended: "
          "the model as trained, not a best epoch")
    return model.to(device).eval(), preprocess


def load_published(model_name: str, path_or_id: str, classes: Sequence[str], device: str = "cpu"):
    """A published fine-tune of `model_name` (hub id or local folder), its head reordered to `classes`.

    Labels are matched by name (case, '_', '-' and spacing ignored); a checkpoint
    whose names differ is refused, naming the first class it lacks.
    """
    if not spec(model_name).trainable:
        raise ValueError(f"{model_name!r} is not fine-tuned: there is no fine-tune to stand in for")
    return hf.load_published(model_name, path_or_id, classes, device)


def load_final(model_name: str, params: Params, classes: Sequence[str], device: str = "cpu",
               attn_implementation: str | None = None):
    """The model whose predictions notebook 05 compares: the fine-tuned checkpoint, or CLIP itself."""
    if spec(model_name).trainable:
        return load_finetuned(model_name, params, classes, device, attn_implementation)
    return load(model_name, params, classes, device, attn_implementation)


def load_base(model_name: str, params: Params, device: str = "cpu", attn_implementation: str | None = None):
    """(model, Preprocess): the pretrained backbone as published (no new head), the 'before fine-tuning' model."""
    if not spec(model_name).trainable:
        raise ValueError(f"{model_name!r} is not fine-tuned: load it with models.load")
    return hf.load_base(model_name, params, device, attn_implementation)


def count_parameters(model) -> tuple[int, int]:
    """(all, trainable) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
