"""Named profiles and parameter validation: the one table every notebook reads.

A profile is a full set of parameters. A papermill parameter (or a keyword to
`resolve`) overrides one field; an unknown name or a wrong type is an error,
never a silent default (papermill itself injects whatever it is given).
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from foodlib import paths


class ParameterError(ValueError):
    """A parameter name or value that the profile table does not accept."""


@dataclass(frozen=True)
class Params:
    """Every knob of the notebook series. Defaults are the `full` profile."""

    profile: str = "full"
    # -- data -------------------------------------------------------------
    data_source: str = "hub"  # hub | archive | synthetic
    data_dir: str = ""  # archive: folder holding food-101/ ("" = ./data); synthetic: where it is written ("" = the run's cache)
    hub_dataset: str = "ethz/food101"
    subset_per_class: int = 0  # 0 = every image; n = first n train / n//3 test per class (stratified)
    val_fraction: float = 0.05  # held out from train, stratified; the test split is only for the final test
    cache_short_side: int = 288  # training's prepared copies: short side resized to this (>= the largest input)
    min_image_side: int = 16  # smaller images are excluded as unusable
    synthetic_classes: int = 10
    synthetic_train_per_class: int = 40
    synthetic_test_per_class: int = 12
    synthetic_image_size: int = 96  # shapes: nominal side (each drawn at 0.85-1.25x); photo: the longest side
    synthetic_style: str = "shapes"  # shapes: a coloured shape per class on texture | photo: Food-101-like JPEGs with it
    # -- run --------------------------------------------------------------
    results_dir: str = "results"  # artifacts go to <results_dir>/<profile>/
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    num_workers: int = -1  # DataLoader workers; -1 = one per CPU core, up to 16
    mixed_precision: str = "auto"  # auto (bf16 on a GPU that has it, else fp16 on GPU, none on CPU) | bf16 | fp16 | no
    # torch.compile for training and scoring: auto (on for a GPU run of full, quick or rehearsal; off on CPU and
    # for smoke, where compiling costs more than it saves) | on | off. A failed compile warns once and runs eagerly.
    compile: str = "auto"
    # Val/test inputs decoded and cropped once into a uint8 array per split and preprocessing (data.evalcache)
    eval_cache: bool = True  # False: decode the source files at every pass (saves its disk: full ~4-6 GB per model)
    # -- fine-tuning (02, 03) ---------------------------------------------
    # Defaults follow published Food-101 fine-tunes of these checkpoints with transformers.Trainer (their
    # figures and protocols: registry.REGISTRY's `published`):
    # [P] huggingface.co/PedroSampaio/vit-base-patch16-224-in21k-food101-16-7 (ViT-B/16 in21k: lr 5e-5,
    #     batch 64, linear decay, warmup ratio 0.1, 7 epochs);
    # [L] huggingface.co/lu5/swinv2-tiny-patch4-window8-256-finetuned-eurosat (despite its name trained on
    #     food101; Swin V2-T: lr 5e-5, batch 128, linear decay, warmup 0.1, 10 epochs).
    model_name: str = "vit"  # registry name: vit | swin
    model_source: str = "hub"  # hub: pretrained ids; tiny: small configs built locally (offline); random: the real architectures with random weights (offline)
    # A published fine-tune (hub id or local folder) that stands in for training: 02/03 evaluate it instead.
    # Its labels are matched to the dataset's class names by name; "" trains as usual.
    vit_finetuned: str = ""  # e.g. PedroSampaio/vit-base-patch16-224-in21k-food101-16-7 [P]
    swin_finetuned: str = ""  # e.g. lu5/swinv2-tiny-patch4-window8-256-finetuned-eurosat [L]
    num_epochs: int = 7  # [P]; early stopping may end sooner
    batch_size: int = 64  # [P] (16 x 4 gradient accumulation); [L] used 128
    eval_batch_size: int = 256  # inference only: any size that fits in memory
    lr: float = 5e-5  # peak AdamW learning rate, [P] and [L]
    weight_decay: float = 0.05  # typical AdamW value for ViT/Swin (the DeiT and Swin training recipes use 0.05)
    warmup_ratio: float = 0.1  # share of steps with linear warm-up, then linear decay to 0: [P] and [L]
    label_smoothing: float = 0.1  # typical (Szegedy et al. 2016; DeiT and Swin recipes use 0.1); [P] used none
    early_stopping_patience: int = 2  # epochs without a better validation top-1 before stopping (typical)
    augment: bool = True  # TrivialAugment on top of RandomResizedCrop + flip when fine-tuning
    max_steps: int = -1  # stop after this many optimiser steps (-1 = no limit); used to test resuming
    # Data-parallel processes for fine-tuning (DDP via accelerate, launched from the notebook): one per GPU (at most
    # torch.cuda.device_count()), or on CPU at most one per core (gloo). batch_size stays the global batch.
    num_processes: int = 1
    # -- linear probes (02-04): a logistic regression on frozen features, its strength chosen on validation -----
    fewshot_k: str = "1,2,4,8,16"  # labelled training images per class of the few-shot probes (and all), "" = none
    fewshot_seeds: int = 3  # draws of the few-shot images per k
    # -- CLIP (04) --------------------------------------------------------
    clip_model: str = "ViT-B/32"  # ViT-B/32 | RN50 | ViT-B/16 | ViT-L/14, or a path to a local checkpoint
    clip_prompt_set: str = "food"  # name | photo | food | ensemble: the set whose predictions are saved
    # -- analysis (05-07) -------------------------------------------------
    num_examples: int = 3  # images per disagreement gallery
    bootstrap_samples: int = 2000
    attention_images: int = 200  # test images in notebook 06's deletion test (and in-box check on synthetic data)
    deletion_steps: int = 20  # the deletion test removes patches in this many equal steps
    rollout_discard_ratio: float = 0.0  # share of each layer's lowest attention weights zeroed before rollout
    # Not a parameter: a notebook's knobs, each with whether it was set (from_notebook; runtime.setup shows them)
    notebook_knobs: tuple[tuple[str, bool], ...] = field(default=(), repr=False, compare=False,
                                                          metadata={"internal": True})

    # Derived paths: everything hangs off results_dir/profile. A relative
    # results_dir is taken from the project root, so a notebook run from
    # notebooks/ (JupyterLab) and one run from the root (papermill) agree.
    @property
    def run_dir(self) -> Path:
        return paths.from_root(self.results_dir) / self.profile

    @property
    def cache_dir(self) -> Path:
        """Large files (prepared data, checkpoints, local models): never in git."""
        return self.run_dir / "cache"

    @property
    def data_root(self) -> Path:
        """Where the archive layout (food-101/) is read from or generated into."""
        if self.data_dir:
            return paths.from_root(self.data_dir)
        return self.cache_dir / "synthetic" if self.data_source == "synthetic" else paths.from_root("data")

    def subdir(self, name: str) -> Path:
        """`results/<profile>/<name>`, e.g. predictions, metrics, figures, tables."""
        return self.run_dir / name

    def to_dict(self) -> dict[str, Any]:
        """The parameters (every field but the internal ones), as stored beside each artifact."""
        return {name: getattr(self, name) for name in field_names()}

    @property
    def fewshot_ks(self) -> list[int]:
        """`fewshot_k` as numbers of images per class, ascending."""
        return _fewshot_ks(self.fewshot_k)

    def finetuned(self, model_name: str) -> str:
        """The published fine-tune that stands in for training `model_name` ("" when it is trained here)."""
        return getattr(self, f"{model_name}_finetuned", "")


_CHOICES: dict[str, tuple[str, ...]] = {
    "data_source": ("hub", "archive", "synthetic"),
    "device": ("auto", "cpu", "cuda"),
    "mixed_precision": ("auto", "bf16", "fp16", "no"),
    "compile": ("auto", "on", "off"),
    "model_source": ("hub", "tiny", "random"),
    "synthetic_style": ("shapes", "photo"),
    "clip_prompt_set": ("name", "photo", "food", "ensemble"),
}

PROFILES: dict[str, dict[str, Any]] = {
    # Real Food-101 and real models; one GPU.
    "full": {},
    # Real models on a stratified subset, sized for a free Colab GPU (no time measured there).
    "quick": {
        "subset_per_class": 60,  # 6,060 train / 2,020 test images
        # As the Hugging Face image-classification task guide (5,000 Food-101 images, lr 5e-5, batch 64, 3 epochs).
        "num_epochs": 3,
        "batch_size": 64,
    },
    # The full run rehearsed offline: every setting of `full`, but a synthetic Food-101 at its real scale (101 classes,
    # 750 / 250 per class, photo-like JPEGs up to 512 px, ~5.7 GB), real architectures with random weights.
    "rehearsal": {
        "data_source": "synthetic",
        "synthetic_classes": 101,
        "synthetic_train_per_class": 750,
        "synthetic_test_per_class": 250,
        "synthetic_style": "photo",
        "synthetic_image_size": 512,
        "model_source": "random",
        "clip_model": "ViT-B/32",  # as in full: built from its config with random weights
    },
    # Offline, CPU, minutes: synthetic mini Food-101 and tiny models built from configs.
    "smoke": {
        "data_source": "synthetic", "cache_short_side": 72, "val_fraction": 0.15,
        "device": "cpu", "num_workers": 0, "mixed_precision": "no", "model_source": "tiny",
        # Tiny models trained from scratch: more, smaller steps and a high lr (measured: 10 epochs of
        # batch 16 at 2e-3 reach 70-95% validation top-1 on the synthetic set; batch 32 at 1e-3 about 20%).
        "num_epochs": 10, "batch_size": 16, "eval_batch_size": 64, "lr": 2e-3,
        "augment": False,  # TrivialAugment alters colour, the synthetic classes' main cue
        "warmup_ratio": 0.1, "label_smoothing": 0.0, "early_stopping_patience": 8,
        "fewshot_seeds": 2, "clip_model": "tiny",
        "num_examples": 2, "bootstrap_samples": 500, "attention_images": 40, "deletion_steps": 10,
    },
}


def field_names() -> list[str]:
    """The parameters' names: every field of `Params` but internal ones."""
    return [f.name for f in fields(Params) if not f.metadata.get("internal")]


