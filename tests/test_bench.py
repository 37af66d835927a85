"""The benchmark's sections on a handful of images and small batches (not a timed test: the speed figures come
from `python -m foodlib.bench` on a quiet machine, not from here)."""
import json

import numpy as np
import torch
from PIL import Image

from foodlib.bench import cli, naive, photos
from foodlib.bench.common import MEAN, STD
from foodlib.data import loader as L


def test_pipeline_section_reports_the_naive_and_fast_paths_with_ratios(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rows = cli.run(["--sections", "pipeline", "--num-images", "8", "--workers", "1", "--repeats", "1",
                    "--pipeline-batch", "4", "--loader-images", "8", "--device", "cpu", "--out", str(out)])
    for label in ("1 core", "1 workers"):
        timed = [r for r in rows if r.name.startswith(label)]
        assert [r.name.split(None, 2)[-1].split(":")[0] for r in timed] == ["naive", "fast eval", "eval", "fast train"]
        assert timed[0].ratio == 1.0 and all(r.value > 0 and r.ratio == r.value / timed[0].value for r in timed)
    assert rows[0].name.startswith("test images: 8 photo-like JPEGs")  # 2 per class in 4 classes, no planted file
    assert [r.name.split(":")[0] for r in rows[1:3]] == ["one-off", "one-off"] and all(r.value > 0 for r in rows[1:3])
    table = capsys.readouterr().out
    assert "naive: PIL + ViTImageProcessor" in table and "vs naive" in table
    saved = json.loads(out.read_text())
    assert saved["machine"]["cores"] >= 1 and saved["machine"]["torch"] == torch.__version__
    assert [r["name"] for r in saved["rows"]] == [r.name for r in rows]
    assert saved["sections"]["pipeline"]["seconds"] > 0


def test_photo_archive_is_the_synthetic_photo_set_without_its_planted_files(tmp_path):
    paths = photos.make_photo_archive(tmp_path, 4, seed=1)
    faults = json.loads((tmp_path / "food-101" / "meta" / "faults.json").read_text())
    assert len(paths) == 4 and len(faults) == 6 and not {f"{p.parent.name}/{p.stem}" for p in paths} & set(faults)
    for p in paths:
        img = Image.open(p)
        assert img.mode == "RGB" and max(img.size) <= 512 and min(img.size) >= 256
        assert 15_000 < p.stat().st_size < 150_000
    again = photos.make_photo_archive(tmp_path / "b", 4, seed=1)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]


def test_fast_paths_match_the_naive_normalisation(tmp_path):
    """A flat colour comes out the same from the HF processor, the eval transform and the uint8 path
    normalised in batch (on the device in training), with the same shape and dtype."""
    from foodlib.data.preprocess import Preprocess

    colour = (200, 90, 30)
    path = tmp_path / "flat.jpg"
    Image.new("RGB", (400, 300), colour).save(path, quality=95)
    from_hf = naive.naive_load(path, naive.hf_processor(224))
    pre = Preprocess(224, MEAN, STD)
    per_image = pre.eval()(L.decode_source(path))
    batch = torch.stack([pre.eval_uint8()(L.decode_source(path))] * 2)
    assert batch.dtype == torch.uint8
    on_device = L.to_device(batch, "cpu", L.Normalize(MEAN, STD))
    expected = torch.tensor([c / 255 * 2 - 1 for c in colour]).view(3, 1, 1).expand(3, 224, 224)
    for x in (from_hf, per_image, on_device[0], on_device[1]):
        assert x.shape == (3, 224, 224) and x.dtype == torch.float32
        assert torch.allclose(x, expected, atol=0.03)


def test_train_transform_gives_normalised_images_of_the_size():
    g = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 16, generator=g), size=(288, 384),
                                            mode="bilinear", align_corners=False)
    img = (smooth[0] * 255).round().to(torch.uint8)
    x = L.train_transform(224, MEAN, STD)(img)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32 and -1.01 <= float(x.min()) <= float(x.max()) <= 1.01
    assert np.isfinite(x.numpy()).all()


def _square(side: int):
    """A deterministic uint8 transform: the whole image resized to side x side (antialiased bilinear)."""
    return lambda x: L.resize_crop_uint8(x, 0, 0, x.shape[-2], x.shape[-1], (side, side))


def test_bytes_path_decodes_like_cached_images(tmp_path):
    """The GPU-decode path (workers read bytes, decode_batch decodes the batch) gives the same uint8
    images as CachedImages + the same transform; checked here on the CPU decoder."""
    from torch.utils.data import DataLoader

    from foodlib import config
    from foodlib.data.prepare import prepare_dataset

    photos.make_photo_archive(tmp_path, 12, seed=2)  # 3 per class, + 3 usable planted files in classes 0-2
    params = config.resolve("full", data_source="archive", data_dir=str(tmp_path), device="cpu",
                            results_dir=str(tmp_path / "results"), cache_short_side=96, num_workers=0)
    prepared = prepare_dataset(params, progress=False)
    reference = L.CachedImages(prepared, "train", _square(64))
    loader = DataLoader(L.CachedBytes(prepared, "train"), batch_size=3, collate_fn=L.collate_bytes)
    seen = 0
    for datas, labels in loader:
        batch = L.decode_batch(datas, _square(64), "cpu")
        assert batch.shape == (len(labels), 3, 64, 64) and batch.dtype == torch.uint8
        for j in range(len(labels)):
            image, label = reference[seen + j]
            assert torch.equal(batch[j], image) and int(labels[j]) == label
        seen += len(labels)
    assert seen == len(reference) == 12 + 3 - 4  # 1 per class held out for validation


def test_make_loader_collates_channels_last_batches(smoke_params, smoke_data):
    prepared = smoke_data(smoke_params)
    ds = L.CachedImages(prepared, "train", _square(48))
    x, y = next(iter(L.make_loader(ds, batch_size=4, shuffle=False, num_workers=0, device="cpu")))
    assert x.shape == (4, 3, 48, 48) and x.dtype == torch.uint8 and y.tolist() == ds.labels[:4]
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x[1], ds[1][0])


def test_models_section_times_train_and_eval_and_clips_image_tower():
    rows = cli.run(["--sections", "models", "--models", "vit,clip", "--device", "cpu", "--batch-size", "1",
                    "--eval-batch-size", "2", "--iters", "1", "--warmup", "0"])
    assert [r.name for r in rows] == ["ViT-B/16 224 train (cpu, batch 1)", "ViT-B/16 224 eval (cpu, batch 2)",
                                      "CLIP ViT-B/32 image tower 224 eval (cpu, batch 2)"]
    assert all(r.value > 0 for r in rows)
    assert "85.9M params" in rows[0].note and "87.8M params" in rows[2].note  # ViT-B/16 with 101 classes; B/32's tower
