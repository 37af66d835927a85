"""Notebook 05 and foodlib.compare: joining, disagreement sets, tables, and the notebook itself."""
import dataclasses
import itertools
import time

import nbformat
import numpy as np
import pandas as pd
import pytest

from fake_predictions import fabricate, fake_probs
from foodlib import artifacts, compare, config, metrics, paths

ROOT = paths.project_root()
NOTEBOOK = ROOT / "notebooks" / "05_comparison.ipynb"
MAIN = list(compare.MAIN_MODELS)


def _joined(labels, preds_by_model, num_classes=4, seed=0):
    """A Joined built by hand: preds_by_model maps model -> predictions (probs argmax = pred)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    preds = np.array([preds_by_model[m] for m in preds_by_model])
    probs = np.stack([fake_probs(p, num_classes, rng) for p in preds]).astype(np.float32)
    ids = np.array([f"img{i:03d}" for i in range(len(labels))])
    return compare.Joined([f"c{i}" for i in range(num_classes)], list(preds_by_model), ids, labels, preds, probs,
                          np.ones_like(preds, dtype=bool))


def _frame(ids, labels, probs):
    return metrics.predictions_frame(ids, labels, probs)


@pytest.fixture
def params(tmp_path, smoke_data):
    """Smoke parameters on a fresh results_dir that already holds the prepared data (as after notebook 01)."""
    p = config.resolve("smoke", results_dir=str(tmp_path / "results"))
    smoke_data(p)
    return p


# -- joining --------------------------------------------------------------------


def test_join_aligns_rows_and_refuses_other_test_sets_and_class_orders():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"image_id": [f"a/{i}" for i in range(8)], "label": [0, 1, 2, 0, 1, 2, 0, 1]})
    probs = fake_probs(rng.integers(0, 3, 8), 3, rng)
    good = _frame(ref.image_id, ref.label, probs)
    shuffled = good.sample(frac=1, random_state=1)
    joined = compare.join({"vit": good, "clip": shuffled}, ref, ["x", "y", "z"])
    assert joined.image_ids.tolist() == ref.image_id.tolist()
    assert np.array_equal(joined.preds[0], joined.preds[1])  # same predictions once aligned
    assert np.allclose(joined.confidence[0], probs.max(axis=1))

    with pytest.raises(compare.InputMismatchError, match=r"test sets differ.*clip.*missing 1"):
        compare.join({"vit": good, "clip": good.iloc[1:]}, ref, ["x", "y", "z"])
    other = good.assign(image_id=good.image_id.str.replace("a/7", "b/7"))
    with pytest.raises(compare.InputMismatchError, match=r"test sets differ.*extra 1.*b/7"):
        compare.join({"vit": good, "swin": other}, ref, ["x", "y", "z"])
    permuted = good.assign(label=(good.label + 1) % 3)  # the same images under another class order
    with pytest.raises(compare.InputMismatchError, match=r"class orders differ.*swin.*8 of 8"):
        compare.join({"vit": good, "swin": permuted}, ref, ["x", "y", "z"])
    with pytest.raises(compare.InputMismatchError, match=r"clip.*wrong length.*4 classes"):
        compare.join({"clip": good}, ref, ["w", "x", "y", "z"])


def test_check_inputs_on_an_empty_run_names_01_to_04(smoke_params):
    with pytest.raises(artifacts.MissingArtifactError) as err:
        compare.check_inputs(smoke_params)
    for nb in ("01_data_prep", "02_vit_finetune", "03_swin_finetune", "04_clip_zero_shot"):
        assert nb in str(err.value)


def test_check_inputs_names_only_the_notebooks_still_to_run(params):
    fabricate(params, models=("vit",))
    with pytest.raises(artifacts.MissingArtifactError) as err:
        compare.check_inputs(params)
    message = str(err.value)
    assert "03_swin_finetune" in message and "04_clip_zero_shot" in message
    assert "02_vit_finetune" not in message and "01_data_prep" not in message
    assert "--only 03 04" in message


def test_found_models_in_known_order_then_extras(params):
    fabricate(params, models=("clip", "swin_linear", "vit", "swin", "clip_photo"))
    assert compare.check_inputs(params) == ["vit", "swin", "clip", "swin_linear", "clip_photo"]
    found = compare.found_table(params, compare.find_models(params)).set_index("model")["found"]
    assert found["vit_linear"] == "no" and found["clip_photo"] == "yes"


# -- headline and pairwise ------------------------------------------------------


def test_headline_recomputes_accuracy_and_shows_missing_metrics_as_dash(params):
    fabricate(params, models=("vit", "swin", "clip"))
    joined = compare.load_joined(params, MAIN)
    model_metrics = compare.metrics_of(params, MAIN)
    del model_metrics["swin"]["num_parameters"]
    table = compare.headline_table(joined, model_metrics).set_index("model")
    for m in MAIN:
        assert table.loc[m, "top1"] == pytest.approx(model_metrics[m]["top1"])
        assert table.loc[m, "top5"] == pytest.approx(model_metrics[m]["top5"])
        assert table.loc[m, "macro_f1"] == pytest.approx(model_metrics[m]["macro_f1"])
        assert table.loc[m, "top1_ci_low"] < table.loc[m, "top1"] < table.loc[m, "top1_ci_high"]
    assert np.isnan(table.loc["clip", "train_wall_time_s"]) and pd.isna(table.loc["swin", "num_parameters"])
    md = artifacts.to_markdown(table.reset_index())
    swin_row = next(line for line in md.splitlines() if line.startswith("| swin "))
    assert "| - |" in swin_row and "nan" not in md.lower()


def test_pairwise_counts_and_p_values_by_hand():
    labels = np.zeros(30, dtype=int)
    a = np.r_[np.zeros(20), np.ones(10)].astype(int)  # right on 20
    b = np.r_[np.ones(8), np.zeros(14), np.ones(8)].astype(int)  # right on 14: 8..21
    joined = _joined(labels, {"a": a, "b": b})
    row = compare.pairwise_table(joined, num_samples=300, seed=0).iloc[0]
    a_right_b_wrong = int(np.sum((a == 0) & (b != 0)))
    b_right_a_wrong = int(np.sum((b == 0) & (a != 0)))
    assert (row.a_right_b_wrong, row.b_right_a_wrong) == (a_right_b_wrong, b_right_a_wrong) == (8, 2)
    from scipy.stats import binomtest

    assert row.mcnemar_p == pytest.approx(binomtest(8, 10, 0.5).pvalue)
    assert row["diff"] == pytest.approx(20 / 30 - 14 / 30)
    assert row.diff_ci_low <= row["diff"] <= row.diff_ci_high


# -- disagreement sets ------------------------------------------------------------


def test_disagreement_sets_partition_the_images():
    rng = np.random.default_rng(0)
    correct = rng.random((500, 3)) < [0.8, 0.75, 0.6]
    masks = compare.disagreement_masks(correct, MAIN)
    expected_names = [f"{m}_only" for m in MAIN] + [
        f"{x}_right_{y}_wrong" for a, b in itertools.combinations(MAIN, 2) for x, y in ((a, b), (b, a))]
    assert list(masks) == expected_names
    # Independent, image by image.
    for i, row in enumerate(correct):
        right = {m for m, ok in zip(MAIN, row) if ok}
        for m in MAIN:
            assert masks[f"{m}_only"][i] == (right == {m})
        for a, b in itertools.permutations(MAIN, 2):
            assert masks[f"{a}_right_{b}_wrong"][i] == (a in right and b not in right)
    only = np.stack([masks[f"{m}_only"] for m in MAIN])
    assert only.sum(axis=0).max() <= 1  # the "only" sets are disjoint
    patterns = compare.correctness_patterns(correct, MAIN)
    assert len(patterns) == 8 and patterns["count"].sum() == 500  # every image in exactly one pattern
    for a, b in itertools.permutations(MAIN, 2):
        ab, ba = masks[f"{a}_right_{b}_wrong"], masks[f"{b}_right_{a}_wrong"]
        ia, ib = MAIN.index(a), MAIN.index(b)
        both, neither = correct[:, ia] & correct[:, ib], ~correct[:, ia] & ~correct[:, ib]
        assert np.array_equal(ab.astype(int) + ba + both + neither, np.ones(500))  # a partition of the images
        assert ab.sum() - ba.sum() == correct[:, ia].sum() - correct[:, ib].sum()
        assert not (masks[f"{a}_only"] & ~ab).any()  # a_only lies inside every a_right_<b>_wrong


def test_members_are_ranked_by_the_right_models_confidence_and_shown_in_the_contract_format(smoke_params):
    labels = np.zeros(6, dtype=int)
    joined = _joined(labels, {"vit": [0, 0, 0, 1, 1, 0], "swin": [1, 1, 1, 1, 1, 0], "clip": [2, 2, 2, 0, 1, 0]})
    joined.probs[0, :, 0] = [0.5, 0.9, 0.5, 0.1, 0.1, 0.6]  # vit's confidence on images 0-2 (its vit_only set)
    members = compare.disagreement_members(joined)
    vit_only = members[members.set == "vit_only"]
    assert vit_only.image_id.tolist() == ["img001", "img000", "img002"]  # 0.9 first; tie 0.5 by image_id
    assert vit_only["rank"].tolist() == [0, 1, 2]
    assert members[members.set == "clip_only"].image_id.tolist() == ["img003"]
    assert members[members.set == "swin_only"].empty
    smoke_params = dataclasses.replace(smoke_params, num_examples=2)
    counts = compare.disagreement_counts(joined)
    shown = compare.save_disagreements(members, counts, smoke_params)
    assert list(shown.columns) == ["set", "rank", "image_id", "label",
                                   "pred_vit", "conf_vit", "pred_swin", "conf_swin", "pred_clip", "conf_clip"]
    assert shown.groupby("set").size().max() == 2 and shown["rank"].max() == 1
    loaded = artifacts.read_disagreements(smoke_params)
    pd.testing.assert_frame_equal(loaded, shown, check_dtype=False, atol=1e-4)
    assert all(isinstance(i, str) for i in loaded.image_id)
    full = artifacts.read_disagreement_members(smoke_params)
    assert len(full) == len(members) and "score" in full
    by_set = counts.set_index("set")["count"]
    assert by_set["vit_only"] == 3 and by_set["all_right"] == 1 and by_set["all_wrong"] == 1  # img005, img004
    assert (smoke_params.subdir("tables") / "disagreements.md").exists()


def test_reading_the_disagreements_without_notebook_05_names_it(smoke_params):
    with pytest.raises(artifacts.MissingArtifactError, match="05_comparison"):
        artifacts.read_disagreements(smoke_params)


# -- per class, confusions, calibration ------------------------------------------------


def test_per_class_gaps_and_confused_pairs_by_hand():
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    joined = _joined(labels, {
        "vit": [0, 0, 1, 1, 1, 1, 3, 0],  # class 2 -> 1 twice, class 3 -> 0 once
        "swin": [0, 1, 1, 1, 2, 1, 3, 3],
        "clip": [2, 2, 1, 1, 2, 2, 3, 3],
    })
    per_class = compare.per_class_accuracy(joined).set_index("class_id")
    assert per_class["vit"].tolist() == [1, 1, 0, 0.5] and per_class["clip"].tolist() == [0, 1, 1, 1]
    gaps = compare.class_gaps(per_class.reset_index(), "clip", ("vit", "swin"), k=2)
    ahead, behind = gaps[gaps.direction == "clip ahead"], gaps[gaps.direction == "clip behind"]
    assert ahead["class_id"].tolist() == [2, 1] and ahead["margin"].tolist() == pytest.approx([0.5, 0.0])  # tie: id
    assert behind["class_id"].iloc[0] == 0 and behind["margin"].iloc[0] == pytest.approx(0.5)
    pairs = compare.confused_pairs(joined.labels, joined.preds[0], joined.classes, top=5)
    assert pairs.iloc[0][["true", "predicted", "count"]].tolist() == ["c2", "c1", 2]
    assert pairs.iloc[0]["share_of_true"] == pytest.approx(1.0) and len(pairs) == 2
    ids = compare.most_confused_classes(joined, MAIN, k=2)
    assert ids.tolist() == [0, 2]  # mistakes involving each class: 4, 4, 5, 1; the tie 0/1 goes to the lower id
    sub = compare.confusion_submatrix(joined, "clip", ids)
    assert sub.tolist() == [[0, 2], [0, 2]]


def test_calibration_table_uses_the_predicted_class_probability():
    labels = np.zeros(50, dtype=int)
    joined = _joined(labels, {"vit": np.r_[np.zeros(40), np.ones(10)].astype(int)}, num_classes=2)
    summary, bins = compare.calibration_table(joined, num_bins=10)
    conf = joined.probs[0].max(axis=1)
    assert summary.loc[0, "mean_confidence"] == pytest.approx(conf.mean())
    assert summary.loc[0, "overconfidence"] == pytest.approx(conf.mean() - 0.8)
    assert bins["count"].sum() == 50 and list(bins.columns[:2]) == ["model", "bin"]


# -- the notebook --------------------------------------------------------------------


def _run_notebook(results_dir, out):
    import papermill as pm

    return pm.execute_notebook(str(NOTEBOOK), str(out), parameters={"profile": "smoke", "results_dir": str(results_dir)},
                               kernel_name="python3", cwd=str(ROOT), progress_bar=False)


def test_fewshot_figure_puts_each_k_at_one_place_for_every_probe():
    """Probes run with different fewshot_k share one axis: each point sits over its own k's label."""
    import matplotlib.pyplot as plt

    rows = [("vit_linear", k, m) for k, m in (("1", 0.2), ("4", 0.4), ("all", 0.8))]
    rows += [("clip_linear", k, m) for k, m in (("1", 0.5), ("2", 0.6), ("16", 0.7), ("all", 0.9))]
    table = pd.DataFrame([{"model": p, "k": k, "mean": m, "min": m, "max": m} for p, k, m in rows])
    fig = compare.plots.fewshot_figure(table, zero_shot=0.55, num_classes=101)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["1", "2", "4", "16", "all"]
    assert len(ax.containers) == 2
    for bars in ax.containers:  # one errorbar per probe
        probe, line = bars.get_label().split(" ")[0], bars.lines[0]
        placed = {labels[int(x)]: y / 100 for x, y in zip(line.get_xdata(), line.get_ydata())}
        assert placed == pytest.approx({k: m for p, k, m in rows if p == probe})
    plt.close(fig)


