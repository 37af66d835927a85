"""Section `pipeline`: the naive per-image path against the prepared cache that training reads.

Photo-like Food-101-sized JPEGs are generated into a temporary copy of the official archive layout;
one process with one thread gives the per-core figures, then the same through a DataLoader with
workers. A per-stage profile (decode, resize, normalise) says where the time goes.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from foodlib.bench.common import (FOOD101_IMAGES, MEAN, STD, LiveRows, Row, _workers, interleaved,
                                  per_item_ms, time_loader)
from foodlib.bench.naive import NaiveImages, hf_processor, hf_processor_pil
from foodlib.bench.photos import make_photo_archive
from foodlib.runtime import cpu_cores, limit_threads

SEC = "pipeline"
SIZE = 224
SPLIT = "train"  # the photo archive's images: a training copy each, and the source files evaluation reads


def _eval_pre():
    """google/vit-base-patch16-224-in21k's eval protocol (its processor: straight to 224 x 224, bilinear)."""
    from foodlib.data.preprocess import Preprocess

    return Preprocess(SIZE, MEAN, STD)


def pipeline_section(args, workdir: Path) -> list[Row]:
    rows: list[Row] = LiveRows()
    workers = _workers(args.workers)
    originals, row = _test_images(args, workdir)
    rows.append(row)
    prepared, cached, row = _prepare_cache(workdir, len(originals), workers)
    rows.append(row)
    evalset, row = _eval_cache(prepared, workers)
    rows.append(row)
    rows += _stage_profile(originals, cached, args.repeats)
    rows += _one_core_rows(originals, prepared, evalset, args.pipeline_batch, args.repeats)
    if workers > 0:
        rows += _worker_rows(args, originals, prepared, evalset, workers)
    return rows


def _test_images(args, workdir: Path) -> tuple[list[Path], Row]:
    """Generate the photo-like originals; the row says how big they came out."""
    from PIL import Image

    n = args.num_images
    t0 = time.perf_counter()
    originals = make_photo_archive(workdir, n, seed=args.seed, workers=min(cpu_cores(), 8))
    gen_s = time.perf_counter() - t0
    kb = [p.stat().st_size / 1e3 for p in originals]
    dims = [Image.open(p).size for p in originals]
    return originals, Row(
        SEC, f"test images: {n} photo-like JPEGs, made in {gen_s:.1f} s", float(np.mean(kb)), "KB mean",
        note=f"{np.percentile(kb, 10):.0f}-{np.percentile(kb, 90):.0f} KB (p10-p90); "
             f"mean {np.mean([d[0] for d in dims]):.0f}x{np.mean([d[1] for d in dims]):.0f} px, max side 512")


def _prepare_cache(workdir: Path, n: int, workers: int):
    """One-off: the prepared cache (what notebook 01 builds once), timed on its own."""
    from foodlib import config
    from foodlib.data import prepare as prepare_module
    from foodlib.data.prepare import prepare_dataset

    cores = cpu_cores()
    params = config.resolve("full", data_source="archive", data_dir=str(workdir),
                            results_dir=str(workdir / "results"), cache_short_side=288,
                            num_workers=workers, device="cpu")
    t0 = time.perf_counter()
    prepared = prepare_dataset(params, progress=False)
    prep_s = time.perf_counter() - t0
    prep_rate = n / prep_s
    prep_cores = max(1, min(math.ceil(n / prepare_module.CHUNK), workers, cores))  # one process per chunk
    cached = [prepared.path(p) for p in prepared.split(SPLIT)["path"]]
    ckb = [p.stat().st_size / 1e3 for p in cached]
    row = Row(SEC, "one-off: prepare cache (RGB, short side 288, JPEG q90)", prep_rate, "images/s",
              per_core=prep_rate / prep_cores,
              note=f"{prep_s:.1f} s here; cached files {np.mean(ckb):.0f} KB mean; full Food-101 "
                   f"~{FOOD101_IMAGES / (prep_rate / prep_cores) / 60 / max(1, min(workers, cores)):.0f} min "
                   f"on {max(1, min(workers, cores))} cores")
    return prepared, cached, row


def _eval_cache(prepared, workers: int):
    """One-off: the eval cache of the split (what 02-04 build at their first pass), timed on its own."""
    from foodlib.data import evalcache

    n = len(prepared.split(SPLIT))
    t0 = time.perf_counter()
    evalset = evalcache.eval_images(prepared, SPLIT, _eval_pre(), num_workers=workers, progress=False)
    seconds = time.perf_counter() - t0
    used = max(1, min(workers, cpu_cores()))
    return evalset, Row(SEC, "one-off: build the eval cache (decode the source + eval resize once, uint8 224 px)",
                        n / seconds,
                        "images/s", per_core=n / seconds / used,
                        note=f"{seconds:.1f} s here, {workers} workers; {SIZE * SIZE * 3 / 1e3:.0f} KB per image "
                             "on disk; Food-101's test split ~"
                             f"{25_250 / (n / seconds) / 60 * used / max(1, min(16, cpu_cores())):.1f} min on "
                             f"{max(1, min(16, cpu_cores()))} cores")


