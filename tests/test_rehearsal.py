"""The full-scale rehearsal, scaled down: profile `rehearsal` (Food-101's 101 classes, the real ViT-B/16,
Swin V2-T and CLIP ViT-B/32 with random weights) at tests/background.py's REHEARSAL settings (one image per
class for validation and test, two training steps of each model), on CPU.

One run of all seven notebooks through ./run_all.sh (the session fixture `rehearsal`, started in the
background at the first test), then checks that nothing assumed the smoke profile's tiny sizes.
"""
import json

import pandas as pd
import torch
from safetensors.torch import load_file

from foodlib import artifacts, attention, models, posembed, train
from foodlib.models import checkpoints
from foodlib.data import prepare, synthetic


def test_all_seven_notebooks_ran_and_were_timed(rehearsal):
    params, _ = rehearsal
    executed = sorted(p.name[:2] for p in (params.run_dir / "notebooks").glob("*.ipynb"))
    assert executed == ["01", "02", "03", "04", "05", "06", "07"]
    timings = json.loads((params.run_dir / "timings.json").read_text())
    assert len(timings["notebooks"]) == 7 and timings["total_s"] > 0


def test_predictions_have_food101s_classes_in_the_datasets_order(rehearsal):
    params, _ = rehearsal
    prepared = prepare.load_prepared(params)
    assert prepared.classes == synthetic.FOOD101_CLASSES and len(prepared.classes) == 101
    test_ids = set(prepared.split("test")["image_id"])
    for name in models.artifact_names():
        preds = artifacts.read_predictions(name, params)
        assert set(preds["image_id"]) == test_ids
        assert preds["probs"].map(len).eq(101).all(), name


def test_real_grids_and_stages(rehearsal):
    params, _ = rehearsal
    classes = prepare.load_prepared(params).classes
    vit, vit_pre = models.load_trained("vit", params, classes)
    assert vit_pre.image_size == 224 and posembed.vit_position_embeddings(vit)[1] == (14, 14)
    swin, swin_pre = models.load_trained("swin", params, classes)
    stages = sorted({(g.stage, g.height, g.width) for g in attention.swin.block_geometry(swin.config)})
    assert swin_pre.image_size == 256 and stages == [(0, 64, 64), (1, 32, 32), (2, 16, 16), (3, 8, 8)]
    assert swin.config.window_size == 8
    clip_model, clip_pre = models.load("clip", params, classes)
    assert clip_pre.image_size == 224 and posembed.clip_position_embeddings(clip_model)[1] == (7, 7)
    # the attention maps notebook 06 drew are on those grids
    faithfulness = pd.read_csv(params.subdir("tables") / "attention_faithfulness.csv")
    assert set(faithfulness["model"]) >= {"vit", "swin", "clip"}
    with torch.no_grad():
        x = torch.zeros(1, 3, 224, 224)
        tokens = vit(pixel_values=x, output_hidden_states=True).hidden_states[-1].shape[1]
    assert tokens == 14 * 14 + 1


def test_the_stopped_trainings_resume_at_real_size(rehearsal):
    """max_steps stopped each fine-tune after two steps: the state it saved (weights and AdamW moments of the
    real-size model) matches these settings and loads back into a new session, which is what a resumed run
    starts from."""
    params, _ = rehearsal
    prepared = prepare.load_prepared(params)
    for name in ("vit", "swin"):
        s = train.session.open_session(name, params, prepared, "cpu")
        assert (s.state["global_step"], s.state["finished"], s.state["stop_reason"]) == (2, False, "max_steps"), s.name
        checkpoints.load_last(s.last, s.model, s.optimizer, "cpu")
        saved = load_file(str(s.last / "model.safetensors"))
        weights = s.model.state_dict()
        assert all(torch.equal(weights[k], v) for k, v in saved.items()), s.name
        trainable = {k: p for k, p in s.model.named_parameters() if p.requires_grad}
        assert all(s.optimizer.state[p]["exp_avg"].shape == p.shape for p in trainable.values()), s.name
        head = trainable[models.spec(name).family.head + ".weight"]  # 101 rows; it learnt
        assert head.shape[0] == 101 and s.optimizer.state[head]["exp_avg"].abs().sum() > 0, s.name


def test_max_steps_inside_the_first_epoch_gives_valid_notebooks(rehearsal):
    """02 and 03 stopped after two steps, before any epoch ended (so no best epoch): each still draws its curves
    and scores the model as trained. (Was tests/test_documents.py's smoke run of 02 with max_steps 3.)"""
    params, _ = rehearsal
    for name in ("vit", "swin"):
        assert (params.subdir("figures") / f"{name}_curves.png").stat().st_size > 5_000
        metrics = json.loads((params.subdir("metrics") / f"{name}.json").read_text())
        assert metrics["epochs_run"] == 0 and metrics["best_epoch"] is None and metrics["stop_reason"] == "max_steps"