def test_notebook_05_runs_on_fabricated_predictions(params, tmp_path):
    fabricate(params)
    t0 = time.time()
    _run_notebook(params.results_dir, tmp_path / "05.ipynb")
    assert time.time() - t0 < 90  # about 15 s on an idle 2-core machine
    _check_artifacts(params, expect_models=list(compare.KNOWN_MODELS))
    cells = nbformat.read(tmp_path / "05.ipynb", as_version=4).cells
    assert any(c.get("outputs") for c in cells if c.cell_type == "code")


def test_notebook_05_alone_fails_fast_naming_the_notebooks_to_run(params, tmp_path):
    """With the prepared data of 01 but no predictions (02-04 not run)."""
    from papermill.exceptions import PapermillExecutionError

    t0 = time.time()
    with pytest.raises(PapermillExecutionError) as err:
        _run_notebook(params.results_dir, tmp_path / "05.ipynb")
    assert time.time() - t0 < 30
    assert err.value.ename == "MissingArtifactError"
    for nb in ("02_vit_finetune", "03_swin_finetune", "04_clip_zero_shot"):
        assert nb in err.value.evalue
    assert not params.subdir("tables").exists() or not any(params.subdir("tables").iterdir())


def test_notebook_05_artifacts(smoke_ok):
    """After the whole smoke series (01-04 then 05), notebook 05's tables and figures exist."""
    _check_artifacts(smoke_ok, expect_models=MAIN)


