"""Maps of the smoke-trained models: on the object, and notebook 06's artifacts.

Uses the series run once per session (`smoke_ok`): the checkpoints of 02/03
and the CLIP of 04 under its run_dir. Synthetic images record their object
box; images are resized straight to each model's input (no crop), so the box
maps by one scale per axis (`attention.load_resized`).
"""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from foodlib import attention
from foodlib.data import synthetic
from foodlib.data.prepare import load_prepared


# (model, method) pairs whose maps we claim find the object on smoke. Measured on the smoke-trained
# checkpoints (./run_all.sh --profile smoke, then these 24 off-diagonal test images, box area 0.13):
# mass in box ViT cls 0.43 / rollout 0.33 / relevancy 0.68; Swin rollout 0.25 / last_stage 0.24 /
# relevancy 0.41 (above the box area on 22 of 24 images; 0.08 with the map transposed);
# CLIP cls 0.36 / rollout 0.42 / relevancy 0.43. Not claimed: Swin Grad-CAM (0.131, no more than the box
# area, above it on 7 of 24 images, and worse than a random order in notebook 06's deletion test): its
# last stage is a 5x5 grid on the tiny model, too coarse to localise a box about a third of the image side.
CLAIMED = [("vit", "cls"), ("vit", "rollout"), ("vit", "relevancy"), ("swin", "rollout"), ("swin", "last_stage"),
           ("swin", "relevancy"), ("clip", "cls"), ("clip", "rollout"), ("clip", "relevancy")]
NUM_IMAGES = 24


@pytest.fixture(scope="module")
def smoke_maps(smoke_ok):
    prepared = load_prepared(smoke_ok)
    exs = attention.load_explainers(smoke_ok, prepared.classes)
    objects = synthetic.load_objects(smoke_ok.data_root)
    test_ids = [i for i in prepared.split("test")["image_id"] if i in objects]
    ids = attention.spread(attention.off_diagonal(objects, test_ids, min_offset=0.3), NUM_IMAGES)
    originals = [smoke_ok.data_root / "food-101" / "images" / f"{i}.jpg" for i in ids]
    return exs, objects, ids, originals


def test_boxes_are_off_the_diagonal(smoke_maps):
    _, objects, ids, _ = smoke_maps
    assert len(ids) >= 12
    for i in ids:
        (x0, y0, x1, y1), w, h = objects[i]["box"], objects[i]["width"], objects[i]["height"]
        assert abs((x0 + x1) / 2 / w - (y0 + y1) / 2 / h) >= 0.3


def test_map_mass_inside_the_box_exceeds_its_area(smoke_maps):
    exs, objects, ids, originals = smoke_maps
    table = attention.in_box_table(exs, objects, ids, originals)
    print("\n" + table.to_string())
    rows = table.set_index(["model", "method"])
    for key in CLAIMED:
        assert rows.loc[key, "mass_in_box"] > rows.loc[key, "box_area"], f"{key}: {rows.loc[key].to_dict()}"


@pytest.mark.parametrize("model_name", ["vit", "swin"])
def test_a_transposed_map_would_be_caught(smoke_maps, model_name):
    # The same maps with rows and columns swapped put less mass in the (off-diagonal) boxes.
    exs, objects, ids, originals = smoke_maps
    ex = exs[model_name]
    x, boxes = attention.load_resized(originals, [objects[i]["box"] for i in ids], ex.image_size, ex.mean, ex.std)
    sal = ex.map(x, "relevancy")
    size = (ex.image_size, ex.image_size)
    right, area = attention.faithfulness.box_mass(sal, boxes, size)
    wrong, _ = attention.faithfulness.box_mass(sal.transpose(1, 2), boxes, size)
    assert right.mean() > area.mean() and wrong.mean() < right.mean()


def test_swin_relevancy_depends_on_the_target_class_on_the_trained_model(smoke_maps):
    exs, objects, ids, originals = smoke_maps
    ex = exs["swin"]
    x, _ = attention.load_resized(originals[:2], [objects[i]["box"] for i in ids[:2]], ex.image_size, ex.mean,
                                  ex.std)
    with torch.no_grad():
        top2 = ex.predict(x).topk(2, dim=-1).indices  # (2, 2): predicted and runner-up class
    first, second = ex.map(x, "relevancy", top2[:, 0]), ex.map(x, "relevancy", top2[:, 1])
    torch.testing.assert_close(first, ex.map(x, "relevancy"))  # default: the predicted class
    assert not torch.allclose(first, second, atol=1e-5)


def test_batch_of_two_equals_two_batches_of_one_on_trained_models(smoke_maps):
    exs, objects, ids, originals = smoke_maps
    for name, ex in exs.items():
        x, _ = attention.load_resized(originals[:2], [objects[i]["box"] for i in ids[:2]], ex.image_size, ex.mean,
                                    ex.std)
        for method in ex.methods:
            both = ex.map(x, method)
            one = torch.cat([ex.map(x[i:i + 1], method) for i in range(2)])
            torch.testing.assert_close(both, one, atol=1e-5, rtol=1e-4, msg=f"{name} {method}")


def test_notebook_06_artifacts(smoke_ok):
    tables, figures = smoke_ok.subdir("tables"), smoke_ok.subdir("figures")
    faithful = pd.read_csv(tables / "attention_faithfulness.csv")
    assert (tables / "attention_faithfulness.md").exists()
    assert len(faithful) == 3 + 4 + 3 and set(faithful["model"]) == {"vit", "swin", "clip"}
    assert "relevancy" in set(faithful.loc[faithful["model"] == "swin", "method"])
    assert (faithful["n"] == smoke_ok.attention_images).all()
    assert faithful[["deletion_auc", "random_auc"]].apply(lambda c: c.between(0, 1)).all().all()
    for name in ("clip_right_vit_wrong", "vit_right_clip_wrong", "swin_only"):
        assert (figures / f"attention_{name}.png").stat().st_size > 5_000
    for name in ("attention_heads.png", "attention_deletion.png"):
        assert (figures / name).stat().st_size > 5_000
    in_box = pd.read_csv(tables / "attention_in_box.csv")
    assert len(in_box) == 3 + 4 + 3 and (in_box["box_area"].between(0, 1)).all()


def test_rollout_rows_sum_to_one_on_trained_vit(smoke_maps):
    exs, objects, ids, originals = smoke_maps
    ex = exs["vit"]
    x, _ = attention.load_resized(originals[:2], [objects[i]["box"] for i in ids[:2]], ex.image_size, ex.mean, ex.std)
    with torch.no_grad():
        atts, _ = attention.vit.hf_attentions(ex.model, x)
    r = attention.vit.rollout_matrix(atts)
    torch.testing.assert_close(r.sum(-1), torch.ones(r.shape[:2]), atol=1e-5, rtol=0)
