"""A rerunnable speed benchmark: `python -m foodlib.bench --help`.

Sections (pick with --sections; default `pipeline,models`):

- pipeline: photo-like Food-101-sized JPEGs are generated into a temporary copy
  of the official archive layout; the naive path (PIL open + convert + the
  Hugging Face ViTImageProcessor per image, as the HF tutorial does) is timed
  side by side with the fast path that training uses (the prepared cache read
  through foodlib.data.loader). One process with one thread gives the
  per-core figures; then the same through a DataLoader with workers. A
  per-stage profile (decode, resize, normalise) says where the time goes.
- models: full-size ViT-B/16 and Swin V2-T built from configs (random
  weights): train step (forward + cross-entropy + backward + AdamW step) and
  inference_mode eval, fp32 on CPU, bf16 autocast on GPU.
- smoke, tests: wall time of `./run_all.sh --profile smoke` and of the test
  suite, each as a subprocess.

Prints a table; `--out FILE.json` also writes the rows with the machine and
versions. Nothing is downloaded: models are built from configs, images made here.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

SECTIONS = ("pipeline", "models", "smoke", "tests")
DEFAULT_SECTIONS = "pipeline,models"
MEAN = STD = (0.5, 0.5, 0.5)  # google/vit-base-patch16-224-in21k's processor values
FOOD101_IMAGES = 101_000


class LiveRows(list):
    """A list of rows that prints each one as it is added, so a run cut short still shows its figures."""

    def append(self, row) -> None:
        super().append(row)
        print(f"  {row.name}: {_fmt(row.value)} {row.unit}" + (f" ({row.ratio:.2f}x naive)" if row.ratio else ""),
              flush=True)

    def __iadd__(self, rows):
        for row in rows:
            self.append(row)
        return self


@dataclass
class Row:
    section: str
    name: str
    value: float | None
    unit: str
    per_core: float | None = None  # value / CPU cores used, for rates
    ratio: float | None = None  # vs the naive path
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# -- machine and versions ------------------------------------------------------------------

def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine_info() -> dict[str, Any]:
    import PIL
    import torch
    import torchvision
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    info = {
        "cpu": cpu,
        "cores": cpu_cores(),
        "memory_gib": mem_gb,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "transformers": transformers.__version__,
        "pillow": PIL.__version__,
        "platform": platform.platform(),
    }
    try:
        from PIL import features

        info["pillow_jpeg"] = "libjpeg-turbo " + str(features.version("libjpeg_turbo"))
    except Exception:  # noqa: BLE001 - informational only
        pass
    return info


# -- photo-like JPEGs ------------------------------------------------------------------------

def photo_like(rng: np.random.Generator, max_side: int = 512):
    """A PIL image that compresses like a food photo: up to `max_side` a side (most at it, as
    in Food-101), a smooth colour field, blurred shapes, texture and sensor-like noise.
    At JPEG quality 85 files come out at about 40-80 KB (Food-101 averages about 50 KB)."""
    from PIL import Image, ImageDraw, ImageFilter

    long = max_side if rng.random() < 0.85 else int(rng.integers(max_side * 3 // 5, max_side))
    short = int(long * rng.uniform(0.6, 1.0))
    w, h = (long, short) if rng.random() < 0.7 else (short, long)
    coarse = rng.uniform(40, 220, size=(int(rng.integers(3, 7)), int(rng.integers(3, 7)), 3)).astype(np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.float32)
    mid = rng.normal(0, 14, size=(h // 12 + 2, w // 12 + 2, 3))
    mid = np.asarray(Image.fromarray(np.clip(mid + 128, 0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC),
                     dtype=np.float32) - 128
    img = Image.fromarray(np.clip(base + mid, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(4, 12))):
        x0, y0 = rng.uniform(-0.2, 1.0) * w, rng.uniform(-0.2, 1.0) * h
        s = rng.uniform(0.08, 0.5) * min(w, h)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x0 + s, y0 + s * rng.uniform(0.5, 1.5)), fill=colour)
        else:
            pts = [(x0 + s * rng.uniform(0, 1), y0 + s * rng.uniform(0, 1)) for _ in range(int(rng.integers(3, 7)))]
            draw.polygon(pts, fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.6, 1.5))))
    arr = np.asarray(img, dtype=np.float32)
    fine = rng.normal(0, 1, size=(h // 2 + 1, w // 2 + 1, 1)) * rng.uniform(6, 14)
    fine = np.repeat(np.repeat(fine, 2, 0), 2, 1)[:h, :w]
    arr = arr + fine + rng.normal(0, rng.uniform(2, 5), size=arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _write_photos(images_dir: str, items: list[tuple[int, str]], seed: int, max_side: int) -> list[int]:
    sizes = []
    for i, image_id in items:
        img = photo_like(np.random.default_rng([seed, i]), max_side)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
        target = Path(images_dir) / f"{image_id}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(buf.getvalue())
        sizes.append(len(buf.getvalue()))
    return sizes


def make_photo_archive(root: Path, num_images: int, *, seed: int = 0, max_side: int = 512,
                       num_classes: int = 4, workers: int = 1) -> list[Path]:
    """`num_images` photo-like JPEGs in the official archive layout under root/food-101 (all in
    the test split, so preparation keeps every one); returns the original files' paths."""
    from foodlib.data.synthetic import class_names

    classes = class_names(num_classes)
    base = Path(root) / "food-101"
    ids = [(i, f"{classes[i % num_classes]}/{900000 + i}") for i in range(num_images)]
    images_dir = str(base / "images")
    if workers > 1 and num_images > 8:
        chunks = [ids[k::workers] for k in range(workers)]
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_write_photos, [images_dir] * workers, chunks, [seed] * workers, [max_side] * workers))
    else:
        _write_photos(images_dir, ids, seed, max_side)
    meta = base / "meta"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "classes.txt").write_text("\n".join(classes) + "\n")
    test = {c: [image_id for _, image_id in ids if image_id.startswith(c + "/")] for c in classes}
    (meta / "test.json").write_text(json.dumps(test))
    (meta / "train.json").write_text(json.dumps({c: [] for c in classes}))
    return [base / "images" / f"{image_id}.jpg" for _, image_id in ids]


