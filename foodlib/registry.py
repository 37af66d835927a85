"""The model registry's names: each model is defined once here, and every other list derives from it.

This module only describes models (it imports nothing else of foodlib's, so the
low-level `artifacts` can ask it which notebook writes what). Loading lives in
`foodlib.models`, which re-exports these names: `models.available()`,
`models.spec(name)`, ... Adding a model is one entry in REGISTRY and its test
in tests/test_models.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FOOD101_TEST = "Food-101's official test split (25,250 images; the hub dataset's `validation` split)"


@dataclass(frozen=True)
class Published:
    """A Food-101 top-1 that others measured and published (never measured here), with where and how."""

    top1: float
    source: str  # where it is reported (each figure was checked at that source)
    protocol: str  # how it was measured: training recipe or prompts, resolution, split
    checkpoint: str = ""  # the published fine-tune the figure belongs to ("" for a paper's or benchmark's figure)


@dataclass(frozen=True)
class HFClassifier:
    """A Hugging Face image classifier that notebooks 02/03 fine-tune (variants: full fine-tune, linear probe)."""

    hub_id: str  # the pretrained starting point on the hub
    model_class: str  # transformers class the pretrained checkpoint is saved as (its tiny/random stand-ins too)
    tiny_config: Callable[[], object]  # () -> config of the smoke profile's small model of the same family
    published: tuple[Published, ...] = ()  # Food-101 fine-tunes of `hub_id`; the first is the recipe `full` follows
    published_linear: tuple[Published, ...] = ()  # Food-101 linear probes of `hub_id` (none verified so far)
    head: str = "classifier"  # attribute holding the task head (the linear probe trains it alone)
    trainable: bool = True
    variants: tuple[str, ...] = ("finetune", "linear")


@dataclass(frozen=True)
class ClipZeroShot:
    """A CLIP scored zero-shot through the `clip` package (not trained), and probed linearly."""

    published: dict[str, tuple[Published, ...]] = field(default_factory=dict)  # by released name (`clip_model`)
    published_linear: dict[str, tuple[Published, ...]] = field(default_factory=dict)  # its linear probes, by name
    trainable: bool = False
    variants: tuple[str, ...] = ("zeroshot", "linear")


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


_TRAINER = "transformers.Trainer (Adam, betas 0.9/0.999, eps 1e-8, as the card states), linear decay after 10% warm-up"
# The CLIP paper's numbers as quoted, with the paper's column headings, in openai/CLIP issue #87 ("reported in
# paper": ViT-B/32 84.4, RN50 81.1); its zero-shot table is Table 11 (openai/CLIP issue #164). The prompt: the
# paper's Food101 template (openai/CLIP data/prompts.md), which CLIP_benchmark uses as well
# (clip_benchmark/datasets/en_zeroshot_classification_templates.json), as does this project's `food` prompt set.
_PAPER = "Radford et al. 2021, 'Learning Transferable Visual Models From Natural Language Supervision', Table 11"
_BENCHMARK = ("LAION CLIP_benchmark, pretrained='openai' (mlfoundations/open_clip, "
              "docs/openclip_classification_results.csv, column Food-101)")
_PROMPT = "zero-shot, one prompt 'a photo of {}, a type of food.', 224 px, " + FOOD101_TEST


# The paper's linear probes (Table 10, Food101 column), as quoted with the table's number in LAION-AI/CLIP_benchmark
# pull request 107 ("openAI" column of its comparison; ViT-L/14 only: the other models' figures could not be checked
# at a source and are left out). Protocol: the paper's appendix A.3, which foodlib.probe follows.
_PROBE = ("linear probe: logistic regression (L-BFGS) on the image features before the projection, L2 strength "
          "swept on a validation split, refitted on train + validation; 224 px; " + FOOD101_TEST)
_PAPER_PROBE = "Radford et al. 2021, Table 10 (linear probe), as quoted in LAION-AI/CLIP_benchmark pull request 107"


def _clip(paper: float | None, benchmark: float) -> tuple[Published, ...]:
    figures = (Published(paper, _PAPER, _PROMPT),) if paper is not None else ()
    return figures + (Published(benchmark, _BENCHMARK, _PROMPT),)


REGISTRY: dict[str, ModelSpec] = {
    # The in21k checkpoint is a bare encoder (+ pooler) without a classification head; its processor uses 0.5/0.5.
    "vit": ModelSpec("vit", "ViT-B/16", "02_vit_finetune", ("tab:blue", "lightsteelblue"),
                     HFClassifier("google/vit-base-patch16-224-in21k", "ViTModel", _tiny_vit, published=(
                         Published(0.9080, "huggingface.co/PedroSampaio/vit-base-patch16-224-in21k-food101-16-7, "
                                   "model card (accuracy 0.9080396)",
                                   f"fine-tuned 7 epochs, lr 5e-5, batch 16 x 4 accumulated = 64, {_TRAINER}; "
                                   f"224 px; {FOOD101_TEST}",
                                   "PedroSampaio/vit-base-patch16-224-in21k-food101-16-7"),))),
    # The checkpoint carries a 1000-class ImageNet head, replaced by one sized from the dataset's classes.
    "swin": ModelSpec("swin", "Swin V2-T", "03_swin_finetune", ("tab:orange", "navajowhite"),
                      HFClassifier("microsoft/swinv2-tiny-patch4-window8-256", "Swinv2ForImageClassification",
                                   _tiny_swin, published=(
                          Published(0.8859, "huggingface.co/lu5/swinv2-tiny-patch4-window8-256-finetuned-eurosat, "
                                    "model card (accuracy 0.8858614; trained on food101 despite its name)",
                                    f"fine-tuned 10 epochs, lr 5e-5, batch 32 x 4 accumulated = 128, {_TRAINER}; "
                                    f"256 px; {FOOD101_TEST}",
                                    "lu5/swinv2-tiny-patch4-window8-256-finetuned-eurosat"),))),
    "clip": ModelSpec("clip", "CLIP", "04_clip_zero_shot", ("tab:green", "palegreen"), ClipZeroShot(published={
        "ViT-B/32": _clip(0.844, 0.8400), "RN50": _clip(0.811, 0.8080),
        "ViT-B/16": _clip(None, 0.8872), "ViT-L/14": _clip(None, 0.9305)},
        published_linear={"ViT-L/14": (Published(0.952, _PAPER_PROBE, _PROBE),)})),
}


def published(model_name: str, clip_model: str = "", variant: str | None = None) -> tuple[Published, ...]:
    """The published Food-101 figures of a registered model (for CLIP: of the released `clip_model`), of its main
    variant or (`variant="linear"`) of its linear probe."""
    family = spec(model_name).family
    figures = family.published_linear if variant == "linear" else family.published
    return figures.get(clip_model, ()) if isinstance(family, ClipZeroShot) else figures


def published_note(model_name: str, data_source: str, clip_model: str = "", variant: str | None = None) -> str:
    """One line per published figure, for a notebook to print beside its own result."""
    found = published(model_name, clip_model, variant)
    if not found:
        name = artifact_name(model_name, variant)
        return f"No published Food-101 figure is registered for {name} {clip_model}".rstrip() + "."
    caveat = " (measured on the real Food-101: not comparable with this synthetic run)" if data_source == "synthetic" \
        else " (published, not measured here)"
    return "\n".join(f"Published: {100 * f.top1:.1f}% top-1{caveat}; {f.source}; {f.protocol}" for f in found)


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


def split(artifact: str) -> tuple[str, str] | None:
    """(model name, variant) of an artifact name ('clip_linear' -> ('clip', 'linear')), or None."""
    found = _lookup(artifact)
    return (found[0].name, found[0].family.variants[found[1]]) if found else None


def producer(artifact: str) -> str | None:
    """The notebook that writes an artifact name's predictions ('vit_linear' -> '02_vit_finetune'), or None."""
    found = _lookup(artifact)
    return found[0].notebook if found else None


def colour(artifact: str) -> str:
    """The colour of an artifact name in every figure (grey for one the registry does not know)."""
    found = _lookup(artifact)
    return found[0].colours[found[1]] if found else "tab:gray"
