"""The model registry: each name gives a model with its matching preprocessing.

`load(name, ...)` returns the pretrained starting point with a new head sized
from the dataset's class list. Profiles `full` and `quick` load the hub ids
below; profile `smoke` (model_source "tiny") first builds a small config of the
same architecture, saves it with `save_pretrained` under
`<cache_dir>/models/<name>` and loads it back through the same
`from_pretrained` call, so both paths run the same code.
"""
from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from foodlib import artifacts
from foodlib.config import Params
from foodlib.data import loader

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VARIANTS = ("finetune", "linear")


@dataclass(frozen=True)
class Preprocess:
    """The input a model expects: square side and normalisation."""

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def train(self, augment: bool = True):
        """RandomResizedCrop + flip (+ TrivialAugment when `augment`), then normalise."""
        return loader.train_transform(self.image_size, self.mean, self.std, augment=augment)

    def eval(self):
        """Resize + centre crop, then normalise."""
        return loader.eval_transform(self.image_size, self.mean, self.std)


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: its hub id and the tiny stand-in the smoke profile builds."""

    name: str
    hub_id: str
    tiny_config: Callable[[], "object"]  # () -> transformers config of a small model of the same family
    tiny_class: Callable[[], type]  # () -> the class the tiny "pretrained" checkpoint is saved as
    tiny_mean: tuple[float, float, float]
    tiny_std: tuple[float, float, float]
    head: str = "classifier"  # attribute holding the task head (trained alone by the linear probe)


def _tiny_vit_config():
    from transformers import ViTConfig

    # 56 px / 8 px patches -> a 7x7 grid (+ CLS): unlike ViT-B/16's 14x14, so nothing may assume it.
    # Shallow and wide: 2 layers of width 96 learn the synthetic set from scratch in a few hundred steps
    # (measured: ~0.95 validation top-1 after 10 epochs; 4 layers of width 64 reached ~0.6).
    return ViTConfig(image_size=56, patch_size=8, hidden_size=96, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=192, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _tiny_swin_config():
    from transformers import Swinv2Config

    # 40 px / 4 px patches -> a 10x10 grid in 5x5 windows, then 5x5 after patch merging (Swin V2-T:
    # 64x64 in 8x8 windows ... 8x8). initializer_range 0.1 instead of 0.02: from the default init the
    # post-norm blocks amplify gradients and the tiny model barely trains in a smoke run. The 1000
    # labels mimic the ImageNet head that loading replaces, as it does for the real checkpoint.
    return Swinv2Config(image_size=40, patch_size=4, embed_dim=48, depths=[2, 2], num_heads=[2, 4],
                        window_size=5, drop_path_rate=0.1, initializer_range=0.1, num_labels=1000)


def _vit_class():
    from transformers import ViTModel

    return ViTModel  # the in21k checkpoint is a bare encoder (+ pooler) without a classification head


def _swin_class():
    from transformers import Swinv2ForImageClassification

    return Swinv2ForImageClassification  # the checkpoint carries a 1000-class ImageNet head


REGISTRY: dict[str, ModelSpec] = {
    "vit": ModelSpec("vit", "google/vit-base-patch16-224-in21k", _tiny_vit_config, _vit_class,
                     tiny_mean=(0.5, 0.5, 0.5), tiny_std=(0.5, 0.5, 0.5)),  # in21k's processor uses 0.5 / 0.5
    "swin": ModelSpec("swin", "microsoft/swinv2-tiny-patch4-window8-256", _tiny_swin_config, _swin_class,
                      tiny_mean=IMAGENET_MEAN, tiny_std=IMAGENET_STD),
}


def available() -> list[str]:
    return list(REGISTRY)


def spec(model_name: str) -> ModelSpec:
    if model_name not in REGISTRY:
        raise KeyError(f"unknown model {model_name!r}; registered: {available()}")
    return REGISTRY[model_name]


def artifact_name(model_name: str, variant: str = "finetune") -> str:
    """Name of the predictions/metrics files: `vit` for the fine-tune, `vit_linear` for the probe."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return model_name if variant == "finetune" else f"{model_name}_{variant}"


# -- where the weights come from ----------------------------------------------

def tiny_dir(params: Params, model_name: str) -> Path:
    return params.cache_dir / "models" / model_name


def build_tiny(model_name: str, folder: str | Path, seed: int = 0) -> Path:
    """Save the tiny stand-in of `model_name` (config, safetensors weights, processor config) to `folder`."""
    from transformers import ViTImageProcessor

    s = spec(model_name)
    config = s.tiny_config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = s.tiny_class()(config)
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    size = {"height": config.image_size, "width": config.image_size}
    ViTImageProcessor(size=size, image_mean=list(s.tiny_mean), image_std=list(s.tiny_std)).save_pretrained(tmp)
    (tmp / "tiny.json").write_text(json.dumps(_tiny_marker(model_name, seed)))  # written last: marks it complete
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def _tiny_marker(model_name: str, seed: int) -> dict:
    marker = {"model_name": model_name, "seed": seed, "config": spec(model_name).tiny_config().to_dict()}
    return json.loads(json.dumps(marker))  # tuples -> lists, as read back from tiny.json