# -- the naive path ------------------------------------------------------------------------

def hf_processor(size: int = 224):
    """ViTImageProcessor with google/vit-base-patch16-224-in21k's values, built locally (no hub)."""
    from transformers import ViTImageProcessor

    return ViTImageProcessor(do_resize=True, size={"height": size, "width": size}, do_rescale=True,
                             rescale_factor=1 / 255, do_normalize=True, image_mean=list(MEAN), image_std=list(STD))


def hf_processor_pil(size: int = 224):
    """The same values on the PIL/numpy backend (what ViTImageProcessor was in transformers 4.x), or None."""
    try:
        from transformers import ViTImageProcessorPil
    except ImportError:
        return None
    return ViTImageProcessorPil(do_resize=True, size={"height": size, "width": size}, do_rescale=True,
                                rescale_factor=1 / 255, do_normalize=True, image_mean=list(MEAN),
                                image_std=list(STD))


def naive_load(path: str | Path, processor) -> Any:
    """What the HF tutorial does per image: PIL open, convert to RGB, run the processor."""
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB")
    return processor(rgb, return_tensors="pt")["pixel_values"][0]


class NaiveImages:
    """Dataset of the original JPEGs through `naive_load` (picklable for DataLoader workers)."""

    def __init__(self, paths: list[Path], size: int = 224, backend: str = "torchvision"):
        self.paths = [str(p) for p in paths]
        self.size, self.backend = size, backend
        self._processor = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        if self._processor is None:
            self._processor = hf_processor(self.size) if self.backend == "torchvision" else hf_processor_pil(self.size)
        return naive_load(self.paths[i], self._processor), 0


# -- timing helpers ------------------------------------------------------------------------

