import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from foodlib import artifacts
from foodlib.data import prepare, sources, summary, synthetic
from foodlib.data.loader import CachedImages, SourceImages, decode_rgb, train_transform
from foodlib.data.preprocess import Preprocess


def _with_status(prepared, status: str) -> set[str]:
    """The ids notebook 01's problem-file table lists with `status`."""
    problems = summary.problem_files(prepared)
    return set(problems.loc[problems["status"] == status, "image_id"])


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(folder)).encode() + f.read_bytes())
    return h.hexdigest()


def test_generator_is_deterministic(tmp_path):
    kw = dict(num_classes=3, train_per_class=2, test_per_class=1, image_size=64, seed=7)
    a = synthetic.generate(tmp_path / "a", **kw)
    b = synthetic.generate(tmp_path / "b", **kw)
    c = synthetic.generate(tmp_path / "c", **{**kw, "seed": 8})
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_generator_layout_reads_with_torchvision_food101(tmp_path):
    from torchvision.datasets import Food101

    synthetic.generate(tmp_path, num_classes=4, train_per_class=3, test_per_class=2, image_size=64, seed=0)
    n_faults = len(synthetic.FAULTS)
    train = Food101(str(tmp_path), split="train", download=False)
    test = Food101(str(tmp_path), split="test", download=False)
    assert len(train) == 4 * 3 + n_faults and len(test) == 4 * 2
    ours = sources.load_archive(tmp_path)
    assert train.classes == ours.classes == synthetic.class_names(4)
    # Same label for the same file in both readers.
    tv = {Path(f).relative_to(tmp_path / "food-101" / "images").with_suffix("").as_posix(): y
          for f, y in zip(test._image_files, test._labels)}
    mine = ours.records[ours.records.split == "test"].set_index("image_id")["label"].to_dict()
    assert tv == mine


def test_objects_are_recorded_inside_the_image(tmp_path):
    base = synthetic.generate(tmp_path, num_classes=3, train_per_class=4, test_per_class=2, image_size=80, seed=1)
    objects = synthetic.load_objects(tmp_path)
    assert len(objects) == 3 * 6
    for image_id, obj in objects.items():
        img = Image.open(base / "images" / f"{image_id}.jpg")
        x0, y0, x1, y1 = obj["box"]
        assert (img.width, img.height) == (obj["width"], obj["height"])
        assert 0 <= x0 < x1 <= img.width and 0 <= y0 < y1 <= img.height


def test_fault_corpus_is_handled_exactly(smoke_params):
    prepared = prepare.prepare_dataset(smoke_params, progress=False)
    faults = json.loads((smoke_params.data_root / "food-101" / "meta" / "faults.json").read_text())
    expected_excluded = {i for i, f in faults.items() if f["expected"] == "excluded"}
    expected_converted = {i for i, f in faults.items() if f["expected"] == "converted"}
    assert _with_status(prepared, "excluded") == expected_excluded
    assert _with_status(prepared, "converted") == expected_converted
    by_id = prepared.index.set_index("image_id")
    kinds = {f["kind"]: i for i, f in faults.items()}
    assert by_id.loc[kinds["greyscale_jpeg"], "orig_mode"] == "L"
    assert by_id.loc[kinds["cmyk_jpeg"], "orig_mode"] == "CMYK"
    assert by_id.loc[kinds["rgba_png_named_jpg"], "orig_format"] == "PNG"
    assert "too small" in by_id.loc[kinds["one_pixel"], "reason"]
    assert "0 bytes" in by_id.loc[kinds["zero_bytes"], "reason"]
    assert "truncated" in by_id.loc[kinds["truncated_jpeg"], "reason"]
    # Converted files reach the cache as 3-channel RGB; excluded ones are in no usable split.
    for image_id in expected_converted:
        row = by_id.loc[image_id]
        assert decode_rgb(prepared.path(row["path"])).shape[0] == 3
        assert Image.open(prepared.path(row["path"])).mode == "RGB"
    usable = set().union(*(set(prepared.split(s)["image_id"]) for s in ("train", "val", "test")))
    assert not usable & expected_excluded


def test_splits_are_stratified_and_test_is_untouched(smoke_params):
    prepared = prepare.prepare_dataset(smoke_params, progress=False)
    raw = sources.load_source(smoke_params).records
    test_ids = set(raw[raw.split == "test"].image_id)
    assert set(prepared.split("test")["image_id"]) == test_ids
    val, train = prepared.split("val"), prepared.split("train")
    assert not set(val.image_id) & set(train.image_id)
    assert not set(val.image_id) & test_ids
    per_class = val.groupby("label").size()
    assert len(per_class) == smoke_params.synthetic_classes
    expected = round(smoke_params.val_fraction * smoke_params.synthetic_train_per_class)
    assert per_class.between(expected - 1, expected + 1).all()


def test_label_follows_the_class_folder(smoke_params):
    """A swapped class order would put images under the wrong label."""
    prepared = prepare.prepare_dataset(smoke_params, progress=False)
    for _, row in prepared.split("train").iterrows():
        assert row["image_id"].split("/")[0] == prepared.classes[row["label"]]


def test_interrupted_preparation_resumes(smoke_params, monkeypatch):
    monkeypatch.setattr(prepare, "CHUNK", 100)
    full = prepare.prepare_dataset(smoke_params, progress=False)
    root = prepare.prepared_dir(smoke_params)
    # Simulate a crash after three chunks: the index and the later parts are missing.
    (root / "index.parquet").unlink()
    parts = sorted((root / "parts").glob("part-*.parquet"))
    assert len(parts) > 4
    for part in parts[3:]:
        part.unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in (root / "parts").glob("*.parquet")}
    calls = []
    original = prepare._prepare_chunk
    monkeypatch.setattr(prepare, "_prepare_chunk", lambda *a: calls.append(1) or original(*a))
    resumed = prepare.prepare_dataset(smoke_params, progress=False)
    assert len(calls) == len(parts) - 3  # only the missing chunks were redone
    assert all((root / "parts" / n).stat().st_mtime_ns == t for n, t in kept.items())
    assert resumed.index.equals(full.index)


def test_stale_or_missing_cache_names_notebook_01(smoke_params):
    with pytest.raises(artifacts.MissingArtifactError, match="01_data_prep"):
        prepare.load_prepared(smoke_params)
    prepare.prepare_dataset(smoke_params, progress=False)
    from dataclasses import replace

    with pytest.raises(artifacts.MissingArtifactError, match="cache_short_side.*01_data_prep"):
        prepare.load_prepared(replace(smoke_params, cache_short_side=64))


def test_loader_yields_normalised_tensors_with_labels(smoke_params):
    prepared = prepare.prepare_dataset(smoke_params, progress=False)
    mean, std = [0.5] * 3, [0.5] * 3
    ds = SourceImages(prepared, "test", Preprocess(48, tuple(mean), tuple(std)).eval())
    x, y = ds[0]
    assert x.shape == (3, 48, 48) and x.dtype.is_floating_point
    assert -1.01 <= float(x.min()) and float(x.max()) <= 1.01
    assert y == prepared.split("test")["label"][0]
    xt, _ = CachedImages(prepared, "train", train_transform(48, mean, std))[0]
    assert xt.shape == (3, 48, 48)


def test_to_rgb_composites_alpha_on_white():
    import io

    img = Image.new("RGBA", (20, 20), (255, 0, 0, 0))  # fully transparent red
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    out, info = prepare.to_rgb(buf.getvalue())
    assert out.mode == "RGB" and info["status"] == "converted"
    assert np.asarray(out)[0, 0].tolist() == [255, 255, 255]
