"""The eval cache: the same uint8 images as decoding the source files each time, in the same order, rebuilt
when stale."""
import os
import pickle

import numpy as np
import pytest
import torch

from foodlib.train import scoring
from foodlib.data import evalcache, loader
from foodlib.data.preprocess import Preprocess

VIT_LIKE = Preprocess(48, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # a ViT processor: bilinear, straight to 48x48
CLIP_LIKE = Preprocess(40, (0.48, 0.46, 0.41), (0.27, 0.26, 0.28), "bicubic", "short_side", 1.0, "pil")  # clip.load's


@pytest.fixture
def prepared(smoke_params, smoke_data):
    return smoke_data(smoke_params)


def _direct(prepared, split, pre):
    """What the eval cache stands in for: decode each source file and resize and crop it, every pass."""
    images = loader.SourceImages(prepared, split, pre.eval_uint8())
    return torch.stack([images[i][0] for i in range(len(images))]), images.labels, images.image_ids


@pytest.mark.parametrize("pre", [VIT_LIKE, CLIP_LIKE], ids=["square-bilinear", "short-side-bicubic-pil"])
def test_cached_images_are_bit_identical_to_decoding_in_order(prepared, pre):
    for split in ("val", "test"):
        cached = evalcache.eval_images(prepared, split, pre, num_workers=0, progress=False)
        assert isinstance(cached, evalcache.EvalArrays)
        expected, labels, ids = _direct(prepared, split, pre)
        got = torch.stack([cached[i][0] for i in range(len(cached))])
        assert got.shape == expected.shape == (len(labels), 3, pre.image_size, pre.image_size)
        assert torch.equal(got, expected)  # image i is image i, pixel for pixel
        assert cached.labels == labels and cached.image_ids == ids
        assert len(set(ids)) == len(ids) and len(set(labels)) > 1


def test_reused_then_rebuilt_when_a_file_or_the_preprocessing_changes(prepared):
    first = evalcache.eval_images(prepared, "test", VIT_LIKE, num_workers=0, progress=False)
    built = first.path.stat().st_mtime_ns
    again = evalcache.eval_images(prepared, "test", VIT_LIKE, num_workers=0, progress=False)
    assert again.path == first.path and again.path.stat().st_mtime_ns == built  # read, not rebuilt
    other = evalcache.eval_images(prepared, "test", Preprocess(32, VIT_LIKE.mean, VIT_LIKE.std), num_workers=0,
                                  progress=False)
    assert other.path != first.path and other[0][0].shape == (3, 32, 32)
    # A source image replaced (a new copy of the data, say): the stale array is rebuilt with the new pixels.
    victim = prepared.eval_paths("test")[5]
    from PIL import Image

    Image.new("RGB", (60, 50), (255, 0, 0)).save(victim, quality=95)
    rebuilt = evalcache.eval_images(prepared, "test", VIT_LIKE, num_workers=0, progress=False)
    red = rebuilt[5][0].float().mean(dim=(1, 2))
    assert red[0] > 240 and red[1] < 20 and red[2] < 20
    assert torch.equal(rebuilt[4][0], first[4][0])


def test_off_decodes_each_time_and_workers_read_the_same(prepared):
    off = evalcache.eval_images(prepared, "val", VIT_LIKE, use_cache=False)
    assert isinstance(off, loader.SourceImages)
    cached = evalcache.eval_images(prepared, "val", VIT_LIKE, num_workers=0, progress=False)
    cached.array()  # opened in this process: a pickled copy (what a worker gets) must not carry the data
    assert len(pickle.dumps(cached)) < 100_000 < cached.path.stat().st_size
    batches = [x for x, _ in loader.make_loader(cached, batch_size=7, shuffle=False, num_workers=2, device="cpu")]
    direct = [x for x, _ in loader.make_loader(off, batch_size=7, shuffle=False, num_workers=0, device="cpu")]
    assert all(torch.equal(a, b) for a, b in zip(batches, direct)) and len(batches) == len(direct)


def test_an_interrupted_build_leaves_nothing_and_the_next_call_builds(prepared, monkeypatch):
    real = loader.make_loader

    def failing(*args, **kwargs):
        for i, batch in enumerate(real(*args, **kwargs)):
            if i == 1:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(evalcache.loader, "make_loader", lambda *a, **k: _Sized(failing(*a, **k)))
    with pytest.raises(KeyboardInterrupt):
        evalcache.eval_images(prepared, "test", VIT_LIKE, num_workers=0, progress=False)
    folder = prepared.root / "eval"
    assert not [p for p in os.listdir(folder) if p.endswith((".npy", ".json"))]
    monkeypatch.setattr(evalcache.loader, "make_loader", real)
    cached = evalcache.eval_images(prepared, "test", VIT_LIKE, num_workers=0, progress=False)
    assert torch.equal(cached[len(cached) - 1][0], _direct(prepared, "test", VIT_LIKE)[0][-1])


class _Sized:
    def __init__(self, it):
        self.it = it

    def __iter__(self):
        return self.it

    def __len__(self):
        return 1


class _Logits(torch.nn.Module):
    """Stands in for an HF classifier: pixel_values -> .logits, sensitive to every pixel and channel."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3 * 48 * 48, 5)
        torch.nn.init.normal_(self.proj.weight, generator=torch.Generator().manual_seed(0))

    def forward(self, pixel_values):
        return type("Out", (), {"logits": self.proj(pixel_values.contiguous().flatten(1))})()


def test_scoring_uint8_batches_normalised_on_the_device_equals_the_float_path(prepared):
    model = _Logits()
    per_image = loader.SourceImages(prepared, "test", VIT_LIKE.eval())  # normalised float per image
    cached = evalcache.eval_images(prepared, "test", VIT_LIKE, num_workers=0, progress=False)
    kw = dict(batch_size=16, num_workers=0, device="cpu")
    a = scoring.predict(model, per_image, **kw)
    b = scoring.predict(model, cached, normalize=VIT_LIKE.normalize(), **kw)
    assert a.shape == (len(per_image), 5) and np.array_equal(a, b)
    with pytest.raises(ValueError, match="Normalize"):
        scoring.predict(model, cached, **kw)
