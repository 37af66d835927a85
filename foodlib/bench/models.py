"""Section `models`: full-size ViT-B/16 and Swin V2-T built from configs (random weights), and CLIP ViT-B/32's
image tower (what notebook 04 scores with).

Train step (forward + cross-entropy + backward + AdamW step) and inference_mode eval (CLIP: eval only) on random
tensors already on the device, so the model alone is timed: fp32 on CPU, bf16 autocast on GPU.
"""
from __future__ import annotations

import time
from typing import Callable

from foodlib import runtime
from foodlib.bench.common import LiveRows, Row, sync

LABELS = {"vit": "ViT-B/16 224", "swin": "Swin V2-T 256", "clip": "CLIP ViT-B/32 image tower 224"}


def build_model(name: str, num_labels: int = 101):
    """(model, image size, forward): the published architecture (foodlib.models.archs) with random weights and a
    `num_labels` head, with the attention training uses; forward(x) -> logits."""
    from foodlib.models import archs, common, swin_sdpa

    if name == "clip":
        model = common.import_clip().model.CLIP(**archs.clip_dims("ViT-B/32")).float()  # full's clip_model
        return model.visual, model.visual.input_resolution, model.visual  # encode_image is visual(image)
    from transformers import AutoModelForImageClassification

    cfg = archs.hf_config(name)
    cfg.num_labels = num_labels
    model = AutoModelForImageClassification.from_config(cfg)
    swin_sdpa.install(model)  # leaves a model without Swin V2 attention alone
    return model, cfg.image_size, lambda x: model(pixel_values=x).logits


def _steps(model, forward, x, device: str, train: bool) -> Callable[[], None]:
    """One train step (forward, cross-entropy, backward, AdamW) or one inference_mode forward, as training runs it."""
    import torch
    import torch.nn.functional as nnf

    amp = torch.bfloat16 if device == "cuda" else None  # the training loop's autocast
    if not train:
        model.eval()

        def evaluate():
            with torch.inference_mode(), runtime.autocast(device, amp):
                forward(x)
        return evaluate
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, fused=device == "cuda")
    y = torch.randint(0, 101, (len(x),), device=device)

    def step():
        with runtime.autocast(device, amp):
            logits = forward(x)
        nnf.cross_entropy(logits.float(), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def rate(step: Callable[[], None], *, device: str, batch: int, iters: int, warmup: int) -> float:
    """Images per second of `step` over `iters` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    sync(device)
    return iters * batch / (time.perf_counter() - t0)


def _settings(args) -> dict:
    """Batch sizes, iterations and warm-up for this device (the command line's values where given)."""
    gpu = args.device == "cuda"
    warmup = args.warmup if args.warmup is not None else (10 if gpu else 1)
    return {"train": args.batch_size or (128 if gpu else 4), "eval": args.eval_batch_size or (256 if gpu else 8),
            "iters": args.iters or (30 if gpu else 2), "warmup": max(warmup, 3) if args.compile else warmup}


def _time_one(name: str, args, s: dict, rows: list[Row]) -> None:
    """Append the train-step (not for CLIP) and eval rows of one model, each printed as soon as it is measured."""
    import torch

    device, gpu = args.device, args.device == "cuda"
    model, size, forward = build_model(name)
    model.to(device)
    run = torch.compile(forward) if args.compile else forward
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    attn = getattr(getattr(model, "config", None), "_attn_implementation", None)  # HF models: eager or sdpa
    note = (f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, "
            + (f"{attn} attention, " if attn else "") + ("bf16 autocast" if gpu else "fp32")
            + (", torch.compile" if args.compile else ""))
    for kind in ("eval",) if name == "clip" else ("train", "eval"):
        x = torch.randn(s[kind], 3, size, size, device=device)
        got = rate(_steps(model, run, x, device, kind == "train"), device=device, batch=s[kind], iters=s["iters"],
                   warmup=s["warmup"])
        rows.append(Row("models", f"{LABELS[name]} {kind} ({device}, batch {s[kind]})", got, "images/s",
                        per_core=None if gpu else got / runtime.cpu_cores(), note=note))
    if gpu:  # peak over this model's rows
        rows[-1].extra["max_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    del model, run, forward
    if gpu:
        torch.cuda.empty_cache()


def models_section(args) -> list[Row]:
    import torch

    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    rows: list[Row] = LiveRows()
    torch.manual_seed(args.seed)
    settings = _settings(args)
    for name in (m.strip() for m in args.models.split(",")):
        _time_one(name, args, settings, rows)
    return rows