def _check_artifacts(params, expect_models):
    tables, figures = params.subdir("tables"), params.subdir("figures")
    for name in ("comparison_headline", "comparison_pairwise", "disagreements", "disagreement_counts",
                 "per_class_accuracy", "class_gaps", "confused_pairs", "calibration", "reliability_bins",
                 "features_vs_training", "fewshot"):
        assert (tables / f"{name}.csv").exists() and (tables / f"{name}.md").exists(), name
        assert (tables / f"{name}.csv.meta.json").exists(), name
    for name in ("comparison_accuracy", "comparison_pairwise", "disagreement_upset", "class_gaps",
                 "confusion_top_classes", "reliability", "fewshot"):
        assert (figures / f"{name}.png").stat().st_size > 10_000, name
    headline = pd.read_csv(tables / "comparison_headline.csv")
    assert set(expect_models) <= set(headline["model"])
    assert (headline["top1_ci_low"] <= headline["top1"]).all() and (headline["top1"] <= headline["top1_ci_high"]).all()
    versus = pd.read_csv(tables / "features_vs_training.csv").set_index("trained")
    top1 = headline.set_index("model")["top1"]
    assert list(versus.index) == MAIN and (versus["probe"] == [f"{m}_linear" for m in MAIN]).all()
    difference = 100 * (top1[MAIN].to_numpy() - top1[versus["probe"]].to_numpy())
    assert np.allclose(versus["difference_points"], difference, atol=0.02)  # the csv rounds to 4 decimals
    shots = pd.read_csv(tables / "fewshot.csv", dtype={"k": str})
    assert set(shots["model"]) == {f"{m}_linear" for m in MAIN} and (shots.groupby("model")["k"].last() == "all").all()
    pairwise = pd.read_csv(tables / "comparison_pairwise.csv")
    k = len(headline)
    assert len(pairwise) == k * (k - 1) // 2 and pairwise["mcnemar_p"].between(0, 1).all()
    shown = artifacts.read_disagreements(params)
    members = artifacts.read_disagreement_members(params)
    assert list(shown.columns[:4]) == ["set", "rank", "image_id", "label"]
    assert {f"pred_{m}" for m in MAIN} | {f"conf_{m}" for m in MAIN} <= set(shown.columns)
    assert shown.groupby("set").size().max() <= params.num_examples
    # The shown rows are the top-ranked members of each set.
    top = members[members["rank"] < params.num_examples]
    assert sorted(zip(shown.set, shown.image_id)) == sorted(zip(top.set, top.image_id))
    counts = pd.read_csv(tables / "disagreement_counts.csv").set_index("set")["count"]
    assert (members.groupby("set").size().reindex(counts.index[:9], fill_value=0) == counts.iloc[:9]).all()