class _Threads:
    """Run a block with torch limited to n intra-op threads (the per-core figures)."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        import torch

        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.before)


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def time_loader(loader, *, epochs: int, warmup_epochs: int, post: Callable | None = None,
                device: str = "cpu") -> float:
    """Images per second over `epochs` passes, after `warmup_epochs` untimed ones."""
    for _ in range(warmup_epochs):
        for x, _y in loader:
            if post is not None:
                post(x)
    _sync(device)
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for x, _y in loader:
            if post is not None:
                post(x)
            n += len(x)
    _sync(device)
    return n / (time.perf_counter() - t0)


def per_item_ms(fn: Callable, items: list, repeats: int) -> float:
    """Median over `repeats` passes of the mean milliseconds per item of fn(item)."""
    fn(items[0])
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for it in items:
            fn(it)
        runs.append((time.perf_counter() - t0) / len(items) * 1000)
    return statistics.median(runs)


def interleaved(measure: dict[str, Callable[[], float]], repeats: int,
                warm: dict[str, Callable[[], Any]] | None = None) -> dict[str, float]:
    """Median of `repeats` calls of each measurement, taken in turns (a, b, c, a, b, c, ...)
    so that a burst of load from elsewhere slows all of them alike and the ratios hold."""
    for fn in (warm or {}).values():
        fn()
    got: dict[str, list[float]] = {name: [] for name in measure}
    for _ in range(max(1, repeats)):
        for name, fn in measure.items():
            got[name].append(fn())
    return {name: statistics.median(v) for name, v in got.items()}


# -- section: pipeline ---------------------------------------------------------------------

def pipeline_section(args, workdir: Path) -> list[Row]:
    import torch
    from PIL import Image

    from foodlib import config
    from foodlib.data import loader as L
    from foodlib.data import prepare as prepare_module
    from foodlib.data.prepare import prepare

    rows: list[Row] = LiveRows()
    sec = "pipeline"
    cores = cpu_cores()
    workers = _workers(args.workers)
    size = 224
    n = args.num_images

    t0 = time.perf_counter()
    originals = make_photo_archive(workdir, n, seed=args.seed, workers=min(cores, 8))
    gen_s = time.perf_counter() - t0
    kb = [p.stat().st_size / 1e3 for p in originals]
    dims = [Image.open(p).size for p in originals]
    rows.append(Row(sec, f"test images: {n} photo-like JPEGs, made in {gen_s:.1f} s", float(np.mean(kb)), "KB mean",
                    note=f"{np.percentile(kb, 10):.0f}-{np.percentile(kb, 90):.0f} KB (p10-p90); "
                         f"mean {np.mean([d[0] for d in dims]):.0f}x{np.mean([d[1] for d in dims]):.0f} px, max side 512"))

    # One-off: the prepared cache (what notebook 01 builds once), timed on its own.
    params = config.resolve("full", data_source="archive", data_dir=str(workdir),
                            results_dir=str(workdir / "results"), cache_short_side=288,
                            num_workers=workers, device="cpu")
    t0 = time.perf_counter()
    prepared = prepare(params, progress=False)
    prep_s = time.perf_counter() - t0
    prep_rate = n / prep_s
    prep_cores = max(1, min(math.ceil(n / prepare_module.CHUNK), workers, cores))  # one process per chunk
    cached = [prepared.path(p) for p in prepared.split("test")["path"]]
    ckb = [p.stat().st_size / 1e3 for p in cached]
    rows.append(Row(sec, "one-off: prepare cache (RGB, short side 288, JPEG q90)", prep_rate, "images/s",
                    per_core=prep_rate / prep_cores,
                    note=f"{prep_s:.1f} s here; cached files {np.mean(ckb):.0f} KB mean; full Food-101 "
                         f"~{FOOD101_IMAGES / (prep_rate / prep_cores) / 60 / max(1, min(workers, cores)):.0f} min "
                         f"on {max(1, min(workers, cores))} cores"))

    processor = hf_processor(size)
    evalf = L.eval_transform(size, MEAN, STD)
    evalu = L.eval_resize(size)
    trainf = L.train_transform(size, MEAN, STD)
    trainu = L.train_augment(size)
    norm = L.Normalize(MEAN, STD)
    reps = args.repeats

    # Where the time goes: one thread, per image.
    sample = originals[: min(n, 64)]
    csample = cached[: min(n, 64)]
    with _Threads(1):
        pils = [Image.open(p).convert("RGB") for p in sample]
        decoded = [L.decode_rgb(p) for p in csample]
        resized = [evalu(x) for x in decoded]
        stages = [
            ("naive: PIL open + decode + convert (original)", lambda p: Image.open(p).convert("RGB"), sample),
            ("naive: ViTImageProcessor on the PIL image", lambda im: processor(im, return_tensors="pt"), pils),
            ("fast: read + decode cached JPEG (torchvision)", L.decode_rgb, csample),
            ("fast: read + decode original JPEG (torchvision)", L.decode_rgb, sample),
            ("fast: eval crop+resize, uint8", evalu, decoded),
            ("fast: train crop+resize+flip, uint8", L.RandomResizedCropFlip(size), decoded),
            ("fast: TrivialAugmentWide, uint8 224 px", trainu.steps[-1], resized),
            ("fast: normalise to float (per image)", norm, resized),
        ]
        ms = interleaved({name: (lambda fn=fn, items=items: per_item_ms(fn, items, 1)) for name, fn, items in stages},
                         repeats=reps)
        for name, _fn, _items in stages:
            rows.append(Row(sec, "profile  " + name, ms[name], "ms/image", note="1 thread"))

    # Per core: one process, one thread, batches as training gets them.
    b = args.pipeline_batch
    paths = {
        "naive: PIL + ViTImageProcessor per image (originals)": (NaiveImages(originals, size), None, ""),
        "fast eval: cache -> eval_transform (float, per image)": (L.CachedImages(prepared, "test", evalf), None, ""),
        "fast eval: cache -> eval_resize (uint8 batches)": (L.CachedImages(prepared, "test", evalu), None,
                                                            "normalised on the device (GPU) in training"),
        "fast eval: cache -> uint8 batches + batch normalise on CPU": (L.CachedImages(prepared, "test", evalu),
                                                                      lambda x: norm(x), ""),
        "fast train: cache -> train_transform (float, per image)": (L.CachedImages(prepared, "test", trainf), None,
                                                                    "with TrivialAugmentWide"),
        "fast train: cache -> train_augment (uint8 batches)": (L.CachedImages(prepared, "test", trainu), None,
                                                              "with TrivialAugmentWide; normalised on the device"),
    }
    if hf_processor_pil(size) is not None:
        paths["naive (PIL backend): PIL + ViTImageProcessorPil per image"] = (
            NaiveImages(originals, size, backend="pil"), None, "transformers 4.x's ViTImageProcessor; not the baseline")
    naive_rate = None
    with _Threads(1):
        loaders0 = {name: (L.make_loader(ds, batch_size=b, shuffle=False, num_workers=0, device="cpu"), post)
                    for name, (ds, post, _note) in paths.items()}
        rates = interleaved({name: (lambda dl=dl, post=post: time_loader(dl, epochs=1, warmup_epochs=0, post=post))
                             for name, (dl, post) in loaders0.items()},
                            warm={name: (lambda dl=dl: next(iter(dl))) for name, (dl, _) in loaders0.items()},
                            repeats=reps)
        for name, (_ds, _post, note) in paths.items():
            rate = rates[name]
            naive_rate = naive_rate or rate
            rows.append(Row(sec, "1 core   " + name, rate, "images/s", per_core=rate, ratio=rate / naive_rate,
                            note=note or "1 process, 1 thread"))

    # Through DataLoader workers, as training runs it.
    if workers > 0:
        epochs = max(1, math.ceil(args.loader_images / (max(1, reps) * n)))  # passes per timed repeat
        used = max(1, min(workers, cores))
        dev = args.device
        loaders = {
            "naive: PIL + ViTImageProcessor per image (originals)": (NaiveImages(originals, size), None),
            "fast eval: eval_transform (float, per image)": (L.CachedImages(prepared, "test", evalf), None),
            "fast eval: eval_resize (uint8 batches)": (L.CachedImages(prepared, "test", evalu), None),
            "fast train: train_augment (uint8 batches)": (L.CachedImages(prepared, "test", trainu), None),
        }
        if dev == "cuda":
            to_gpu = lambda x: L.to_device(x, "cuda", MEAN, STD)  # noqa: E731 - pinned, non-blocking, normalised
            loaders["fast eval: uint8 batches -> GPU (pinned, non_blocking, normalised there)"] = (
                L.CachedImages(prepared, "test", evalu), to_gpu)
            loaders["fast train: uint8 batches -> GPU (pinned, non_blocking, normalised there)"] = (
                L.CachedImages(prepared, "test", trainu), to_gpu)
        dls = {name: (L.make_loader(ds, batch_size=b, shuffle=True, num_workers=workers, device=dev,
                                    seed=args.seed), post) for name, (ds, post) in loaders.items()}
        rates = interleaved(
            {name: (lambda dl=dl, post=post: time_loader(dl, epochs=epochs, warmup_epochs=0, post=post, device=dev))
             for name, (dl, post) in dls.items()},
            warm={name: (lambda dl=dl, post=post: time_loader(dl, epochs=1, warmup_epochs=0, post=post, device=dev))
                  for name, (dl, post) in dls.items()},  # starts the (persistent) workers
            repeats=reps)
        del dls
        naive_w = None
        for name in loaders:
            naive_w = naive_w or rates[name]
            rows.append(Row(sec, f"{workers} workers {name}", rates[name], "images/s", per_core=rates[name] / used,
                            ratio=rates[name] / naive_w, note=f"DataLoader, {workers} workers on {cores} cores"))
        if dev == "cuda":
            rows += gpu_decode_rows(prepared, size, b, workers, epochs, reps)
    return rows


def gpu_decode_rows(prepared, size: int, batch: int, workers: int, epochs: int, repeats: int) -> list[Row]:
    """Optional path: workers only read the cached files; the batch is decoded with nvJPEG on the GPU,
    cropped/resized (and augmented) there, and normalised there."""
    import torch
    from torch.utils.data import DataLoader

    from foodlib.data import loader as L

    norm = L.Normalize(MEAN, STD)
    ds = L.CachedBytes(prepared, "test")
    dl = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, collate_fn=L.collate_bytes,
                    persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
                    generator=torch.Generator().manual_seed(0))
    transforms = {"eval": L.eval_resize(size), "train": L.train_augment(size)}

    def one(kind: str) -> float:
        n, t0 = 0, time.perf_counter()
        for _ in range(epochs):
            for datas, y in dl:
                norm(L.decode_batch(datas, transforms[kind], "cuda"))
                n += len(y)
        torch.cuda.synchronize()
        return n / (time.perf_counter() - t0)

    try:
        for kind in transforms:  # warm-up: starts the workers, nvJPEG and the kernels
            for datas, _y in dl:
                norm(L.decode_batch(datas, transforms[kind], "cuda"))
        rates = interleaved({k: (lambda k=k: one(k)) for k in transforms}, repeats=repeats)
    except RuntimeError as exc:  # no nvJPEG in this torchvision build, say
        return [Row("pipeline", "GPU decode (nvJPEG)", None, "images/s", note=f"failed: {exc}"[:120])]
    return [Row("pipeline", f"{workers} workers read bytes -> nvJPEG decode + {kind} crop/resize"
                + (" + TrivialAugment" if kind == "train" else "") + " + normalise, all on GPU",
                rates[kind], "images/s", per_core=rates[kind] / max(1, min(workers, cpu_cores())),
                note="optional path: CachedBytes + decode_batch") for kind in transforms]


# -- section: models -----------------------------------------------------------------------

def build_model(name: str, num_labels: int = 101):
    """Full-size models from configs with random weights (nothing downloaded)."""
    from transformers import Swinv2Config, Swinv2ForImageClassification, ViTConfig, ViTForImageClassification

    if name == "vit":  # ViTConfig defaults are ViT-B/16 at 224 (google/vit-base-patch16-224-in21k)
        cfg = ViTConfig(num_labels=num_labels)
        cfg._attn_implementation = "sdpa"
        return ViTForImageClassification(cfg), 224
    if name == "swin":  # microsoft/swinv2-tiny-patch4-window8-256
        cfg = Swinv2Config(image_size=256, patch_size=4, window_size=8, embed_dim=96, depths=[2, 2, 6, 2],
                           num_heads=[3, 6, 12, 24], num_labels=num_labels)
        return Swinv2ForImageClassification(cfg), 256
    raise ValueError(f"unknown model {name!r}; choose vit or swin")


def time_model(model, image_size: int, *, device: str, batch: int, train: bool, iters: int, warmup: int,
               compile_model: bool = False) -> float:
    import torch
    import torch.nn.functional as nnf

    amp = device == "cuda"
    x = torch.randn(batch, 3, image_size, image_size, device=device)
    y = torch.randint(0, model.config.num_labels, (batch,), device=device)
    run = torch.compile(model) if compile_model else model
    if train:
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, fused=device == "cuda")

        def step():
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=amp):
                logits = run(pixel_values=x).logits
            loss = nnf.cross_entropy(logits.float(), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    else:
        model.eval()

        def step():
            with torch.inference_mode(), torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=amp):
                run(pixel_values=x).logits

    for _ in range(warmup):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    _sync(device)
    rate = iters * batch / (time.perf_counter() - t0)
    if train:
        del opt
    return rate


def models_section(args) -> list[Row]:
    import torch

    device = args.device
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    gpu = device == "cuda"
    train_b = args.batch_size or (128 if gpu else 4)
    eval_b = args.eval_batch_size or (256 if gpu else 8)
    iters = args.iters or (30 if gpu else 2)
    warmup = args.warmup if args.warmup is not None else (10 if gpu else 1)
    if args.compile:
        warmup = max(warmup, 3)
    precision = "bf16 autocast" if gpu else "fp32"
    rows: list[Row] = LiveRows()
    torch.manual_seed(args.seed)
    for name in args.models.split(","):
        model, image_size = build_model(name.strip())
        model.to(device)
        if gpu:
            torch.cuda.reset_peak_memory_stats()
        n_params = sum(p.numel() for p in model.parameters()) / 1e6
        attn = getattr(model.config, "_attn_implementation", None) or "eager"
        label = {"vit": "ViT-B/16 224", "swin": "Swin V2-T 256"}[name.strip()]
        note = f"{n_params:.1f}M params, {attn} attention, {precision}" + (", torch.compile" if args.compile else "")
        tr = time_model(model, image_size, device=device, batch=train_b, train=True, iters=iters, warmup=warmup,
                        compile_model=args.compile)
        rows.append(Row("models", f"{label} train step ({device}, batch {train_b})", tr, "images/s",
                        per_core=None if gpu else tr / cpu_cores(), note=note))
        ev = time_model(model, image_size, device=device, batch=eval_b, train=False, iters=iters, warmup=warmup,
                        compile_model=args.compile)
        rows.append(Row("models", f"{label} eval ({device}, batch {eval_b})", ev, "images/s",
                        per_core=None if gpu else ev / cpu_cores(), note=note + ", inference_mode"))
        if gpu:  # peak over the train step and eval of this model
            rows[-1].extra["max_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
        del model
        if gpu:
            torch.cuda.empty_cache()
    return rows


# -- sections: smoke and tests --------------------------------------------------------------

def _timed(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        rc = subprocess.call(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    return time.perf_counter() - t0, rc


def _tail(log: Path, n: int = 1) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def smoke_section(args, workdir: Path) -> list[Row]:
    from foodlib import config

    root = config.project_root()
    notebooks = sorted(p.stem for p in (root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    env = {**os.environ, "FOODLIB_PYTHON": sys.executable}
    log = workdir / "smoke.log"
    seconds, rc = _timed(["./run_all.sh", "--profile", "smoke", "-p", "results_dir", str(workdir / "smoke")],
                         env, root, log)
    return [Row("smoke", "smoke rebuild: ./run_all.sh --profile smoke", seconds, "s",
                note=f"{'ok' if rc == 0 else f'FAILED rc={rc}'}; notebooks: {', '.join(notebooks) or 'none'}",
                extra={"rc": rc, "notebooks": notebooks, "target_s": 300})]


def tests_section(args, workdir: Path) -> list[Row]:
    from foodlib import config

    root = config.project_root()
    log = workdir / "tests.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg"}
    seconds, rc = _timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env, root, log)
    return [Row("tests", "test suite: python -m pytest -q", seconds, "s",
                note=f"{'ok' if rc == 0 else f'rc={rc}'}; {_tail(log)}", extra={"rc": rc, "target_s": 600})]


# -- table and main ----------------------------------------------------------------------------

def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def format_table(rows: Iterable[Row]) -> str:
    header = ("section", "measurement", "value", "unit", "per core", "vs naive", "note")
    body = [(r.section, r.name, _fmt(r.value), r.unit, _fmt(r.per_core),
             "-" if r.ratio is None else f"{r.ratio:.2f}x", r.note) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    right = {2, 4, 5}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])


def _cpu_snapshot() -> tuple[float, float, float] | None:
    """(wall, CPU seconds busy on the whole machine, CPU seconds of this process and its reaped children)."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / hz  # all but idle and iowait (guest is inside user)
    t = os.times()
    return time.time(), busy, t.user + t.system + t.children_user + t.children_system