def source(params: Params, model_name: str) -> str:
    """What `from_pretrained` is given: the hub id, or the tiny local folder (built once, then reused)."""
    s = spec(model_name)
    if params.model_source == "hub":
        return s.hub_id
    folder = tiny_dir(params, model_name)
    marker = folder / "tiny.json"
    if not (marker.exists() and json.loads(marker.read_text()) == _tiny_marker(model_name, params.seed)):
        build_tiny(model_name, folder, seed=params.seed)
    return str(folder)


def preprocess_from(path_or_id: str, config) -> Preprocess:
    """Preprocess from a checkpoint: its config's image size, its processor config's mean and std."""
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(path_or_id)
    size = config.image_size if isinstance(config.image_size, int) else config.image_size[0]
    return Preprocess(int(size), tuple(map(float, processor.image_mean)), tuple(map(float, processor.image_std)))


@contextlib.contextmanager
def _quiet_progress() -> Iterator[None]:
    """No 'Loading weights' bars: papermill logs would show every redraw."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _label_maps(classes: Sequence[str]) -> dict:
    id2label = {i: str(c) for i, c in enumerate(classes)}
    return {"id2label": id2label, "label2id": {c: i for i, c in id2label.items()}}


def _to_device(model, device: str):
    return model.to(device=device, dtype=torch.float32)  # fp32 master weights; autocast handles mixed precision


# -- public loaders -------------------------------------------------------------

def load(model_name: str, params: Params, classes: Sequence[str], device: str = "cpu",
         attn_implementation: str | None = None):
    """The pretrained starting point with a new head of len(classes) outputs, and its Preprocess."""
    from transformers import AutoModelForImageClassification

    src = source(params, model_name)
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    with _quiet_progress(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)  # the new head's initial weights depend on the seed only
        # ignore_mismatched_sizes: Swin's 1000-class ImageNet head is replaced by one sized from `classes`
        # (ViT in21k has no head: a new one is initialised either way).
        model = AutoModelForImageClassification.from_pretrained(
            src, ignore_mismatched_sizes=True, **_label_maps(classes), **kwargs)
    assert model.config.id2label[0] == classes[0], "the head's label 0 is not the dataset's first class"
    assert getattr(model, spec(model_name).head).out_features == len(classes)
    return _to_device(model, device), preprocess_from(src, model.config)


def checkpoint_dir(params: Params, model_name: str, variant: str = "finetune") -> Path:
    """Folder of one training run's checkpoints (`best/`, `last/`): outside git, under the cache."""
    return params.cache_dir / "checkpoints" / artifact_name(spec(model_name).name, variant)


def best_dir(params: Params, model_name: str, variant: str = "finetune") -> Path:
    return settled(checkpoint_dir(params, model_name, variant) / "best")


def settled(folder: Path) -> Path:
    """`folder`, or its `.old` copy when a crash came between the two renames of `swap_in`."""
    old = folder.with_name(folder.name + ".old")
    return old if not folder.exists() and old.exists() else folder


def swap_in(tmp: Path, folder: Path) -> None:
    """Replace `folder` by the completely written `tmp` (two renames; `settled` covers the gap)."""
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def load_finetuned(params: Params, model_name: str, classes: Sequence[str], device: str = "cpu",
                   attn_implementation: str | None = None, variant: str = "finetune"):
    """The best checkpoint of notebook 02 (vit) or 03 (swin), and its Preprocess."""
    from transformers import AutoModelForImageClassification

    folder = best_dir(params, model_name, variant)
    artifacts.require(folder / "config.json", artifact_name(model_name, variant))
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    with _quiet_progress():
        model = AutoModelForImageClassification.from_pretrained(str(folder), **kwargs)
    saved = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    if saved != list(classes):
        raise artifacts.MissingArtifactError(
            f"the checkpoint in {folder} was trained on other classes ({saved[:3]}...): "
            f"run notebooks/{artifacts.PRODUCER[model_name]}.ipynb again with these parameters first")
    return _to_device(model, device).eval(), preprocess_from(str(folder), model.config)


def load_base(params: Params, model_name: str, device: str = "cpu", attn_implementation: str | None = None):
    """The pretrained backbone as published (no new head): the 'before fine-tuning' model."""
    from transformers import AutoModel

    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    with _quiet_progress():
        model = AutoModel.from_pretrained(source(params, model_name), **kwargs)
    return _to_device(model, device).eval()


def count_parameters(model) -> tuple[int, int]:
    """(all, trainable) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
