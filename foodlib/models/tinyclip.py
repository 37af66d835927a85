"""A tiny CLIP trained offline: the smoke profile's stand-in for OpenAI's weights.

A random CLIP scores chance, so a smoke run could not tell a working zero-shot
pipeline from a broken one. This module builds `clip.model.CLIP` with small
widths, trains it for about 25 s on one CPU core with the CLIP objective on the
synthetic TRAINING images (never val or test) captioned with their class name;
`foodlib.models.standins` saves the state dict, and `foodlib.models.load("clip", ...)`
reads it back with `clip.load(path)`, the same call the full profile makes with a name.

The visual encoder is a ViT (`clip.model.VisionTransformer`) on 64 px images
with 8 px patches: an 8x8 grid, unlike the 7x7 of ViT-B/32 at 224 px, so code
that assumes a grid size is caught (notebooks 06 and 07 read its attention and
position embeddings).
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from foodlib import runtime
from foodlib.config import Params
from foodlib.data.loader import decode_source
from foodlib.data.prepare import Prepared
from foodlib.data.preprocess import Preprocess
from foodlib.models.common import CLIP_MEAN, CLIP_STD, class_texts, import_clip

# clip.model.build_model infers heads as width // 64, so widths are multiples of 64.
# Image 64 px / patch 8 px -> an 8x8 grid + 1 class token = 65 positions.
ARCH: dict[str, int] = {
    "embed_dim": 64,
    "image_resolution": 64,
    "vision_layers": 3,  # an int: ViT visual encoder (a tuple would build the ResNet)
    "vision_width": 64,
    "vision_patch_size": 8,
    "context_length": 32,  # the longest caption below is ~16 BPE tokens with SOT/EOT
    "vocab_size": 49408,  # clip.tokenize's BPE vocabulary (SOT = 49406, EOT = 49407)
    "transformer_width": 64,
    "transformer_heads": 1,  # 64 // 64, as build_model will infer
    "transformer_layers": 2,
}
# The training captions ('{}' is the class name): every prompt template notebook 04 scores
# (`clipmodels.PROMPT_SETS`; tests/test_zeroshot.py checks that each is here, so zero-shot never meets a caption
# the tiny CLIP never saw) and a few more. Written out here, not derived from the templates: editing a prompt
# set does not retrain the smoke CLIP. The order is the one it was first trained with (the smoke record
# depends on it).
CAPTIONS = ["{}", "{}.", "a photo of {}.", "a photo of {}, a type of food.", "a close-up photo of {}.",
            "a photo of a plate of {}.", "a photo of a serving of {}.", "a cropped photo of {}.", "a good photo of {}.",
            "a bright photo of {}.", "a dark photo of {}.", "food: {}.", "a picture of {}.", "a blurry photo of {}.",
            "a plate of {} on a table.", "this is {}."]
# Cost (measured): ~5 ms of one CPU core per image-caption pair (forward + backward), so 300 steps
# of 16 pairs (~14 passes over the ~340 training images) take ~25 s. Small batches with a high lr
# learn fastest per pair here (batches of 32 or 64 need 2-4x the pairs for the same accuracy);
# longer training adds little (450 steps scored as 300 on validation).
TRAIN: dict[str, Any] = {"steps": 300, "batch_size": 16, "lr": 2e-3, "weight_decay": 0.05, "warmup": 20}
MODEL_FILE = "tiny_clip.pt"


def build(**overrides: int):
    """A randomly initialised `clip.model.CLIP` with the tiny ARCH (fields overridable)."""
    CLIP = import_clip().model.CLIP
    arch = {**ARCH, **overrides}
    if arch["vision_width"] < 64 or arch["transformer_width"] < 64:
        raise ValueError("clip.model.build_model infers heads as width // 64: widths must be >= 64")
    return CLIP(**arch)


def clip_loss(image_feats: torch.Tensor, text_feats: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric cross-entropy over scaled cosine similarities; row i of each is a matched pair."""
    image_feats = F.normalize(image_feats, dim=-1)
    text_feats = F.normalize(text_feats, dim=-1)
    logits = logit_scale * image_feats @ text_feats.t()  # (B, B): image i vs caption j
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def tiny_preprocess(n_px: int) -> Preprocess:
    """What clip.load returns for an n_px model: PIL bicubic short side to n_px, centre crop, CLIP's mean/std."""
    return Preprocess(n_px, CLIP_MEAN, CLIP_STD, "bicubic", "short_side", 1.0, "pil")


