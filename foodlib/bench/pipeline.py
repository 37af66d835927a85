"""Section `pipeline`: the naive per-image path against the prepared caches that training and scoring read.

Photo-like Food-101-sized JPEGs are generated in the official archive layout; notebook 01's prepared cache and
the eval cache are built from them (one-off costs, a row each); then each path is timed through a DataLoader in
one process with one thread (per-core figures) and with worker processes, as training runs it.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from foodlib import config, runtime
from foodlib.bench.common import MEAN, STD, LiveRows, Row, interleaved, time_loader
from foodlib.bench.naive import NaiveImages
from foodlib.bench.photos import make_photo_archive
from foodlib.data import synthetic

SEC = "pipeline"
SIZE = 224
SPLIT = "train"  # the photo archive's images: a training copy each, and the source files evaluation reads
FOOD101_FILES = len(synthetic.FOOD101_CLASSES) * (synthetic.FOOD101_TRAIN_PER_CLASS + synthetic.FOOD101_TEST_PER_CLASS)


def pipeline_section(args, workdir: Path) -> list[Row]:
    rows: list[Row] = LiveRows()
    workers, cores = runtime.num_workers(args.workers), runtime.cpu_cores()
    used = max(1, min(workers, cores))  # the cores the worker processes share (rows per core)
    t0 = time.perf_counter()
    originals = make_photo_archive(workdir, args.num_images, seed=args.seed, workers=min(cores, 8))
    kb = [p.stat().st_size / 1e3 for p in originals]
    rows.append(Row(SEC, f"test images: {len(originals)} photo-like JPEGs up to 512 px, made in "
                         f"{time.perf_counter() - t0:.1f} s", float(np.mean(kb)), "KB mean",
                    note=f"{np.percentile(kb, 10):.0f}-{np.percentile(kb, 90):.0f} KB (p10-p90)"))
    prepared, evalset = _caches(workdir, workers, used, rows)
    paths = _paths(originals, prepared, evalset)
    with runtime.limit_threads(1):
        rows += _rows(paths, args, workers=0, label="1 core  ", used=1)
    if workers > 0:
        rows += _rows(paths, args, workers=workers, label=f"{workers} workers", used=used)
    return rows


def _eval_pre():
    """google/vit-base-patch16-224-in21k's eval protocol (its processor: straight to 224 x 224, bilinear)."""
    from foodlib.data.preprocess import Preprocess

    return Preprocess(SIZE, MEAN, STD)


def _caches(workdir: Path, workers: int, used: int, rows: list[Row]):
    """Notebook 01's prepared cache and the eval cache 02-04 build at their first pass: each timed, one row each."""
    from foodlib.data import evalcache, prepare

    params = config.resolve("full", data_source="archive", data_dir=str(workdir), cache_short_side=288,
                            results_dir=str(workdir / "results"), num_workers=workers, device="cpu")
    t0 = time.perf_counter()
    prepared = prepare.prepare_dataset(params, progress=False)
    seconds, n = time.perf_counter() - t0, len(prepared.index)
    rows.append(Row(SEC, "one-off: prepare the cache (RGB, short side 288, JPEG q90)", n / seconds, "images/s",
                    per_core=n / seconds / used, note=f"{seconds:.1f} s; Food-101 ({FOOD101_FILES:,} files) "
                    f"~{FOOD101_FILES / (n / seconds) / 60:.0f} min with {workers} workers here"))
    t0 = time.perf_counter()
    evalset = evalcache.eval_images(prepared, SPLIT, _eval_pre(), num_workers=workers, progress=False)
    seconds, n = time.perf_counter() - t0, len(evalset)
    rows.append(Row(SEC, "one-off: build the eval cache (decode + eval resize once, uint8 224 px)", n / seconds,
                    "images/s", per_core=n / seconds / used, note=f"{seconds:.1f} s, {workers} workers"))
    return prepared, evalset


def _paths(originals: list[Path], prepared, evalset) -> dict[str, tuple[object, str]]:
    """name -> (dataset, note), the naive path first (the ratios' baseline)."""
    from foodlib.data import loader, transforms

    return {
        "naive: PIL + ViTImageProcessor per image (originals)": (NaiveImages(originals, SIZE), "the HF tutorial's"),
        "fast eval: eval cache -> uint8 batches": (evalset, "what 02-04 score from; normalised on the device"),
        "eval: source -> eval resize, uint8 batches": (loader.SourceImages(prepared, SPLIT, _eval_pre().eval_uint8()),
                                                       "eval_cache=False: decoded at every pass"),
        "fast train: cache -> train_augment, uint8 batches": (
            loader.CachedImages(prepared, SPLIT, transforms.train_augment(SIZE)),
            "crop, flip, TrivialAugmentWide; normalised on the device"),
    }


def _rows(paths: dict[str, tuple[object, str]], args, *, workers: int, label: str, used: int) -> list[Row]:
    """Each path's images per second through a DataLoader with `workers` workers, measured in turns."""
    from foodlib.data import loader

    n = len(next(iter(paths.values()))[0])
    # passes per timed repeat: at least --loader-images images through the worker loaders
    epochs = 1 if workers == 0 else max(1, math.ceil(args.loader_images / (max(1, args.repeats) * n)))
    dls = {name: loader.make_loader(ds, batch_size=args.pipeline_batch, shuffle=workers > 0, num_workers=workers,
                                    device=args.device, seed=args.seed) for name, (ds, _note) in paths.items()}
    rates = interleaved({name: (lambda dl=dl: time_loader(dl, epochs=epochs)) for name, dl in dls.items()},
                        repeats=args.repeats,
                        warm={name: (lambda dl=dl: time_loader(dl, epochs=1) if workers else next(iter(dl)))
                              for name, dl in dls.items()})  # a pass starts the (persistent) workers
    naive = rates[next(iter(rates))]
    return [Row(SEC, f"{label} {name}", rate, "images/s", per_core=rate / used, ratio=rate / naive,
                note=f"{paths[name][1]}; " + ("1 process, 1 thread" if workers == 0 else
                                              f"{workers} workers on {runtime.cpu_cores()} cores"))
            for name, rate in rates.items()]
