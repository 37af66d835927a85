"""Frozen image features: the layer a linear probe reads, captured by a removable hook.

Which layer, per backbone:
- a Hugging Face classifier (ViT, Swin V2): the input of its classification head (`model.classifier`),
  read by a forward pre-hook. For ViT that is the class token after the final layer norm
  (`ViTModel(...).last_hidden_state[:, 0]`), for Swin V2 the pooled output (final layer norm, then the
  mean over the last stage's tokens: `model.swinv2(x).pooler_output`). The head itself, new and random,
  only runs along.
- CLIP ViT (`clip` package): the output of `visual.ln_post`, the class token before `@ visual.proj`.
  The paper: "For CLIP-ViT models, we used the features before the linear projection to the embedding
  space, which corresponds to I_f in Figure 3" (Radford et al. 2021, A.3, as quoted in openai/CLIP
  issue #353).
- CLIP ResNet: the attention pool's output, i.e. `encode_image`. The paper names no earlier layer for
  it ("the penultimate layer of each model, ignoring any classification layer"); openai/CLIP issue #211
  asks and has no answer. The pool's final projection runs inside one fused attention call, so there is
  no pre-projection tensor to hook without rewriting the pool.

Batches flow as in scoring (`foodlib.train.scoring.predict`): uint8 images copied to the device and
normalised there by the model's `Preprocess.normalize()`, the forward pass under the run's autocast, the
features returned as float32 on the CPU.
"""
from __future__ import annotations

import contextlib
import hashlib
from typing import Iterable, Iterator

import torch

from foodlib import frontend, runtime
from foodlib.data import loader
from foodlib.data.prepare import Prepared


def is_clip(model) -> bool:
    """A `clip` package model (an image tower `visual` and `encode_image`), not a Hugging Face classifier."""
    return getattr(model, "visual", None) is not None and hasattr(model, "encode_image")


def probed_layer(model, head: str = "classifier") -> tuple[torch.nn.Module, str, str]:
    """(module, "input" | "output", description): where the probe's features are read in `model`."""
    if is_clip(model):
        visual = model.visual
        if hasattr(visual, "ln_post") and hasattr(visual, "proj"):
            return visual.ln_post, "output", "CLIP ViT: visual.ln_post output (class token before visual.proj)"
        return visual, "output", "CLIP ResNet: encode_image (the attention pool's output)"
    module = getattr(model, head, None)
    if not isinstance(module, torch.nn.Linear):
        raise ValueError(f"{type(model).__name__} has no linear head {head!r} whose input could be probed")
    return module, "input", f"{type(model).__name__}: input of its head `{head}`"


@contextlib.contextmanager
def captured(model, head: str = "classifier") -> Iterator[list[torch.Tensor]]:
    """Inside the block, every forward pass appends the probed (B, D) features to the yielded list."""
    module, where, _ = probed_layer(model, head)
    out: list[torch.Tensor] = []
    if where == "input":
        handle = module.register_forward_pre_hook(lambda _m, args: out.append(args[0].detach()))
    else:
        handle = module.register_forward_hook(lambda _m, _args, result: out.append(result.detach()))
    try:
        yield out
    finally:
        handle.remove()


def forward(model, x: torch.Tensor) -> None:
    """One forward pass that reaches the probed layer (CLIP: the image tower only)."""
    if is_clip(model):
        model.encode_image(x)
    else:
        model(pixel_values=x)


@torch.no_grad()
def extract(model, batches: Iterable, *, device: str, normalize=None, amp_dtype=None, head: str = "classifier",
            progress: bool = False, desc: str = "features") -> tuple[torch.Tensor, torch.Tensor]:
    """((N, D) float32 features, (N,) labels) of (images, labels) batches, on the CPU, in batch order.

    uint8 batches are normalised on `device` by `normalize` (`Preprocess.normalize()`); float batches
    (already normalised) go in as they are.
    """
    was_training = model.training
    model.eval()
    feats, labels = [], []
    bar = frontend.progress(total=len(batches) if hasattr(batches, "__len__") else 0, desc=desc, enabled=progress)
    with captured(model, head) as out:
        for images, y in batches:
            x = loader.to_device(images, device, normalize)
            with runtime.autocast(device, amp_dtype):
                forward(model, x)
            feats.append(out.pop().float().flatten(1).cpu())  # (B, D)
            labels.append(torch.as_tensor(y))
            bar.update(1)
    bar.close()
    model.train(was_training)
    if not feats:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)
    return torch.cat(feats), torch.cat(labels).long()


def weights_key(model, head: str = "classifier") -> str:
    """A fingerprint of the weights that make the probed features (CLIP: the image tower; a classifier:
    everything but its head), so a cache of features goes stale when they change."""
    description = probed_layer(model, head)[2]
    clip = is_clip(model)
    state = (model.visual if clip else model).state_dict()
    h = hashlib.sha256(description.encode())
    for name in sorted(state):
        if not clip and name.startswith(f"{head}."):
            continue  # the head is after the probed layer
        tensor = state[name].detach().cpu().contiguous()
        h.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\n".encode())
        h.update(tensor.reshape(-1).view(torch.uint8).numpy())  # the raw bytes, without a copy
    return h.hexdigest()[:16]


class TrainImages(loader.SplitFiles):
    """The TRAINING split as a probe reads it: (eval transform(RGB image), label), in the split's order.

    Each image is decoded from the source's own file where the prepared index has one (`source`: the
    archive's JPEG, the synthetic set's file), else from notebook 01's prepared copy (`path`: the hub
    dataset keeps no training sources, only val and test ones). A deviation for the hub source: those
    training images were resized to a short side of `cache_short_side` and re-encoded once (JPEG quality
    90) before the model's eval transform; validation and test are always the source's own bytes.
    """

    decode = staticmethod(loader.decode_source)

    def __init__(self, prepared: Prepared, transform=None):
        rows = prepared.split("train")
        copies = [not (isinstance(src, str) and src) for src in rows["source"]]
        super().__init__(rows, [prepared.path(rel if copy else src)
                                for src, rel, copy in zip(rows["source"], rows["path"], copies)], transform)
        self.from_copies = sum(copies)
