"""The synthetic Food-101: the smoke archive pinned byte for byte, the 101 real class names,
and the photo style (rehearsal) made in parallel and resumed after an interruption."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from foodlib import config
from foodlib.data import photos, prepare, sources, summary, synthetic

# sha256 (see _digest) of the archive that the smoke profile's arguments make, computed with the
# code of branch `registry` (commit 4e0c772, before the photo style existed) on this project's
# pins (Pillow 13.0.0, libjpeg-turbo 3.2.0, numpy's PCG64). A change here means the smoke data
# changed: every smoke figure and the thresholds tuned on it would move.
SMOKE_ARCHIVE_SHA256 = "5e08809c38a36631d59fe3e10dffb5d61e10c268e6752a601328b23792f50ed9"


def _with_status(prepared, status: str) -> set[str]:
    """The ids notebook 01's problem-file table lists with `status`."""
    problems = summary.problem_files(prepared)
    return set(problems.loc[problems["status"] == status, "image_id"])


def _digest(base: Path) -> str:
    """sha256 over every file under `base`: relative path, then the sha256 of its bytes."""
    h = hashlib.sha256()
    for f in sorted(base.rglob("*")):
        if f.is_file():
            h.update(f.relative_to(base).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _generator_kwargs(params: config.Params) -> dict:
    return synthetic.generator_args(params.synthetic_classes, params.synthetic_train_per_class,
                                    params.synthetic_test_per_class, params.synthetic_image_size,
                                    params.seed, params.synthetic_style)


def test_smoke_archive_is_byte_identical_to_the_original_generator(tmp_path):
    base = synthetic.ensure(tmp_path, **_generator_kwargs(config.resolve("smoke")))
    assert len([f for f in base.rglob("*") if f.is_file()]) == 10 * (40 + 12) + len(synthetic.FAULTS) + 9
    assert _digest(base) == SMOKE_ARCHIVE_SHA256


def test_class_list_is_food101_in_classes_txt_order():
    names = synthetic.FOOD101_CLASSES
    assert len(names) == len(set(names)) == 101
    assert names[0] == "apple_pie" and names[-1] == "waffles"
    # classes.txt sorts ignoring "_": cheesecake before cheese_plate (Python's sorted() swaps them).
    assert names == sorted(names, key=lambda c: c.replace("_", "")) != sorted(names)
    assert names.index("cheesecake") == 16 and names.index("cheese_plate") == 17
    assert synthetic.class_names(101) == names and synthetic.class_names(3) == names[:3]
    with pytest.raises(ValueError, match="101"):
        synthetic.class_names(102)


def test_photo_style_images_are_food101_sized_with_the_object_boxed(tmp_path):
    base = synthetic.generate(tmp_path, num_classes=3, train_per_class=4, test_per_class=2, image_size=512,
                              seed=0, style="photo")
    objects = synthetic.load_objects(tmp_path)
    assert len(objects) == 3 * 6
    sizes = []
    for image_id, obj in objects.items():
        path = base / "images" / f"{image_id}.jpg"
        img = Image.open(path)
        assert img.format == "JPEG" and img.mode == "RGB" and max(img.size) <= 512
        assert (img.width, img.height) == (obj["width"], obj["height"])
        x0, y0, x1, y1 = obj["box"]
        assert 0 <= x0 < x1 <= img.width and 0 <= y0 < y1 <= img.height
        sizes.append(path.stat().st_size)
    assert 30_000 < np.mean(sizes) < 90_000  # Food-101 averages about 50 KB
    faults = json.loads((base / "meta" / "faults.json").read_text())
    assert sorted(f["kind"] for f in faults.values()) == sorted(k for k, _ in synthetic.FAULTS)
    assert json.loads((base / "meta" / "synthetic.json").read_text())["style"] == "photo"
    assert not (base / synthetic.PROGRESS).exists()


def test_photo_objects_differ_between_classes():
    objects = [photos.class_object(label) for label in range(101)]
    assert len(set(objects)) == 101


def test_photo_style_is_the_same_in_parallel_and_resumes_after_an_interruption(tmp_path, monkeypatch):
    monkeypatch.setattr(synthetic, "CHUNK", 4)
    kw = dict(num_classes=3, train_per_class=3, test_per_class=2, image_size=96, seed=5, style="photo")
    serial = synthetic.generate(tmp_path / "serial", **kw)  # 21 files: 6 chunks
    parallel = synthetic.generate(tmp_path / "parallel", num_workers=2, **kw)
    assert _digest(serial) == _digest(parallel)

    original, calls = synthetic._photo_chunk, []

    def crash_on_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(synthetic, "_photo_chunk", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        synthetic.ensure(tmp_path / "resumed", **kw)
    base = tmp_path / "resumed" / "food-101"
    assert not (base / "meta" / "synthetic.json").exists()  # not complete: not reused
    assert len(list((base / synthetic.PROGRESS).glob("part-*.json"))) == 2
    calls.clear()
    monkeypatch.setattr(synthetic, "_photo_chunk", lambda *a: calls.append(1) or original(*a))
    synthetic.ensure(tmp_path / "resumed", **kw)
    assert len(calls) == 6 - 2  # only the chunks not yet done
    assert _digest(base) == _digest(serial)
    calls.clear()
    synthetic.ensure(tmp_path / "resumed", **kw)
    assert not calls  # complete: reused as it is


def test_other_arguments_replace_a_synthetic_set(tmp_path):
    kw = dict(num_classes=3, train_per_class=3, test_per_class=1, image_size=64, seed=0)
    base = synthetic.ensure(tmp_path, **kw)
    synthetic.ensure(tmp_path, **{**kw, "train_per_class": 1})
    listed = set(sources.load_archive(tmp_path).records["image_id"])
    on_disk = {f.relative_to(base / "images").with_suffix("").as_posix() for f in (base / "images").rglob("*.jpg")}
    assert on_disk == listed  # the bigger set's files are gone


def test_photo_fault_corpus_is_handled_exactly(tmp_path):
    params = config.resolve("smoke", results_dir=str(tmp_path / "results"), synthetic_style="photo",
                            synthetic_classes=6, synthetic_train_per_class=2, synthetic_test_per_class=1,
                            synthetic_image_size=200)
    prepared = prepare.prepare_dataset(params, progress=False)
    faults = json.loads((params.data_root / "food-101" / "meta" / "faults.json").read_text())
    assert _with_status(prepared, "excluded") == {i for i, f in faults.items() if f["expected"] == "excluded"}
    assert _with_status(prepared, "converted") == {i for i, f in faults.items() if f["expected"] == "converted"}
    assert len(prepared.split("test")) == 6
