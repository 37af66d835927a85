"""foodlib.run.estimate from finished runs: the fit of a fixed cost plus a cost per image, projected to other sizes.

The check that it predicts a larger run with more epochs within 25% per notebook was measured once on a quiet
2-core machine (three runs of the smoke series, minutes: a benchmark, not a timed test) and recorded with the
files the fit reads, in benchmarks/projection_cpu_2core.json; the suite refits those measurements with the code
as it stands."""
from __future__ import annotations

import json
import shutil

import pytest

from foodlib import config, paths
from foodlib.run import estimate as E

RECORD = paths.project_root() / "benchmarks" / "projection_cpu_2core.json"
NOTEBOOKS = ["01_data_prep", "02_vit_finetune", "03_swin_finetune", "04_clip_zero_shot", "05_comparison",
             "06_attention_maps", "07_positional_embeddings"]
# (notebook, part) -> (fixed seconds, seconds per image): a known model the fit must recover
TRUTH = {("01_data_prep", E.REST): (5.0, 0.02), ("02_vit_finetune", E.REST): (9.0, 0.01),
         ("02_vit_finetune", "vit"): (0.5, 0.004), ("02_vit_finetune", "vit_linear"): (0.2, 0.001),
         ("02_vit_finetune", E.COMPILE): (30.0, 0.0), ("04_clip_zero_shot", E.REST): (7.0, 0.003),
         ("06_attention_maps", E.REST): (12.0, 0.05), ("07_positional_embeddings", E.REST): (6.0, 0.0)}


def _params(train: int, test: int, **kw) -> config.Params:
    return config.resolve("smoke", synthetic_train_per_class=train, synthetic_test_per_class=test, **kw)


def _run(params: config.Params, compile_scale: float = 1.0) -> list[E.Part]:
    """The parts a run at `params` (two epochs of each trained variant) would measure if TRUTH held."""
    parts = []
    for (nb, part), (fixed, per_image) in TRUTH.items():
        images = E.images(nb, part, params)
        seconds = (fixed + per_image * images) * (compile_scale if part == E.COMPILE else 1.0)
        parts.append(E.Part(nb, part, seconds, images, 1 if part in (E.REST, E.COMPILE) else 2))
    return parts


def test_two_sizes_recover_a_known_model_exactly():
    small, large = _params(8, 2), _params(16, 3)  # 06 reads min(40, test) images: 20 and 30 per deletion step
    lines = E.fit([_run(small), _run(large, compile_scale=0.2)])  # the second run found the compile cache warm
    for key, (fixed, per_image) in TRUTH.items():
        assert lines[key].fixed == pytest.approx(fixed), key
        assert lines[key].per_image == pytest.approx(per_image, abs=1e-12), key
    # At the smoke profile's 40/12 per class and 10 epochs. 10 classes, 3 planted faults usable (classes 0-2):
    # 403 train images, 6 of each class's 40 or 41 held out (0.15 * 41 = 6.15) -> fit 343, val 60; test 120;
    # 526 files with the 6 planted ones. 06: min(40 attention images, 120) * (10 deletion steps + 1) = 440.
    target = _params(40, 12, num_epochs=10)
    got = E.project(lines, target)
    assert got["02_vit_finetune"] == pytest.approx(
        9.0 + 0.01 * (343 + 60 + 120)  # the rest, over every usable image
        + 10 * (0.5 + 0.004 * 403)  # the fine-tune: the target's 10 epochs over fit + val
        + 2 * (0.2 + 0.001 * 403)  # the probe: the 2 epochs it trained when measured
        + 30.0)  # compiling, cold: the first run's
    assert got["01_data_prep"] == pytest.approx(5.0 + 0.02 * 526)
    assert got["06_attention_maps"] == pytest.approx(12.0 + 0.05 * 440)
    assert got["07_positional_embeddings"] == pytest.approx(6.0)


def test_one_size_is_refused():
    run = _run(_params(8, 4))
    with pytest.raises(ValueError, match="two data sizes"):
        E.fit([run])
    with pytest.raises(ValueError, match="two data sizes"):
        E.fit([run, _run(_params(8, 4))])  # two runs, one size


def test_the_record_labels_the_projection():
    lines = E.fit([_run(_params(8, 4)), _run(_params(16, 8))])
    rec = E.record([], config.resolve("rehearsal"), lines)
    assert rec["kind"] == "projected" and rec["profile"] == "rehearsal"
    assert rec["total_s"] == pytest.approx(sum(rec["seconds"].values()), abs=0.5)
    assert rec["counts"]["test"] == 25_250 and rec["num_epochs"] == 7
    assert sorted(rec["seconds"]) == sorted({nb for nb, _ in TRUTH})
    json.dumps(rec)  # JSON as it stands


