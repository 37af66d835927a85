"""Each model scored by its own published protocol, checked against pipelines built from other projects' code.

References written here from torchvision's `datasets.Food101`, the transform `clip.load` returns, the textbook
zero-shot head, and transformers' `AutoModelForImageClassification` + `AutoImageProcessor`: the project's
predictions must equal theirs image by image.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import balanced_accuracy_score, top_k_accuracy_score

from foodlib import artifacts, metrics, models
from foodlib.data import evalcache, loader, prepare, synthetic
from foodlib.models import archs, common
from foodlib.data.preprocess import Preprocess

RNG = np.random.default_rng(0)


def _photos(n: int = 6) -> list[Image.Image]:
    """Photo-like images of several sizes and aspect ratios (up to 512 px, as Food-101's)."""
    from foodlib.data import photos

    return [photos.photo_like(np.random.default_rng([3, i]), 512 - 61 * i) for i in range(n)]


# -- the eval transforms ----------------------------------------------------------------------

def test_clip_eval_is_bit_identical_to_the_transform_clip_load_returns(smoke_ok):
    """Per image, and through the eval cache: the same tensors as transform(PIL.Image.open(f).convert('RGB'))."""
    prepared = prepare.load_prepared(smoke_ok)
    _, transform = common.import_clip().load(models.source("clip", smoke_ok), device="cpu", jit=False)
    _, pre = models.load("clip", smoke_ok, prepared.classes)
    files = prepared.eval_paths("test")
    reference = torch.stack([transform(Image.open(f).convert("RGB")) for f in files])
    ours = torch.stack([pre.eval()(loader.decode_source(f)) for f in files])
    assert torch.equal(ours, reference)
    cached = evalcache.eval_images(prepared, "test", pre, progress=False)
    batch = torch.stack([cached[i][0] for i in range(len(cached))])
    assert torch.equal(pre.normalize()(batch), reference)  # uint8 in the cache, normalised on the device


@pytest.mark.parametrize("name", ["vit", "swin"])
def test_hf_eval_equals_the_published_image_processor(name):
    """The published ViT-B/16 and Swin V2-T processor configurations (archs.PROCESSORS, as on the hub):
    our eval input equals processor(images=...)['pixel_values'] within 1e-5, on photos of every shape."""
    from transformers import ViTImageProcessor

    processor = ViTImageProcessor(**archs.PROCESSORS[name])
    pre = Preprocess.from_processor(processor)
    assert (pre.resize, pre.image_size) == ("square", archs.PROCESSORS[name]["size"]["height"])
    for img in _photos():
        expected = processor(images=img, return_tensors="pt")["pixel_values"][0]
        got = pre.eval()(img)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_a_shortest_edge_processor_with_a_centre_crop_is_followed_too():
    """Another published rule (resize the shortest edge, then centre-crop: DeiT/ConvNeXt style configs)."""
    from transformers import ViTImageProcessor

    processor = ViTImageProcessor(size={"shortest_edge": 73}, do_center_crop=True, crop_size={"height": 64,
                                  "width": 64}, resample=3, image_mean=[0.4, 0.5, 0.6], image_std=[0.2, 0.3, 0.25])
    pre = Preprocess.from_processor(processor)
    assert (pre.resize, pre.image_size) == ("short_side", 64)
    for img in _photos() + [Image.fromarray(RNG.integers(0, 255, (91, 130, 3), dtype=np.uint8))]:
        torch.testing.assert_close(pre.eval()(img), processor(images=img, return_tensors="pt")["pixel_values"][0],
                                   atol=1e-5, rtol=0)


def test_a_processor_that_cannot_be_followed_is_refused():
    from transformers import ViTImageProcessor

    with pytest.raises(ValueError, match="rescale by 1/255"):
        Preprocess.from_processor(ViTImageProcessor(rescale_factor=1 / 127.5))
    with pytest.raises(ValueError, match="does not resize"):
        Preprocess.from_processor(ViTImageProcessor(do_resize=False))


def test_evaluation_reads_the_source_files_and_training_the_prepared_copies(smoke_ok):
    """Val and test decode the archive's own JPEGs (never the re-encoded copies); train reads the copies."""
    prepared = prepare.load_prepared(smoke_ok)
    images = smoke_ok.data_root / "food-101" / "images"
    for split in ("val", "test"):
        rows = prepared.split(split)
        assert [str(p) for p in prepared.eval_paths(split)] == [str(images / f"{i}.jpg") for i in rows["image_id"]]
    assert (prepared.split("test")["path"] == "").all()  # no resized copy of a test image exists
    with pytest.raises(ValueError, match="no prepared copies"):
        loader.CachedImages(prepared, "test")
    train = loader.CachedImages(prepared, "train")
    assert all(str(p).startswith(str(prepared.root / "images")) for p in train.paths)


def test_hub_sources_are_kept_byte_for_byte(tmp_path, smoke_params):
    """A source without files (the hub's arrow bytes): val and test bytes are copied unchanged, train's are not."""
    from foodlib.data.sources import FoodImages, load_archive

    synthetic.ensure(tmp_path / "data", num_classes=3, train_per_class=6, test_per_class=2, image_size=48, seed=0)
    archive = load_archive(tmp_path / "data")

    class Bytes:  # like HubReader: bytes by key, no file path
        def __call__(self, key):
            return archive.reader(key)

        def path(self, key):
            return ""

    hub = FoodImages(archive.classes, archive.records, Bytes(), "hub")
    prepared = prepare.prepare_dataset(smoke_params, hub, progress=False)
    for split in ("val", "test"):
        for image_id, path in zip(prepared.split(split)["image_id"], prepared.eval_paths(split)):
            assert path.is_relative_to(prepared.root / "source")
            assert path.read_bytes() == (tmp_path / "data" / "food-101" / "images" / f"{image_id}.jpg").read_bytes()
    assert (prepared.split("train")["source"] == "").all()


# -- the reference pipelines --------------------------------------------------------------------

def _food101_test(params):
    """torchvision's Food101 over the smoke archive: (dataset, image ids in its order, its labels mapped to the
    project's class order by name; torchvision sorts the class names itself)."""
    from torchvision.datasets import Food101

    ds = Food101(str(params.data_root), split="test")
    classes = prepare.load_prepared(params).classes
    ids = ["/".join(p.with_suffix("").parts[-2:]) for p in ds._image_files]
    to_ours = np.array([classes.index(c) for c in ds.classes])
    return ds, ids, to_ours


def test_clip_predictions_equal_a_reference_zero_shot_pipeline(smoke_ok):
    """torchvision's Food101 + clip.load's transform + OpenAI's Food-101 prompt + normalised features."""
    clip = common.import_clip()
    model, transform = clip.load(models.source("clip", smoke_ok), device="cpu", jit=False)
    ds, ids, to_ours = _food101_test(smoke_ok)
    names = [c.replace("_", " ") for c in ds.classes]
    with torch.no_grad():
        text = F.normalize(model.encode_text(clip.tokenize([f"a photo of {n}, a type of food." for n in names],
                                                           context_length=model.context_length)).float(), dim=-1)
        images = torch.stack([transform(ds.loader(f)) for f in ds._image_files])
        image = F.normalize(model.encode_image(images).float(), dim=-1)
    scores = (100.0 * image @ text.T).numpy()[:, np.argsort(to_ours)]  # columns in the project's class order
    labels = to_ours[np.asarray(ds._labels)]
    ours = artifacts.read_predictions("clip", smoke_ok).set_index("image_id").loc[ids]
    assert ours["label"].tolist() == labels.tolist()
    assert ours["pred"].tolist() == scores.argmax(1).tolist()  # every image
    probs = np.stack(ours["probs"])
    assert metrics.top1(labels, probs.argmax(1)) == metrics.top1(labels, scores.argmax(1))
    assert top_k_accuracy_score(labels, probs, k=5, labels=range(len(names))) == \
        top_k_accuracy_score(labels, scores, k=5, labels=range(len(names)))
    assert balanced_accuracy_score(labels, probs.argmax(1)) == balanced_accuracy_score(labels, scores.argmax(1))
    m = artifacts.read_metrics("clip", smoke_ok)
    assert m["top1"] == pytest.approx(metrics.top1(labels, scores.argmax(1)))


@pytest.mark.parametrize("name", ["vit", "swin"])
def test_finetune_predictions_equal_the_checkpoint_loaded_the_standard_way(smoke_ok, name):
    """02/03's best checkpoint through AutoModelForImageClassification and its own saved AutoImageProcessor,
    on the original test files: the same prediction for every image as predictions/<name>.parquet."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    folder = models.best_dir(name, smoke_ok)
    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder)
    ds, ids, to_ours = _food101_test(smoke_ok)
    with torch.no_grad():
        inputs = processor(images=[ds.loader(f) for f in ds._image_files], return_tensors="pt")
        logits = model(**inputs).logits.numpy()  # the checkpoint's own head: the project's class order
    ours = artifacts.read_predictions(name, smoke_ok).set_index("image_id").loc[ids]
    assert ours["label"].tolist() == to_ours[np.asarray(ds._labels)].tolist()
    assert ours["pred"].tolist() == logits.argmax(1).tolist()