def _stage_profile(originals: list[Path], cached: list[Path], reps: int) -> list[Row]:
    """Where the time goes: one thread, per image."""
    from PIL import Image
    from torchvision.transforms import v2

    from foodlib.data import loader as L

    processor = hf_processor(SIZE)
    evalu = _eval_pre().eval_uint8()
    sample = originals[:64]
    csample = cached[:64]
    with limit_threads(1):
        pils = [Image.open(p).convert("RGB") for p in sample]
        decoded = [L.decode_rgb(p) for p in csample]
        resized = [evalu(x) for x in pils]
        stages = [
            ("naive: PIL open + decode + convert (original)", lambda p: Image.open(p).convert("RGB"), sample),
            ("naive: ViTImageProcessor on the PIL image", lambda im: processor(im, return_tensors="pt"), pils),
            ("eval: read + decode + convert the source (PIL, as scoring does)", L.decode_source, sample),
            ("eval: the processor's resize on the PIL image, uint8", evalu, pils),
            ("train: read + decode the training copy (torchvision)", L.decode_rgb, csample),
            ("(read + decode the original with torchvision, for comparison)", L.decode_rgb, sample),
            ("fast: train crop+resize+flip, uint8", L.RandomResizedCropFlip(SIZE), decoded),
            ("fast: TrivialAugmentWide on PIL (train_augment), uint8 224 px", L.TrivialAugmentPil(), resized),
            ("(TrivialAugmentWide on tensors, torchvision's kernels, for comparison)", v2.TrivialAugmentWide(),
             resized),
            ("fast: normalise to float (per image)", L.Normalize(MEAN, STD), resized),
        ]
        ms = interleaved({name: (lambda fn=fn, items=items: per_item_ms(fn, items, 1)) for name, fn, items in stages},
                         repeats=reps)
    return [Row(SEC, "profile  " + name, ms[name], "ms/image", note="1 thread") for name, _fn, _items in stages]


def _one_core_paths(originals: list[Path], prepared, evalset) -> dict[str, tuple]:
    """name -> (dataset, post-batch step, note) for the one-process comparison; the naive path first."""
    from foodlib.data import loader as L

    evalu, trainu = _eval_pre().eval_uint8(), L.train_augment(SIZE)
    norm = L.Normalize(MEAN, STD)
    paths = {
        "naive: PIL + ViTImageProcessor per image (originals)": (NaiveImages(originals, SIZE), None, ""),
        "fast eval: eval cache -> uint8 batches (what 02-04 score from)": (
            evalset, None, "no decode: decoded and resized once; normalised on the device"),
        "eval: source -> eval transform (float, per image)": (
            L.SourceImages(prepared, SPLIT, _eval_pre().eval()), None, ""),
        "eval: source -> eval resize (uint8 batches)": (L.SourceImages(prepared, SPLIT, evalu), None,
                                                        "decoded every pass (eval_cache=False)"),
        "eval: source -> uint8 batches + batch normalise on CPU": (L.SourceImages(prepared, SPLIT, evalu),
                                                                   lambda x: norm(x), ""),
        "fast train: cache -> train_transform (float, per image)": (
            L.CachedImages(prepared, SPLIT, L.train_transform(SIZE, MEAN, STD)), None, "with TrivialAugmentWide"),
        "fast train: cache -> train_augment (uint8 batches)": (L.CachedImages(prepared, SPLIT, trainu), None,
                                                              "TrivialAugmentWide on PIL; normalised on the device"),
        "fast train: cache -> uint8, TrivialAugmentWide on tensors": (
            L.CachedImages(prepared, SPLIT, _tensor_augment()), None, "torchvision's tensor kernels, for comparison"),
    }
    if hf_processor_pil(SIZE) is not None:
        paths["naive (PIL backend): PIL + ViTImageProcessorPil per image"] = (
            NaiveImages(originals, SIZE, backend="pil"), None, "transformers 4.x's ViTImageProcessor; not the baseline")
    return paths


def _tensor_augment():
    """The train crop + TrivialAugmentWide on tensors (what train_augment did before it went through PIL)."""
    from torchvision.transforms import v2

    from foodlib.data import loader as L

    return L.Chain(L.RandomResizedCropFlip(SIZE), v2.TrivialAugmentWide())


