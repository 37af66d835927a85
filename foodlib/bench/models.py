"""Section `models`: full-size ViT-B/16 and Swin V2-T built from configs (random weights), and CLIP ViT-B/32's
image tower (what notebook 04 scores with).

Train step (forward + cross-entropy + backward + AdamW step) and inference_mode eval (CLIP: eval only),
fp32 on CPU, bf16 autocast on GPU.
"""
from __future__ import annotations

import time
from typing import Callable

from foodlib import runtime
from foodlib.bench.common import LiveRows, Row, _sync
from foodlib.runtime import cpu_cores

LABELS = {"vit": "ViT-B/16 224", "swin": "Swin V2-T 256", "clip": "CLIP ViT-B/32 image tower 224"}
CLIP_NAME = "ViT-B/32"  # params.clip_model of the full profile


def build_model(name: str, num_labels: int = 101):
    """The published architecture (foodlib.models.archs) with a `num_labels` head and random weights,
    with the attention training uses (Swin V2: foodlib.models.swin_sdpa)."""
    from transformers import AutoModelForImageClassification

    from foodlib.models import archs, swin_sdpa

    cfg = archs.hf_config(name)
    cfg.num_labels = num_labels
    model = AutoModelForImageClassification.from_config(cfg)
    swin_sdpa.install(model)  # leaves a model without Swin V2 attention alone
    return model, cfg.image_size


def _train_step(model, run, x, y, device: str, amp: bool) -> tuple[Callable[[], None], object]:
    """A train step (forward, cross-entropy, backward, AdamW step) and its optimiser."""
    import torch
    import torch.nn.functional as nnf

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, fused=device == "cuda")

    def step():
        with runtime.autocast(device, torch.bfloat16 if amp else None):  # the training loop's autocast
            logits = run(pixel_values=x).logits
        loss = nnf.cross_entropy(logits.float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step, opt


def _eval_step(model, run, x, device: str, amp: bool) -> Callable[[], None]:
    import torch

    model.eval()

    def step():
        with torch.inference_mode(), runtime.autocast(device, torch.bfloat16 if amp else None):
            run(pixel_values=x).logits

    return step


def time_model(model, image_size: int, *, device: str, batch: int, train: bool, iters: int, warmup: int,
               compile_model: bool = False) -> float:
    import torch

    amp = device == "cuda"
    x = torch.randn(batch, 3, image_size, image_size, device=device)
    y = torch.randint(0, model.config.num_labels, (batch,), device=device)
    run = torch.compile(model) if compile_model else model
    opt = None
    if train:
        step, opt = _train_step(model, run, x, y, device, amp)
    else:
        step = _eval_step(model, run, x, device, amp)
    rate = _rate(step, device=device, batch=batch, iters=iters, warmup=warmup)
    del opt
    return rate


def _rate(step: Callable[[], None], *, device: str, batch: int, iters: int, warmup: int) -> float:
    """Images per second of `step` over `iters` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    _sync(device)
    return iters * batch / (time.perf_counter() - t0)


def _time_clip(args, s: dict, rows: list[Row]) -> None:
    """CLIP ViT-B/32's image tower (random weights, float32 as `clipmodels.load` gives it): eval only."""
    import torch

    from foodlib.models import archs, common

    device, gpu = args.device, args.device == "cuda"
    clip = common.import_clip()
    model = clip.model.CLIP(**archs.clip_dims(CLIP_NAME)).float().eval().to(device)
    tower = model.visual  # encode_image is visual(image.type(dtype))
    run = torch.compile(tower) if args.compile else tower
    size = model.visual.input_resolution
    x = torch.randn(s["eval_b"], 3, size, size, device=device)

    def step():
        with torch.inference_mode(), runtime.autocast(device, torch.bfloat16 if gpu else None):
            run(x)

    if gpu:
        torch.cuda.reset_peak_memory_stats()
    ev = _rate(step, device=device, batch=s["eval_b"], iters=s["iters"], warmup=s["warmup"])
    n_params = sum(p.numel() for p in tower.parameters()) / 1e6
    note = f"{n_params:.1f}M params, {'bf16 autocast' if gpu else 'fp32'}, inference_mode" + (
        ", torch.compile" if args.compile else "")
    rows.append(Row("models", f"{LABELS['clip']} eval ({device}, batch {s['eval_b']})", ev, "images/s",
                    per_core=None if gpu else ev / cpu_cores(), note=note))
    if gpu:
        rows[-1].extra["max_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)


def _settings(args) -> dict:
    """Batch sizes, iterations and warm-up for this device (the CLI's values where given)."""
    gpu = args.device == "cuda"
    warmup = args.warmup if args.warmup is not None else (10 if gpu else 1)
    return {
        "train_b": args.batch_size or (128 if gpu else 4),
        "eval_b": args.eval_batch_size or (256 if gpu else 8),
        "iters": args.iters or (30 if gpu else 2),
        "warmup": max(warmup, 3) if args.compile else warmup,
    }


def _time_one(name: str, args, s: dict, rows: list[Row]) -> None:
    """Append the train-step and eval rows of one model (each printed as soon as it is measured)."""
    import torch

    device = args.device
    gpu = device == "cuda"
    precision = "bf16 autocast" if gpu else "fp32"
    model, image_size = build_model(name)
    model.to(device)
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    attn = getattr(model.config, "_attn_implementation", None) or "eager"
    note = f"{n_params:.1f}M params, {attn} attention, {precision}" + (", torch.compile" if args.compile else "")
    timing = dict(device=device, iters=s["iters"], warmup=s["warmup"], compile_model=args.compile)
    tr = time_model(model, image_size, batch=s["train_b"], train=True, **timing)
    rows.append(Row("models", f"{LABELS[name]} train step ({device}, batch {s['train_b']})", tr, "images/s",
                    per_core=None if gpu else tr / cpu_cores(), note=note))
    ev = time_model(model, image_size, batch=s["eval_b"], train=False, **timing)
    rows.append(Row("models", f"{LABELS[name]} eval ({device}, batch {s['eval_b']})", ev, "images/s",
                    per_core=None if gpu else ev / cpu_cores(), note=note + ", inference_mode"))
    if gpu:  # peak over the train step and eval of this model
        rows[-1].extra["max_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    del model
    if gpu:
        torch.cuda.empty_cache()


def models_section(args) -> list[Row]:
    import torch

    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    settings = _settings(args)
    rows: list[Row] = LiveRows()
    torch.manual_seed(args.seed)
    for name in (m.strip() for m in args.models.split(",")):
        if name == "clip":
            _time_clip(args, settings, rows)
        else:
            _time_one(name, args, settings, rows)
    return rows
