"""Hugging Face image classifiers (ViT, Swin V2): where the weights come from, and loading them.

Sources (`model_source`): `hub`, the published pretrained id; `tiny`, a small
config of the same family (smoke); `random`, the published architecture with
random weights (rehearsal). Tiny and random are built once (`standins`), saved
under `<cache_dir>/models/<source>/<name>` and loaded back through the same
`from_pretrained` call as the hub id, so every profile runs the same code.

Attention (`attn_implementation`): None or "sdpa", the fused kernels, is what
training and scoring use: transformers' SDPA for ViT and, since transformers
has none for Swin V2, `foodlib.models.swin_sdpa` installed on the loaded model.
"eager" everywhere is what reads attention weights (notebook 06).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import torch

from foodlib import artifacts, paths, registry
from foodlib.config import Params
from foodlib.data.preprocess import Preprocess
from foodlib.models import standins, swin_sdpa
from foodlib.models.common import quiet_loading
from foodlib.registry import HFClassifier

# -- where the starting weights come from -----------------------------------------------

def _family(name: str) -> HFClassifier:
    family = registry.spec(name).family
    if not isinstance(family, HFClassifier):
        raise ValueError(f"{name!r} is not a Hugging Face classifier of the registry")
    return family


def source(name: str, params: Params) -> str:
    """What `from_pretrained` is given: the hub id, or a stand-in's folder (`standins`: built once, then reused)."""
    family = _family(name)
    if params.model_source == "hub":
        return family.hub_id
    return standins.hf_folder(name, params)


def preprocess_from(path_or_id: str, config) -> Preprocess:
    """The checkpoint's own eval protocol: what its saved image processor does (resize rule, crop, resampling,
    rescale, mean and std), checked against the input size its config expects."""
    from transformers import AutoImageProcessor

    preprocess = Preprocess.from_processor(AutoImageProcessor.from_pretrained(path_or_id))
    size = config.image_size if isinstance(config.image_size, int) else config.image_size[0]
    if preprocess.image_size != int(size):
        raise ValueError(f"{path_or_id}: its image processor makes {preprocess.image_size}-px inputs, its model "
                         f"config expects {size} px")
    return preprocess


def _label_maps(classes: Sequence[str]) -> dict:
    id2label = {i: str(c) for i, c in enumerate(classes)}
    return {"id2label": id2label, "label2id": {c: i for i, c in id2label.items()}}


def _to_device(model, device: str, attn_implementation: str | None = None):
    """fp32 master weights (autocast handles mixed precision) on `device`; Swin V2 on SDPA unless eager."""
    if attn_implementation != "eager":
        swin_sdpa.install(model)  # a no-op for a model without Swin V2 attention
    return model.to(device=device, dtype=torch.float32)


def _attn(attn_implementation: str | None) -> dict:
    """from_pretrained's keyword: "sdpa" is left to the default (transformers refuses it for Swin V2)."""
    return {"attn_implementation": attn_implementation} if attn_implementation not in (None, "sdpa") else {}


# -- loaders --------------------------------------------------------------------------------

def load(name: str, params: Params, classes: Sequence[str], device: str = "cpu",
         attn_implementation: str | None = None):
    """The pretrained starting point with a new head of len(classes) outputs, and its Preprocess."""
    from transformers import AutoModelForImageClassification

    family = _family(name)
    src = source(name, params)
    with quiet_loading(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)  # the new head's initial weights depend on the seed only
        # ignore_mismatched_sizes: Swin's 1000-class ImageNet head is replaced by one sized from `classes`
        # (ViT in21k has no head: a new one is initialised either way).
        model, info = AutoModelForImageClassification.from_pretrained(
            src, ignore_mismatched_sizes=True, output_loading_info=True, **_label_maps(classes),
            **_attn(attn_implementation))
    assert model.config.id2label[0] == classes[0], "the head's label 0 is not the dataset's first class"
    assert getattr(model, family.head).out_features == len(classes)
    print(load_note(name, len(classes), info))
    return _to_device(model, device, attn_implementation), preprocess_from(src, model.config)