def _one_core_rows(originals: list[Path], prepared, evalset, batch: int, reps: int) -> list[Row]:
    """Per core: one process, one thread, batches as training gets them."""
    from foodlib.data import loader as L

    paths = _one_core_paths(originals, prepared, evalset)
    rows, naive_rate = [], None
    with limit_threads(1):
        loaders0 = {name: (L.make_loader(ds, batch_size=batch, shuffle=False, num_workers=0, device="cpu"), post)
                    for name, (ds, post, _note) in paths.items()}
        rates = interleaved({name: (lambda dl=dl, post=post: time_loader(dl, epochs=1, warmup_epochs=0, post=post))
                             for name, (dl, post) in loaders0.items()},
                            warm={name: (lambda dl=dl: next(iter(dl))) for name, (dl, _) in loaders0.items()},
                            repeats=reps)
    for name, (_ds, _post, note) in paths.items():
        rate = rates[name]
        naive_rate = naive_rate or rate
        rows.append(Row(SEC, "1 core   " + name, rate, "images/s", per_core=rate, ratio=rate / naive_rate,
                        note=note or "1 process, 1 thread"))
    return rows


def _worker_datasets(originals: list[Path], prepared, evalset, device: str) -> dict[str, tuple]:
    """name -> (dataset, post-batch step) through DataLoader workers; the naive path first."""
    from foodlib.data import loader as L

    evalu, trainu = _eval_pre().eval_uint8(), L.train_augment(SIZE)
    loaders = {
        "naive: PIL + ViTImageProcessor per image (originals)": (NaiveImages(originals, SIZE), None),
        "eval: source -> eval transform (float, per image)": (L.SourceImages(prepared, SPLIT, _eval_pre().eval()),
                                                               None),
        "eval: source -> eval resize (uint8 batches)": (L.SourceImages(prepared, SPLIT, evalu), None),
        "fast eval: eval cache (uint8 batches)": (evalset, None),
        "fast train: train_augment (uint8 batches)": (L.CachedImages(prepared, SPLIT, trainu), None),
    }
    if device == "cuda":
        to_gpu = lambda x: L.to_device(x, "cuda", L.Normalize(MEAN, STD))  # noqa: E731 - pinned, non-blocking, normalised
        loaders["eval: source uint8 batches -> GPU (pinned, non_blocking, normalised there)"] = (
            L.SourceImages(prepared, SPLIT, evalu), to_gpu)
        loaders["fast eval: eval cache -> GPU (pinned, non_blocking, normalised there)"] = (evalset, to_gpu)
        loaders["fast train: uint8 batches -> GPU (pinned, non_blocking, normalised there)"] = (
            L.CachedImages(prepared, SPLIT, trainu), to_gpu)
    return loaders


def _worker_rows(args, originals: list[Path], prepared, evalset, workers: int) -> list[Row]:
    """Through DataLoader workers, as training runs it."""
    from foodlib.data import loader as L

    reps, b, dev, cores = args.repeats, args.pipeline_batch, args.device, cpu_cores()
    epochs = max(1, math.ceil(args.loader_images / (max(1, reps) * len(originals))))  # passes per timed repeat
    used = max(1, min(workers, cores))
    loaders = _worker_datasets(originals, prepared, evalset, dev)
    dls = {name: (L.make_loader(ds, batch_size=b, shuffle=True, num_workers=workers, device=dev,
                                seed=args.seed), post) for name, (ds, post) in loaders.items()}
    rates = interleaved(
        {name: (lambda dl=dl, post=post: time_loader(dl, epochs=epochs, warmup_epochs=0, post=post, device=dev))
         for name, (dl, post) in dls.items()},
        warm={name: (lambda dl=dl, post=post: time_loader(dl, epochs=1, warmup_epochs=0, post=post, device=dev))
              for name, (dl, post) in dls.items()},  # starts the (persistent) workers
        repeats=reps)
    del dls
    rows, naive_w = [], None
    for name in loaders:
        naive_w = naive_w or rates[name]
        rows.append(Row(SEC, f"{workers} workers {name}", rates[name], "images/s", per_core=rates[name] / used,
                        ratio=rates[name] / naive_w, note=f"DataLoader, {workers} workers on {cores} cores"))
    if dev == "cuda":
        rows += gpu_decode_rows(prepared, SIZE, b, workers, epochs, reps)
    return rows


def gpu_decode_rows(prepared, size: int, batch: int, workers: int, epochs: int, repeats: int) -> list[Row]:
    """Optional training path: workers only read the training copies; the batch is decoded with nvJPEG on the
    GPU, cropped, resized and augmented there, and normalised there."""
    import torch
    from torch.utils.data import DataLoader

    from foodlib.data import loader as L

    norm = L.Normalize(MEAN, STD)
    ds = L.CachedBytes(prepared, SPLIT)
    dl = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, collate_fn=L.collate_bytes,
                    persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
                    generator=torch.Generator().manual_seed(0))
    transforms = {"train": L.train_augment(size)}

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