def test_a_fit_that_falls_with_more_images_is_a_fixed_cost():
    runs = [[E.Part("01_data_prep", E.REST, 12.0, 80)], [E.Part("01_data_prep", E.REST, 11.0, 160)]]
    line = E.fit(runs)[("01_data_prep", E.REST)]
    assert (line.fixed, line.per_image) == (11.5, 0.0)  # not 13 s less 12.5 ms per image: below zero past 1,040


def test_an_epoch_costs_what_the_epochs_after_the_first_cost():
    metrics = {"train_wall_time_s": 9.0, "epochs_run": 3, "train_compile_s": None}
    history = [{"elapsed_s": "4.0", "compile_s": "0.0"}, {"elapsed_s": "6.0", "compile_s": "0.0"},
               {"elapsed_s": "8.0", "compile_s": "0.0"}]
    assert E.epoch_seconds(history, metrics) == pytest.approx(2.0)  # not 9 / 3: epoch 1's 2 s start-up is fixed
    compiled = {**metrics, "train_compile_s": 5.0}  # the eval graph compiled in the first validation
    history_c = [{"elapsed_s": "7.0", "compile_s": "3.0"}, {"elapsed_s": "11.0", "compile_s": "5.0"},
                 {"elapsed_s": "13.0", "compile_s": "5.0"}]
    assert E.epoch_seconds(history_c, compiled) == pytest.approx(2.0)
    assert E.epoch_seconds([{"elapsed_s": "7.0"}, {"elapsed_s": "11.0"}], compiled) == pytest.approx(3.0)  # no column
    assert E.epoch_seconds(history[:1], metrics) == pytest.approx(3.0)  # one epoch: wall / epochs
    assert E.epoch_seconds(history, {"train_wall_time_s": None, "epochs_run": 3}) is None  # a published checkpoint


def _restore(tmp_path) -> list:
    """The record's runs written back as run folders (RESULTS_DIR/smoke: timings.json, metrics, history tables)."""
    record = json.loads(RECORD.read_text())
    dirs = []
    for i, run in enumerate(record["runs"]):
        for name, text in run["files"].items():
            path = tmp_path / f"run_{i}" / "smoke" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        dirs.append(tmp_path / f"run_{i}" / "smoke")
    return dirs


def _measured(run_dir) -> dict[str, float]:
    return {row["notebook"]: row["seconds"] for row in json.loads((run_dir / "timings.json").read_text())["notebooks"]}


def test_the_recorded_runs_are_predicted_within_a_quarter(tmp_path):
    *fitted, target = _restore(tmp_path)
    runs = [E.load_run(d) for d in fitted]
    aim = E.load_run(target)
    assert len({p.synthetic_train_per_class for p in runs}) == 2  # two sizes fitted
    assert all(aim.synthetic_train_per_class > p.synthetic_train_per_class for p in runs)  # a larger third run
    assert all(aim.num_epochs > p.num_epochs for p in runs)  # with more epochs
    got, measured = E.project(E.fit([E.measure(p) for p in runs]), aim), _measured(target)
    assert sorted(got) == sorted(measured) == NOTEBOOKS
    errors = {nb: got[nb] / measured[nb] - 1 for nb in measured}
    assert all(abs(e) <= 0.25 for e in errors.values()), errors
    assert abs(errors["01_data_prep"]) > 0.05  # the record's worst notebook, at +22%: a check with a margin to read


def test_the_command_projects_two_runs_and_writes_json(tmp_path, capsys):
    *fitted, target = _restore(tmp_path)
    out = tmp_path / "estimate.json"
    assert E.main([str(d) for d in fitted] + ["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("projected for profile 'smoke': 343 training / 60 validation / 120 test images")
    assert printed.count("projected") == len(NOTEBOOKS) + 2  # the heading, each notebook and the total
    rec = json.loads(out.read_text())
    measured = _measured(target)  # the third run is the smoke profile's own size and epochs
    assert rec["kind"] == "projected" and [m["kind"] for m in rec["measured"]] == ["measured", "measured"]
    assert abs(rec["total_s"] / sum(measured.values()) - 1) < 0.1
    renamed = tmp_path / "smoke_small"
    shutil.copytree(fitted[0], renamed)
    for argv, message in (([str(fitted[0])], "two data sizes"), ([str(tmp_path)], "no timings.json"),
                          ([str(renamed), str(fitted[1])], "holds a 'smoke' run, read from a folder named after")):
        with pytest.raises(SystemExit) as stop:
            E.main(argv)
        assert stop.value.code == 2 and message in capsys.readouterr().err