def load_note(name: str, num_classes: int, info: dict) -> str:
    """transformers' weight-loading report in one plain line: what is new and what was left out, and why."""
    def parts(keys) -> list[str]:
        names = (k[0] if isinstance(k, tuple) else k for k in keys)  # mismatched keys come as (key, shapes...)
        return sorted({n.removeprefix("vit.").removeprefix("swinv2.").split(".")[0] for n in names})

    dropped = parts(info.get("unexpected_keys", [])) + parts(info.get("mismatched_keys", []))
    note = f"{name}: pretrained weights loaded; a new head of {num_classes} classes starts from random weights"
    if dropped:
        note += f"; the checkpoint's {' and '.join(dropped)} is not used (made for its pretraining task)"
    return note + "."


def load_checkpoint(folder: str | Path, classes: Sequence[str], device: str = "cpu",
                    attn_implementation: str | None = None):
    """A classifier saved with `save_pretrained` (02/03's best checkpoint), checked against `classes`."""
    from transformers import AutoModelForImageClassification

    with quiet_loading():
        model = AutoModelForImageClassification.from_pretrained(str(folder), **_attn(attn_implementation))
    saved = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    if saved != list(classes):
        raise artifacts.MissingArtifactError(
            f"the checkpoint in {folder} was trained on other classes ({saved[:3]}...)")
    return _to_device(model, device, attn_implementation).eval(), preprocess_from(str(folder), model.config)


def load_pretrained(name: str, params: Params, device: str = "cpu", attn_implementation: str | None = None):
    """The pretrained backbone as published (no new head), the 'before fine-tuning' model, and its Preprocess."""
    from transformers import AutoModel

    src = source(name, params)
    with quiet_loading():
        model = AutoModel.from_pretrained(src, **_attn(attn_implementation))
    return _to_device(model, device, attn_implementation).eval(), preprocess_from(src, model.config)


# -- a published fine-tune standing in for training ----------------------------------------

def label_key(name: str) -> str:
    """How two label names are compared: case, underscores, hyphens and spacing do not matter."""
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().lower()


def class_order(saved: Sequence[str], classes: Sequence[str]) -> list[int]:
    """For each dataset class, the index of the checkpoint label with the same name.

    Raises ValueError naming the first class the checkpoint lacks (or the first label it has extra).
    """
    index = {label_key(s): i for i, s in enumerate(saved)}
    if len(index) != len(saved):
        raise ValueError("the checkpoint's labels are not distinct once case, '_' and '-' are ignored")
    missing = [c for c in classes if label_key(c) not in index]
    if missing:
        raise ValueError(f"the checkpoint has no label for the dataset's class {missing[0]!r} "
                         f"({len(missing)} of {len(classes)} classes unmatched)")
    if len(saved) != len(classes):
        extra = sorted(set(index) - {label_key(c) for c in classes})
        raise ValueError(f"the checkpoint has {len(saved)} labels, the dataset {len(classes)} classes "
                         f"(e.g. {extra[0]!r} is not a dataset class)")
    return [index[label_key(c)] for c in classes]


def published_source(path_or_id: str) -> str:
    """A local folder (absolute, or relative to the checkout like every path parameter), else a hub id."""
    local = paths.from_root(path_or_id)
    return str(local) if local.is_dir() else path_or_id


def load_published(name: str, path_or_id: str, classes: Sequence[str], device: str = "cpu"):
    """A fine-tuned classifier (hub id or local folder) with its head reordered to `classes`' order."""
    from transformers import AutoModelForImageClassification

    family = _family(name)
    src = published_source(path_or_id)
    with quiet_loading():
        model = AutoModelForImageClassification.from_pretrained(src)
    saved = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    try:
        order = class_order(saved, classes)
    except ValueError as exc:
        raise ValueError(f"{path_or_id}: {exc}") from None
    head = getattr(model, family.head)
    with torch.no_grad():  # row i of the head becomes the dataset's class i
        head.weight.copy_(head.weight[order].clone())
        head.bias.copy_(head.bias[order].clone())
    model.config.id2label, model.config.label2id = _label_maps(classes).values()
    return _to_device(model, device).eval(), preprocess_from(src, model.config)
