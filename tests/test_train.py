"""The training loop: schedule, reproducible data order and augmentation, exact resume."""
import json

import numpy as np
import pytest
import torch

from foodlib import config, models, train
from foodlib.data import loader
from foodlib.train import scoring


def test_lr_warms_up_then_decays_linearly_to_zero():
    plan = train.Plan(epochs=5, lr=1e-3, weight_decay=0.0, augment=False, steps_per_epoch=20)
    lrs = [plan.lr_at(s, warmup_ratio=0.1) for s in range(plan.total_steps)]
    assert lrs[9] == pytest.approx(1e-3) and lrs[0] == pytest.approx(1e-4)  # 10 warm-up steps
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10]))
    assert all(a > b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(1e-3 / 90)


def test_epoch_order_resumed_mid_epoch_is_the_tail_of_the_full_order():
    order = train.EpochOrder(50, seed=3)
    order.set_epoch(2)
    full = list(order)
    order.set_epoch(2, skip=17)
    assert list(order) == full[17:]
    assert sorted(i for _, i in full) == list(range(50)) and {e for e, _ in full} == {2}
    order.set_epoch(3)
    assert list(order) != [(3, i) for _, i in full]  # a new permutation every epoch


@pytest.fixture(scope="module")
def prepared_smoke(tmp_path_factory, smoke_data):
    params = config.resolve("smoke", results_dir=str(tmp_path_factory.mktemp("train") / "results"))
    return params, smoke_data(params)


def test_augmentation_depends_on_seed_epoch_and_index_only(prepared_smoke):
    _, prepared = prepared_smoke
    images = loader.CachedImages(prepared, "train", loader.train_transform(32, (0.5,) * 3, (0.5,) * 3))
    data = train.EpochSeeded(images, seed=0)
    torch.manual_seed(123)
    a = data[(1, 5)][0]
    torch.manual_seed(456)  # the global RNG state must not matter
    assert torch.equal(a, data[(1, 5)][0])
    assert not torch.equal(a, data[(2, 5)][0])


@pytest.mark.parametrize("augment", [True, False])
def test_the_augment_parameter_decides_trivial_augment(prepared_smoke, augment):
    """`augment` turns TrivialAugment on or off for the fine-tune."""
    from foodlib.data.transforms import TrivialAugmentPil
    from foodlib.train import session

    base, prepared = prepared_smoke
    params = config.resolve("smoke", results_dir=base.results_dir, augment=augment)
    assert train.make_plan(params, 10).augment is augment
    steps = session.open_session("vit", params, prepared, "cpu").train_set.images.transform.steps
    assert any(isinstance(s, TrivialAugmentPil) for s in steps) is augment
    assert len(steps) == 1 + augment  # RandomResizedCrop + flip, then TrivialAugment when asked


SMALL = {"synthetic_train_per_class": 10, "synthetic_test_per_class": 4}  # a quarter of smoke's: 6 steps an epoch


def test_interrupted_run_resumes_to_the_same_predictions(smoke_data, tmp_path):
    """Stopped by max_steps mid-epoch, then rerun: the same test predictions as one uninterrupted run (CPU),
    with TrivialAugment on (its draws are seeded per image and epoch, so resuming replays them)."""
    base = config.resolve("smoke", results_dir=str(tmp_path / "results"), **SMALL)
    prepared = smoke_data(base)
    params = config.resolve("smoke", results_dir=base.results_dir, num_epochs=3, augment=True, **SMALL)
    steps_per_epoch = train.make_plan(params, len(prepared.split("train"))).steps_per_epoch
    ckpt = models.checkpoint_dir("vit", params)

    whole = train.fit("vit", params, prepared, device="cpu", progress=False)
    assert whole.state["finished"] and len(whole.history) == 3
    expected, _ = scoring.test_predictions(whole, params, prepared, "cpu")

    import shutil

    shutil.rmtree(ckpt)
    stop_at = steps_per_epoch + steps_per_epoch // 2  # in the middle of the second epoch
    stopping = config.resolve("smoke", results_dir=base.results_dir, num_epochs=3, augment=True, max_steps=stop_at,
                              **SMALL)
    part = train.fit("vit", stopping, prepared, device="cpu", progress=False)
    assert not part.state["finished"] and part.state["stop_reason"] == "max_steps"
    saved = json.loads((ckpt / "last" / "state.json").read_text())
    assert saved["global_step"] == stop_at and saved["step_in_epoch"] == steps_per_epoch // 2
    assert (ckpt / "last" / "optimizer.safetensors").exists() and (ckpt / "best" / "model.safetensors").exists()

    resumed = train.fit("vit", params, prepared, device="cpu", progress=False)
    assert resumed.state["finished"] and resumed.state["global_step"] == whole.state["global_step"]
    got, _ = scoring.test_predictions(resumed, params, prepared, "cpu")
    assert got["pred"].tolist() == expected["pred"].tolist()
    np.testing.assert_allclose(np.stack(got["probs"]), np.stack(expected["probs"]), atol=1e-6)
    assert resumed.history["val_top1"].tolist() == whole.history["val_top1"].tolist()

    again = train.fit("vit", params, prepared, device="cpu", progress=False)  # finished with these settings: reused, not retrained
    assert again.state["global_step"] == whole.state["global_step"]
    assert not (ckpt / "last" / "model.safetensors").exists()  # a finished run keeps only best/ weights