def _check_type(name: str, value: Any, expected: type) -> Any:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if name == "fewshot_k" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # papermill's `-p fewshot_k 16` arrives as an int: one k
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise ParameterError(
            f"parameter {name!r} must be {expected.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


# Parameters that are gone: a run that passes one is told in one line what replaced it.
_PROBE = "the linear probe is a logistic regression on frozen features now, its L2 strength chosen on validation"
RETIRED = {"linear_probe_epochs": f"{_PROBE}, fitted to convergence (no epochs; see fewshot_k, fewshot_seeds)",
           "linear_probe_lr": f"{_PROBE}, fitted by L-BFGS (no learning rate; see fewshot_k, fewshot_seeds)"}


def _unknown(name: str) -> ParameterError:
    if name in RETIRED:
        return ParameterError(f"parameter {name!r} is retired: {RETIRED[name]}")
    hint = difflib.get_close_matches(name, field_names(), n=1)
    extra = f" (did you mean {hint[0]!r}?)" if hint else ""
    return ParameterError(f"unknown parameter {name!r}{extra}. Known parameters: {', '.join(field_names())}")


def resolve(profile: str = "smoke", **overrides: Any) -> Params:
    """Return the profile's parameters with `overrides` applied and checked.

    A value of None keeps the profile's value (a notebook's parameters cell
    lists the knobs it uses as None).
    """
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    types_ = {f.name: f.type for f in fields(Params) if not f.metadata.get("internal")}
    values: dict[str, Any] = {"profile": profile, **PROFILES[profile]}
    for name, value in overrides.items():
        if name not in types_ or name == "profile":
            raise _unknown(name)
        if value is None:
            continue
        expected = {"str": str, "int": int, "float": float, "bool": bool}[types_[name]]
        values[name] = _check_type(name, value, expected)
    _fewshot_ks(values.get("fewshot_k", Params.fewshot_k))
    for name, allowed in _CHOICES.items():
        if name in values and values[name] not in allowed:
            raise ParameterError(f"parameter {name!r} must be one of {allowed}, got {values[name]!r}")
    params = Params(**values)
    if params.fewshot_seeds < 1:
        raise ParameterError(f"fewshot_seeds must be at least 1 (draws of the few-shot images per k), "
                             f"got {params.fewshot_seeds}; fewshot_k \"\" runs no few-shot probes")
    if not 0 < params.val_fraction < 1:
        raise ParameterError(f"val_fraction must be in (0, 1), got {params.val_fraction}")
    if params.num_processes < 1 or params.batch_size % params.num_processes:
        raise ParameterError(f"batch_size {params.batch_size} must split evenly over num_processes "
                             f"{params.num_processes} (>= 1): each process takes batch_size / num_processes images")
    return params


def _fewshot_ks(text: str) -> list[int]:
    """`fewshot_k` as a list of positive ints ("1,2,4" -> [1, 2, 4]; "" -> []); a clear error otherwise."""
    try:
        ks = [int(k) for k in text.replace(" ", "").split(",") if k]
    except ValueError:
        ks = [0]
    if any(k < 1 for k in ks):
        raise ParameterError(f"parameter 'fewshot_k' must list images per class, e.g. '1,2,4,8,16', got {text!r}")
    return sorted(set(ks))


# Names that a Jupyter/IPython kernel puts in globals() by itself.
_KERNEL_NAMES = {"In", "Out", "exit", "quit", "get_ipython", "open"}
_LITERAL = (str, int, float, bool, type(None), list, dict, tuple)


def from_notebook(namespace: dict[str, Any]) -> Params:
    """Resolve the parameters a notebook holds in its globals.

    The parameters cell defines `profile` and some fields; papermill injects
    more. On the first call every other public literal in the namespace must
    be a field name, so `-p not_a_param 1` is refused rather than ignored.
    When a student re-runs the cell later, literals that later cells defined
    are skipped with a warning instead.
    """
    seen = namespace.get("_foodlib_seen_names")
    overrides = {}
    for name, value in namespace.items():
        if name.startswith("_") or name in _KERNEL_NAMES or name == "profile":
            continue
        if isinstance(value, types.ModuleType) or not isinstance(value, _LITERAL):
            continue
        if seen is not None and name not in seen and name not in field_names():
            warnings.warn(f"ignoring {name!r}: defined after the parameters were first resolved")
            continue
        overrides[name] = value
    params = resolve(namespace.get("profile", "smoke"), **overrides)
    namespace["_foodlib_seen_names"] = set(namespace)
    return dataclasses.replace(params, notebook_knobs=tuple((n, v is not None) for n, v in overrides.items()))