def training_images(prepared: Prepared, n_px: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, n_px, n_px) normalised float images and (N,) labels of the TRAIN split only."""
    rows = prepared.split("train")
    transform = tiny_preprocess(n_px).eval()
    images = torch.stack([transform(decode_source(prepared.path(p))) for p in rows["path"]])  # the prepared copies
    return images, torch.tensor(rows["label"].to_numpy(), dtype=torch.long)


def sample_batch(labels: torch.Tensor, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a batch, at most one image per class while classes last.

    Two images of the same class would get captions that are (nearly) the same
    text, each counted as the other's negative; spreading a batch over classes
    keeps those false negatives as rare as the batch size allows.
    """
    by_class = [np.flatnonzero(labels.numpy() == c) for c in np.unique(labels.numpy())]
    picks = []
    while len(picks) < batch_size:
        for c in rng.permutation(len(by_class)):
            picks.append(rng.choice(by_class[c]))
    return np.asarray(picks[:batch_size])


def train(model, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], *,
          steps: int, batch_size: int, lr: float, weight_decay: float, warmup: int, seed: int) -> list[float]:
    """Train `model` in place with the CLIP objective on CPU; return the loss of every step.

    The token embedding (49,408 x 64, 3.2 M of the 3.4 M parameters) keeps its
    random initialisation: the captions use ~60 of its rows, and updating all of
    them every step would make each step 1.5x as slow for nothing.
    """
    clip = import_clip()
    rng = np.random.default_rng(seed)
    names = class_texts(classes)
    # Every caption the training can draw, tokenized once: (num_classes, num_captions, context_length).
    tokens = clip.tokenize([t.format(n) for n in names for t in CAPTIONS], context_length=model.context_length)
    tokens = tokens.view(len(names), len(CAPTIONS), -1)
    model.token_embedding.weight.requires_grad_(False)
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=lr, betas=(0.9, 0.98), eps=1e-6, weight_decay=weight_decay)  # CLIP's betas/eps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * s / steps)))
    model.train()
    losses = []
    for _ in range(steps):
        idx = sample_batch(labels, batch_size, rng)
        x = images[idx]
        flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)  # horizontal flips: the only augmentation
        text = tokens[labels[idx], torch.from_numpy(rng.integers(0, len(CAPTIONS), len(idx)))]
        loss = clip_loss(model.encode_image(x), model.encode_text(text), model.logit_scale.exp())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():  # CLIP clips the learned temperature at 100
            model.logit_scale.clamp_(0, np.log(100))
        losses.append(loss.item())
    return losses


def settings(params: Params, prepared: Prepared) -> dict[str, Any]:
    """What the trained model depends on: a stand-in built from other settings is trained again."""
    return {"arch": ARCH, "train": TRAIN, "captions": CAPTIONS, "classes": prepared.classes,
            "train_images": sorted(prepared.split("train")["image_id"]), "seed": params.seed}


def train_new(params: Params, prepared: Prepared) -> tuple[Any, dict[str, Any]]:
    """A tiny CLIP trained from its seed on the training split, and how the training went."""
    # Seeded here, without disturbing the caller's RNG; one thread (runtime.limit_threads says why).
    with torch.random.fork_rng(devices=[]), runtime.limit_threads(1):
        torch.manual_seed(params.seed)
        model = build()
        images, labels = training_images(prepared, ARCH["image_resolution"])
        t0 = time.perf_counter()
        losses = train(model, images, labels, prepared.classes, seed=params.seed, **TRAIN)
    info = {"train_seconds": time.perf_counter() - t0, "num_train_images": len(labels), "loss_first": losses[0],
            "loss_last": float(np.mean(losses[-20:])), "losses": losses}
    return model, info
