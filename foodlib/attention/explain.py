"""One interface over the three models for notebook 06: predict, map, per-head maps, images.

An `Explainer` holds a model with its preprocessing and the map methods that
apply to it: ViT and CLIP (class token) get `foodlib.attention.vit`'s methods,
Swin V2 (windows, no class token) gets `foodlib.attention.swin`'s. Every map is
(B, h, w) on the model's own grid; figures upsample it to the image.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from foodlib import models
from foodlib.attention import swin, vit
from foodlib.config import Params
from foodlib.data.loader import decode_source
from foodlib.data.preprocess import Preprocess

CLASS_TOKEN_METHODS = ("cls", "rollout", "relevancy")
METHOD_TEXT = {
    "cls": "cls: last-layer class-token attention", "rollout": "rollout: attention rollout",
    "relevancy": "relevancy (Chefer et al. 2021)", "head": "head: one last-layer head",
    "last_stage": "last_stage: attention the last block receives", "gradcam": "gradcam: Grad-CAM, last stage",
}


@dataclass
class Explainer:
    name: str  # registry name: vit | swin | clip
    model: torch.nn.Module  # HF classifier (eager attention) or vit.ClipClassifier
    image_size: int
    mean: Sequence[float]
    std: Sequence[float]
    eval_transform: Callable | None = None  # RGB PIL image -> normalised (3, S, S): the model's own (Preprocess.eval)
    rollout_discard_ratio: float = 0.0
    kind: str = field(init=False)

    def __post_init__(self):
        self.model.eval()
        self.kind = "swin" if hasattr(self.model, "swinv2") else "class_token"

    @property
    def methods(self) -> tuple[str, ...]:
        return swin.METHODS if self.kind == "swin" else CLASS_TOKEN_METHODS

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def predict(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, C) logits."""
        x = pixel_values.to(self.device)
        if isinstance(self.model, vit.ClipClassifier):
            return self.model(x).float()
        return self.model(pixel_values=x).logits.float()

    def map(self, pixel_values: torch.Tensor, method: str, target: torch.Tensor | None = None) -> torch.Tensor:
        """(B, h, w) map by `method` (one of `self.methods`), on the CPU."""
        x = pixel_values.to(self.device)
        if self.kind == "swin":
            return swin.swin_map(self.model, x, method, target).cpu()
        return vit.attention_map(self.model, x, method, target,
                                       discard_ratio=self.rollout_discard_ratio).detach().cpu()

    def head_maps(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, heads, h, w): last-layer class-token attention per head (Swin: attention received in the last block)."""
        x = pixel_values.to(self.device)
        with torch.no_grad():
            if self.kind == "swin":
                maps, _ = swin.swin_attentions(self.model, x)
                last = swin.block_geometry(self.model.config)[-1]
                return maps[-1].mean(2).reshape(len(x), -1, last.height, last.width).cpu()
            atts, _ = vit.attentions_and_logits(self.model, x)
            return vit.cls_attention(atts, vit.grid_of(self.model)).cpu()

    @property
    def view_methods(self) -> tuple[str, ...]:
        """What a person can pick: the maps and, for a class-token model, one last-layer head."""
        return (*self.methods, "head") if self.kind == "class_token" else tuple(self.methods)

    def check_method(self, method: str) -> str:
        """`method` if this model has it (`view_methods`), else a ValueError naming it and the valid ones."""
        if method not in self.view_methods:
            raise ValueError(f"unknown method {method!r} for {self.name}: choose one of {', '.join(self.view_methods)}")
        return method

    @property
    def num_heads(self) -> int:
        """Heads of the last layer (Swin: of its last stage): the maps `head_maps` returns."""
        if self.kind == "swin":
            return int(self.model.config.num_heads[-1])
        if isinstance(self.model, vit.ClipClassifier):
            return int(self.model.model.visual.transformer.resblocks[-1].attn.num_heads)
        return int(self.model.config.num_attention_heads)

    @property
    def deletion_grid(self) -> tuple[int, int]:
        """Patches removed in the deletion test: the model's own token grid (Swin: its first stage)."""
        if self.kind == "swin":
            g = swin.block_geometry(self.model.config)[0]
            return g.height, g.width
        return vit.grid_of(self.model)

    def transform(self) -> Callable:
        """The model's own eval transform (default: resize straight to its input size, as a ViT processor does)."""
        return self.eval_transform or Preprocess(self.image_size, tuple(self.mean), tuple(self.std)).eval()


def load_explainers(params: Params, classes: Sequence[str], device: str = "cpu") -> dict[str, Explainer]:
    """Every registered model as notebook 05 compares it, with attention it can read.

    The fine-tuned checkpoints load with eager attention (Hugging Face returns
    attention weights only then); CLIP is scored against the class embeddings of
    `params.clip_prompt_set`, the prompt set whose predictions notebook 04 saved,
    so its maps explain the predictions of 05. Each keeps its own preprocessing.
    """
    out = {}
    for name in models.available():
        model, pre = models.load_trained(name, params, classes, device=device, attn_implementation="eager")
        if not models.spec(name).trainable:  # zero-shot: a classifier over the class prompts
            text = models.text_features(model, classes, models.PROMPT_SETS[params.clip_prompt_set], device)
            model = vit.ClipClassifier(model, text)
        out[name] = Explainer(name, model, pre.image_size, pre.mean, pre.std, pre.eval(), params.rollout_discard_ratio)
    return out


def load_eval_images(paths: Sequence[str | Path], explainer: Explainer) -> torch.Tensor:
    """(N, 3, S, S) images decoded from `paths` (the source files: `Prepared.eval_paths`) through the model's
    own eval transform, as it is scored."""
    t = explainer.transform()
    return torch.stack([t(decode_source(p)) for p in paths])
