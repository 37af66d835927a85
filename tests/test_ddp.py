"""Data-parallel fine-tuning (num_processes > 1): two CPU processes over gloo, as on several GPUs over nccl."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from foodlib import artifacts, config, metrics, models, runtime, train
from foodlib.data import loader
from foodlib.train import distributed, scoring

# Smoke settings where the tiny ViT learns (10 epochs reach well above chance, 10% for 10 classes).
EPOCHS = 10


def test_ddp_sharded_order_gives_each_global_batch_once():
    """The processes' parts of each global batch, put together, are the one-process batch; padding is marked."""
    for n, batch, world, skip in [(50, 16, 2, 0), (50, 16, 2, 32), (50, 15, 3, 15), (49, 4, 4, 0), (17, 8, 8, 16)]:
        one = train.EpochOrder(n, seed=1)
        one.set_epoch(2, skip=skip)
        expected = list(one)
        shards = []
        for rank in range(world):
            order = distributed.ShardedOrder(n, 1, batch, rank, world)
            order.set_epoch(2, skip=skip)
            shards.append(list(order))
            assert len(order) == len(shards[-1])
        assert len({len(s) for s in shards}) == 1  # the same number of items, so of steps, in every process
        part = batch // world
        got = []
        for k in range(0, len(shards[0]), part):  # global batch by global batch
            got += [item for s in shards for item in s[k:k + part] if item[1] >= 0]
        assert got == expected


def test_ddp_batch_not_divisible_by_processes_is_refused():
    with pytest.raises(config.ParameterError, match="batch_size 15 must split evenly over num_processes 2"):
        config.resolve("smoke", batch_size=15, num_processes=2)
    with pytest.raises(config.ParameterError, match="num_processes 0"):
        config.resolve("smoke", num_processes=0)


def test_ddp_more_processes_than_devices_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    params = config.resolve("smoke", batch_size=16, num_processes=4)
    with pytest.raises(config.ParameterError, match=r"num_processes 4 is more than the 2 GPUs"):
        distributed.check(params, "cuda")
    cores = runtime.cpu_cores()
    params = config.resolve("smoke", batch_size=2 * (cores + 1), num_processes=cores + 1)
    with pytest.raises(config.ParameterError, match=rf"num_processes {cores + 1} is more than the {cores} CPU cores"):
        distributed.check(params, "cpu")
    distributed.check(config.resolve("smoke", num_processes=min(2, cores)), "cpu")  # the test machine's 2 run


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, smoke_data, smoke_ok):
    """The same smoke fine-tune with one process and with two: (prepared, {1: (params, result), 2: ...}).

    The one-process run is the smoke series' own (notebook 02 trains ViT with these settings): its
    checkpoint is copied, and `train.fit` finds it finished with the same fingerprint and reuses it."""
    root = tmp_path_factory.mktemp("ddp")
    base = config.resolve("smoke", results_dir=str(root / "one"), num_epochs=EPOCHS)
    prepared = smoke_data(base)
    one = config.resolve("smoke", results_dir=str(root / "n1"), num_epochs=EPOCHS, num_processes=1)
    shutil.copytree(models.checkpoint_dir("vit", smoke_ok), models.checkpoint_dir("vit", one))
    runs = {}
    for n in (1, 2):
        # each its own checkpoints, on the same prepared data
        params = one if n == 1 else config.resolve("smoke", results_dir=str(root / f"n{n}"), num_epochs=EPOCHS,
                                                   num_processes=n)
        runs[n] = params, train.fit("vit", params, prepared, device="cpu", progress=False)
    return prepared, runs


def test_ddp_two_processes_finish_like_one(fitted):
    prepared, runs = fitted
    (p1, one), (p2, two) = runs[1], runs[2]
    assert type(two) is type(one) and type(two.model) is type(one.model)
    assert two.state["finished"] and len(two.history) == EPOCHS
    # the same schedule: one step per global batch of 16, as with one process
    assert two.state["global_step"] == one.state["global_step"] == EPOCHS * train.make_plan(
        p1, len(prepared.split("train"))).steps_per_epoch
    assert two.state["train_images"] == one.state["train_images"]  # every image once per epoch, padding not counted
    # Validation top-1: 2 processes add gradients in another order, so the runs part ways after a few steps;
    # on 60 validation images a point is 1.7%. 15 points allows ~9 images of that drift, and is far
    # below what both learn over chance (10%).
    top1 = {n: r.history["val_top1"].max() for n, (_, r) in runs.items()}
    assert top1[1] > 0.3 and top1[2] > 0.3, top1
    assert abs(top1[1] - top1[2]) <= 0.15, top1
    events = list((p2.run_dir / "tensorboard" / two.name).glob("events.*"))
    assert len(events) == 1  # only the main process logs


def test_ddp_gathered_validation_is_the_whole_split_in_order(fitted):
    """The validation top-1 the processes gathered equals the best checkpoint scored here, in one process."""
    prepared, runs = fitted
    params, two = runs[2]
    val = loader.SourceImages(prepared, "val", two.preprocess.eval())
    logits = scoring.predict(two.model, val, batch_size=7, num_workers=0, device="cpu")
    best = two.history.set_index("epoch").loc[two.state["best_epoch"]]
    assert metrics.top1(val.labels, logits.argmax(1)) == pytest.approx(best["val_top1"])


def test_ddp_predictions_hold_every_test_image_once(fitted):
    prepared, runs = fitted
    params, two = runs[2]
    train.write_results(two, params, prepared, "cpu")
    frame = pd.read_parquet(params.subdir("predictions") / "vit.parquet")
    test_ids = prepared.split("test")["image_id"].astype(str).tolist()
    assert len(frame) == len(test_ids) and sorted(frame["image_id"]) == sorted(test_ids)
    assert json.loads((params.subdir("metrics") / "vit.json").read_text())["n"] == len(test_ids)


def test_ddp_interrupted_run_resumes(fitted):
    """Two processes stopped by max_steps mid-epoch, then rerun: they continue the run the uninterrupted one did
    (compared over its first three epochs: the same steps, the same validation)."""
    prepared, runs = fitted
    params, whole = runs[2]
    ckpt = models.checkpoint_dir("vit", params)
    shutil.rmtree(ckpt)
    steps_per_epoch = train.make_plan(params, len(prepared.split("train"))).steps_per_epoch
    stop_at = steps_per_epoch + steps_per_epoch // 2

    def stopped_at(steps):  # the same run (max_steps is no part of a checkpoint's fingerprint), stopped there
        return config.resolve("smoke", results_dir=params.results_dir, num_epochs=EPOCHS, num_processes=2,
                              max_steps=steps)

    part = train.fit("vit", stopped_at(stop_at), prepared, device="cpu", progress=False)
    assert not part.state["finished"] and part.state["global_step"] == stop_at
    saved = json.loads((artifacts.settled(ckpt / "last") / "state.json").read_text())
    assert saved["step_in_epoch"] == steps_per_epoch // 2
    resumed = train.fit("vit", stopped_at(3 * steps_per_epoch), prepared, device="cpu", progress=False)
    assert resumed.state["global_step"] == 3 * steps_per_epoch and len(resumed.history) == 3
    # the same data, order and schedule after the resume; gloo's sums on one machine repeat, so the same run
    np.testing.assert_allclose(resumed.history["val_top1"], whole.history["val_top1"][:3], atol=0.05)