def other_load(before, after) -> float | None:
    """Average CPU cores that other processes kept busy between two snapshots."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / (after[0] - before[0]))


def _workers(requested: int) -> int:
    from foodlib import runtime

    return runtime.num_workers(requested)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m foodlib.bench",
        description="Benchmark the input pipeline (naive HF path vs the prepared cache), the models "
                    "(train step and eval), and optionally the smoke rebuild and the test suite.")
    ap.add_argument("--sections", default=DEFAULT_SECTIONS,
                    help=f"comma-separated, from {','.join(SECTIONS)} (default {DEFAULT_SECTIONS}; "
                         "smoke and tests take minutes)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                    help="models section, and the GPU rows of the pipeline section (default auto)")
    ap.add_argument("--num-images", type=int, default=256, help="photo-like JPEGs to generate (default 256)")
    ap.add_argument("--workers", type=int, default=-1,
                    help="DataLoader workers; -1 = one per core, up to 8 (default); 0 skips the worker rows")
    ap.add_argument("--pipeline-batch", type=int, default=64, help="DataLoader batch size (default 64)")
    ap.add_argument("--loader-images", type=int, default=1024,
                    help="images to time through the worker DataLoader, in whole passes (default 1024)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats of each one-process measurement (median)")
    ap.add_argument("--models", default="vit,swin", help="models to time: vit,swin")
    ap.add_argument("--batch-size", type=int, default=None, help="train-step batch (default 4 on CPU, 128 on GPU)")
    ap.add_argument("--eval-batch-size", type=int, default=None, help="eval batch (default 8 on CPU, 256 on GPU)")
    ap.add_argument("--iters", type=int, default=None, help="timed iterations per model (default 2 CPU, 30 GPU)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed iterations first (default 1 CPU, 10 GPU)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the models first")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temp dir, removed)")
    ap.add_argument("--out", metavar="FILE.json", help="also write the rows, machine and versions as JSON")
    args = ap.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    args.sections = sections
    if args.num_images < 1:
        ap.error("--num-images must be at least 1")
    return args


def run(argv: list[str] | None = None) -> list[Row]:
    """Run the chosen sections; print the table (and write JSON with --out); return the rows."""
    args = parse_args(argv)
    from foodlib import runtime

    args.device = runtime.resolve_device(args.device)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="foodlib-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    timings: dict[str, float] = {}
    others_by_section: dict[str, float | None] = {}
    snap = _cpu_snapshot()
    try:
        for name in args.sections:
            t0, s0 = time.perf_counter(), _cpu_snapshot()
            print(f"==> {name}", flush=True)
            if name == "pipeline":
                rows += pipeline_section(args, workdir / "pipeline")
            elif name == "models":
                rows += models_section(args)
            elif name == "smoke":
                rows += smoke_section(args, workdir)
            elif name == "tests":
                rows += tests_section(args, workdir)
            timings[name] = round(time.perf_counter() - t0, 1)
            busy = other_load(s0, _cpu_snapshot())
            others_by_section[name] = None if busy is None else round(busy, 2)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    info = machine_info()
    others = other_load(snap, _cpu_snapshot())
    info["other_processes_cores"] = None if others is None else round(others, 2)
    print()
    if others is not None and others > 0.25:
        print(f"WARNING: other processes kept {others:.2f} of {info['cores']} cores busy during the run: "
              "figures are slowed by them; rerun on a quiet machine for the record.")
    print(f"machine: {info['cpu']}, {info['cores']} cores" + (f", {info['gpu']}" if info["gpu"] else "")
          + ("" if others is None else f", other processes busy {others:.2f} cores")
          + f" | torch {info['torch']}, torchvision {info['torchvision']}, transformers {info['transformers']}")
    print(format_table(rows))
    print(f"section wall times (s): {timings}; other processes' cores busy: {others_by_section}")
    if args.out:
        out = {"command": "python -m foodlib.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
               "machine": info, "args": {k: v for k, v in vars(args).items()}, "section_seconds": timings,
               "section_other_processes_cores": others_by_section,
               "rows": [asdict(r) for r in rows]}
        Path(args.out).write_text(json.dumps(out, indent=1, default=str))
        print(f"wrote {args.out}")
    return rows


def main(argv: list[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
