"""The model registry's names: each model is defined once here, and every other list derives from it.

This module only describes models (it imports nothing else of foodlib's, so the
low-level `artifacts` can ask it which notebook writes what). Loading lives in
`foodlib.models`, which re-exports these names: `models.available()`,
`models.spec(name)`, ... Adding a model is one entry in REGISTRY and its test
in tests/test_models.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class HFClassifier:
    """A Hugging Face image classifier that notebooks 02/03 fine-tune (variants: full fine-tune, linear probe)."""

    hub_id: str  # the pretrained starting point on the hub
    model_class: str  # transformers class the pretrained checkpoint is saved as (its tiny/random stand-ins too)
    tiny_config: Callable[[], object]  # () -> config of the smoke profile's small model of the same family
    tiny_mean: tuple[float, float, float]
    tiny_std: tuple[float, float, float]
    head: str = "classifier"  # attribute holding the task head (the linear probe trains it alone)
    trainable: bool = True
    variants: tuple[str, ...] = ("finetune", "linear")


@dataclass(frozen=True)
class ClipZeroShot:
    """A CLIP scored zero-shot through the `clip` package: no training, no variants."""

    trainable: bool = False
    variants: tuple[str, ...] = ("zeroshot",)


@dataclass(frozen=True)
class ModelSpec:
    """One registered model."""

    name: str  # file names (predictions/<name>.parquet), the <name>_finetuned parameter and figures use it
    title: str  # the architecture, as the report names it
    notebook: str  # the notebook that writes its predictions
    colours: tuple[str, ...]  # its colour in every figure, one per variant in `family.variants` order
    family: Union[HFClassifier, ClipZeroShot]

    @property
    def trainable(self) -> bool:
        return self.family.trainable


def _tiny_vit():
    from transformers import ViTConfig

    # 56 px / 8 px patches -> a 7x7 grid (+ CLS): unlike ViT-B/16's 14x14, so nothing may assume it.
    # Shallow and wide: 2 layers of width 96 learn the synthetic set from scratch in a few hundred steps
    # (measured: ~0.95 validation top-1 after 10 epochs; 4 layers of width 64 reached ~0.6).
    return ViTConfig(image_size=56, patch_size=8, hidden_size=96, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=192, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _tiny_swin():
    from transformers import Swinv2Config

    # 40 px / 4 px patches -> a 10x10 grid in 5x5 windows, then 5x5 after patch merging (Swin V2-T:
    # 64x64 in 8x8 windows ... 8x8). initializer_range 0.1 instead of 0.02: from the default init the
    # post-norm blocks amplify gradients and the tiny model barely trains in a smoke run. The 1000
    # labels mimic the ImageNet head that loading replaces, as it does for the real checkpoint.
    return Swinv2Config(image_size=40, patch_size=4, embed_dim=48, depths=[2, 2], num_heads=[2, 4],
                        window_size=5, drop_path_rate=0.1, initializer_range=0.1, num_labels=1000)


REGISTRY: dict[str, ModelSpec] = {
    # The in21k checkpoint is a bare encoder (+ pooler) without a classification head; its processor uses 0.5/0.5.
    "vit": ModelSpec("vit", "ViT-B/16", "02_vit_finetune", ("tab:blue", "lightsteelblue"),
                     HFClassifier("google/vit-base-patch16-224-in21k", "ViTModel", _tiny_vit,
                                  tiny_mean=(0.5, 0.5, 0.5), tiny_std=(0.5, 0.5, 0.5))),
    # The checkpoint carries a 1000-class ImageNet head, replaced by one sized from the dataset's classes.
    "swin": ModelSpec("swin", "Swin V2-T", "03_swin_finetune", ("tab:orange", "navajowhite"),
                      HFClassifier("microsoft/swinv2-tiny-patch4-window8-256", "Swinv2ForImageClassification",
                                   _tiny_swin, tiny_mean=IMAGENET_MEAN, tiny_std=IMAGENET_STD)),
    "clip": ModelSpec("clip", "CLIP", "04_clip_zero_shot", ("tab:green",), ClipZeroShot()),
}


def available() -> list[str]:
    return list(REGISTRY)


def spec(model_name: str) -> ModelSpec:
    if model_name not in REGISTRY:
        raise KeyError(f"unknown model {model_name!r}; registered: {available()}")
    return REGISTRY[model_name]


def trainable() -> list[str]:
    """The models notebooks 02 and 03 fine-tune."""
    return [n for n, s in REGISTRY.items() if s.trainable]


def artifact_name(model_name: str, variant: str | None = None) -> str:
    """Name of the predictions/metrics files: `vit` for the fine-tune (or CLIP), `vit_linear` for the probe."""
    variants = spec(model_name).family.variants
    variant = variant or variants[0]
    if variant not in variants:
        raise ValueError(f"variant of {model_name!r} must be one of {variants}, got {variant!r}")
    return model_name if variant == variants[0] else f"{model_name}_{variant}"


def artifact_names() -> list[str]:
    """Every artifact name the notebooks write: the main models first, then the variants."""
    names = available()
    return names + [artifact_name(n, v) for n in names for v in REGISTRY[n].family.variants[1:]]


def _lookup(artifact: str) -> tuple[ModelSpec, int] | None:
    for name, s in REGISTRY.items():
        for i, variant in enumerate(s.family.variants):
            if artifact_name(name, variant) == artifact:
                return s, i
    return None


def producer(artifact: str) -> str | None:
    """The notebook that writes an artifact name's predictions ('vit_linear' -> '02_vit_finetune'), or None."""
    found = _lookup(artifact)
    return found[0].notebook if found else None


def colour(artifact: str) -> str:
    """The colour of an artifact name in every figure (grey for one the registry does not know)."""
    found = _lookup(artifact)
    return found[0].colours[found[1]] if found else "tab:gray"
