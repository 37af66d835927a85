"""Notebook 05: join the models' test predictions and compare them.

Reads the prediction and metrics files of notebooks 02-04 (see DESIGN.md's
contract), checks that they cover the same test images with the same class
order, and builds the tables notebook 05 writes. The statistics themselves are
in `foodlib.stats`.

Disagreement sets (read by notebook 06 through `load_disagreements`) are over
the main models vit, swin and clip:
  `<a>_only`            images model a gets right and every other main model gets wrong;
  `<a>_right_<b>_wrong` images a gets right and b gets wrong (both orders of every pair).
Within each set, images are ranked by the rule in `disagreement_members`:
model a's confidence in its (correct) prediction, highest first, ties broken
by image_id. `tables/disagreements.csv` holds the first `num_examples` of each
set, with columns set, rank, image_id, label, pred_<m>, conf_<m> for m in
vit, swin, clip (conf = the probability a model gave its predicted class);
`tables/disagreement_members.parquet` holds every member with the same
columns plus `score`, the ranking key.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from foodlib import artifacts, metrics, stats
from foodlib.config import Params

MAIN_MODELS = ("vit", "swin", "clip")
KNOWN_MODELS = ("vit", "swin", "clip", "vit_linear", "swin_linear")
# Columns of the headline table that come from the metrics files; NaN where a model has none.
METRIC_FILE_KEYS = ("num_parameters", "train_wall_time_s", "eval_images_per_s")
DISAGREEMENTS_FILE = "disagreements.csv"
MEMBERS_FILE = "disagreement_members.parquet"


class InputMismatchError(ValueError):
    """Prediction files that cannot be compared: other test images or another class order."""


# -- finding and joining the inputs ------------------------------------------------


def prediction_path(params: Params, model: str) -> Path:
    return params.subdir("predictions") / f"{model}.parquet"


def find_models(params: Params) -> list[str]:
    """Models with a prediction file: the known names in their order, then any others, sorted."""
    folder = params.subdir("predictions")
    present = {p.stem for p in folder.glob("*.parquet")} if folder.is_dir() else set()
    return [m for m in KNOWN_MODELS if m in present] + sorted(present - set(KNOWN_MODELS))


def check_inputs(params: Params) -> list[str]:
    """Return the models found; fail at once, naming every notebook to run first, if 01-04's outputs are missing."""
    from foodlib.data.prepare import prepared_dir

    needed = {"data": prepared_dir(params) / "index.parquet"}
    needed.update({m: prediction_path(params, m) for m in MAIN_MODELS})
    missing = {key: path for key, path in needed.items() if not path.exists()}
    if missing:
        notebooks = sorted({artifacts.PRODUCER[key] for key in missing})
        raise artifacts.MissingArtifactError(
            "notebook 05_comparison needs " + ", ".join(str(p) for p in missing.values())
            + ". Run first: " + ", ".join(f"notebooks/{nb}.ipynb" for nb in notebooks)
            + f" (same profile and results_dir), e.g. ./run_all.sh --profile {params.profile} --only "
            + " ".join(nb[:2] for nb in notebooks)
        )
    return find_models(params)


def found_table(params: Params, models: Sequence[str]) -> pd.DataFrame:
    """Which prediction files exist: the known models (found or not) and any extra ones."""
    names = list(KNOWN_MODELS) + [m for m in models if m not in KNOWN_MODELS]
    return pd.DataFrame({
        "model": names,
        "found": ["yes" if m in models else "no" for m in names],
        "written_by": [artifacts.PRODUCER.get(m, "?") for m in names],
        "file": [str(prediction_path(params, m)) for m in names],
    })


@dataclass
class Joined:
    """Every model's predictions on the same test images, in one order."""

    classes: list[str]
    models: list[str]
    image_ids: np.ndarray  # (N,) str
    labels: np.ndarray  # (N,) int
    preds: np.ndarray  # (M, N) int
    probs: np.ndarray  # (M, N, C) float32, dataset class order
    top5_hit: np.ndarray  # (M, N) bool: label among the model's top-5

    @property
    def correct(self) -> np.ndarray:
        """(N, M) bool."""
        return (self.preds == self.labels[None, :]).T

    @property
    def confidence(self) -> np.ndarray:
        """(M, N): the probability each model gave the class it predicted."""
        return np.take_along_axis(self.probs, self.preds[:, :, None], axis=2)[:, :, 0]

    def index(self, model: str) -> int:
        return self.models.index(model)

    def correct_for(self, models: Sequence[str]) -> np.ndarray:
        """(N, len(models)) bool, columns in the order of `models`."""
        return self.correct[:, [self.index(m) for m in models]]


def join(frames: dict[str, pd.DataFrame], reference: pd.DataFrame, classes: Sequence[str]) -> Joined:
    """Align prediction frames on `reference` (image_id, label: the prepared test split).

    Refuses frames whose image ids differ from the reference's (another test
    set) or whose labels differ for the same image (another class order).
    """
    ref_ids = reference["image_id"].astype(str).to_numpy()
    ref_labels = reference["label"].to_numpy(dtype=np.int64)
    num_classes = len(classes)
    preds, probs, top5 = [], [], []
    for model, df in frames.items():
        try:
            artifacts.check_predictions(df, num_classes)
        except ValueError as exc:
            raise InputMismatchError(f"predictions/{model}.parquet: {exc} ({num_classes} classes in the dataset)") from None
        _check_same_images(model, df["image_id"].astype(str), ref_ids)
        df = df.set_index(df["image_id"].astype(str)).loc[ref_ids]
        labels = df["label"].to_numpy(dtype=np.int64)
        wrong = labels != ref_labels
        if wrong.any():
            raise InputMismatchError(
                f"the class orders differ: predictions/{model}.parquet labels {int(wrong.sum())} of "
                f"{len(labels)} test images differently from the prepared dataset (e.g. {ref_ids[wrong][0]}: "
                f"{labels[wrong][0]} vs {ref_labels[wrong][0]}); rerun that notebook on this prepared data"
            )
        preds.append(df["pred"].to_numpy(dtype=np.int64))
        probs.append(np.stack(df["probs"].to_numpy()).astype(np.float32))
        top5.append(np.array([lab in list(t)[:5] for lab, t in zip(labels, df["top5"])], dtype=bool))
    return Joined(list(classes), list(frames), ref_ids, ref_labels, np.stack(preds), np.stack(probs), np.stack(top5))


def _check_same_images(model: str, ids: pd.Series, ref_ids: np.ndarray) -> None:
    have, want = set(ids), set(ref_ids)
    if have != want:
        missing, extra = sorted(want - have), sorted(have - want)
        raise InputMismatchError(
            f"the test sets differ: predictions/{model}.parquet has {len(have)} images, the prepared test split "
            f"{len(want)}; missing {len(missing)} (e.g. {missing[:3]}), extra {len(extra)} (e.g. {extra[:3]}). "
            "Rerun that notebook on this prepared data."
        )


def load_joined(params: Params, models: Sequence[str]) -> Joined:
    """Read and join the prediction files of `models` against the prepared test split."""
    from foodlib.data.prepare import load_prepared

    prepared = load_prepared(params)
    frames = {m: artifacts.read_predictions(params, m) for m in models}
    return join(frames, prepared.split("test")[["image_id", "label"]], prepared.classes)


def read_metrics(params: Params, models: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each model's metrics file, or {} where it has none."""
    out = {}
    for m in models:
        path = params.subdir("metrics") / f"{m}.json"
        out[m] = json.loads(path.read_text()) if path.exists() else {}
    return out


# -- headline and pairwise tables -----------------------------------------------


def headline_table(joined: Joined, model_metrics: dict[str, dict[str, Any]], confidence: float = 0.95) -> pd.DataFrame:
    """Per model: top-1 with a Wilson interval, top-5, mean per-class recall, macro-F1, size and speed.

    Accuracy figures are recomputed from the predictions (so every row uses the
    same images); parameter count, training time and throughput come from the
    metrics files and are NaN where a file lacks them.
    """
    rows = []
    n, num_classes = len(joined.labels), len(joined.classes)
    for i, model in enumerate(joined.models):
        k = int((joined.preds[i] == joined.labels).sum())
        lo, hi = stats.wilson_interval(k, n, confidence)
        found = model_metrics.get(model, {})
        rows.append({
            "model": model, "n": n, "top1": k / n, "top1_ci_low": lo, "top1_ci_high": hi,
            "top5": float(joined.top5_hit[i].mean()),
            "mean_per_class_recall": metrics.mean_per_class_recall(joined.labels, joined.preds[i], num_classes),
            "macro_f1": metrics.macro_f1(joined.labels, joined.preds[i], num_classes),
            **{key: _number(found.get(key)) for key in METRIC_FILE_KEYS},
        })
    table = pd.DataFrame(rows)
    table["num_parameters"] = table["num_parameters"].astype("Int64")
    return table


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def pairwise_table(joined: Joined, num_samples: int, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Every pair of models: accuracy difference with a paired-bootstrap interval and exact McNemar p.

    p_holm adjusts the McNemar p-values for the number of pairs (Holm-Bonferroni).
    """
    correct = joined.correct
    boot = stats.bootstrap_accuracy(correct, num_samples, seed)  # (B, M), the same resamples for all
    rows = []
    for a, b in itertools.combinations(range(len(joined.models)), 2):
        a_only = int((correct[:, a] & ~correct[:, b]).sum())
        b_only = int((correct[:, b] & ~correct[:, a]).sum())
        lo, hi = stats.percentile_interval(boot[:, a] - boot[:, b], confidence)
        rows.append({
            "model_a": joined.models[a], "model_b": joined.models[b],
            "top1_a": correct[:, a].mean(), "top1_b": correct[:, b].mean(),
            "diff": correct[:, a].mean() - correct[:, b].mean(), "diff_ci_low": float(lo), "diff_ci_high": float(hi),
            "a_right_b_wrong": a_only, "b_right_a_wrong": b_only,
            "mcnemar_p": stats.mcnemar_exact(a_only, b_only),
        })
    table = pd.DataFrame(rows)
    if len(table):
        table["p_holm"] = stats.holm(table["mcnemar_p"])
    return table


# -- disagreement sets ----------------------------------------------------------


def disagreement_masks(correct: np.ndarray, models: Sequence[str]) -> dict[str, np.ndarray]:
    """Boolean masks over images: `<a>_only` for each model, then `<a>_right_<b>_wrong` both ways for each pair.

    correct: (N, M) bool for `models`, in that order.
    """
    correct = np.asarray(correct, dtype=bool)
    masks = {}
    for i, m in enumerate(models):
        others = np.delete(correct, i, axis=1)
        masks[f"{m}_only"] = correct[:, i] & ~others.any(axis=1)
    for i, j in itertools.combinations(range(len(models)), 2):
        masks[f"{models[i]}_right_{models[j]}_wrong"] = correct[:, i] & ~correct[:, j]
        masks[f"{models[j]}_right_{models[i]}_wrong"] = correct[:, j] & ~correct[:, i]
    return masks


def _right_model(set_name: str) -> str:
    """The model that is right in a set: 'clip' for clip_only and for clip_right_vit_wrong."""
    return set_name[: -len("_only")] if set_name.endswith("_only") else set_name.split("_right_")[0]


def disagreement_members(joined: Joined, models: Sequence[str] = MAIN_MODELS) -> pd.DataFrame:
    """Every member of every disagreement set, ranked within its set.

    Rank rule (deterministic): score = the confidence of the model that is
    right in the set (the `<a>` of `<a>_only` / `<a>_right_<b>_wrong`), highest
    first; ties by image_id. Columns: set, rank, image_id, label, pred_<m>,
    conf_<m> for each of `models`, score.
    """
    confidence = joined.confidence
    base = pd.DataFrame({"image_id": joined.image_ids, "label": joined.labels})
    for m in models:
        base[f"pred_{m}"] = joined.preds[joined.index(m)]
        base[f"conf_{m}"] = confidence[joined.index(m)]
    parts = []
    for name, mask in disagreement_masks(joined.correct_for(models), models).items():
        part = base[mask].copy()
        part.insert(0, "set", name)
        part["score"] = part[f"conf_{_right_model(name)}"]
        part = part.sort_values(["score", "image_id"], ascending=[False, True], kind="stable")
        part.insert(1, "rank", np.arange(len(part)))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def shown_examples(members: pd.DataFrame, num_examples: int) -> pd.DataFrame:
    """The rows notebook 06 shows: the first `num_examples` of each set (the disagreements.csv format)."""
    return members[members["rank"] < num_examples].drop(columns="score").reset_index(drop=True)


def save_disagreements(params: Params, members: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """Write disagreements.csv (+ .md), disagreement_members.parquet and disagreement_counts.csv; return the shown rows."""
    tables = params.subdir("tables")
    shown = shown_examples(members, params.num_examples)
    artifacts.write_table(shown, tables / DISAGREEMENTS_FILE, params)
    with artifacts.atomic_path(tables / MEMBERS_FILE) as tmp:
        members.to_parquet(tmp, index=False)
    artifacts.write_meta(tables / MEMBERS_FILE, params)
    artifacts.write_table(counts, tables / "disagreement_counts.csv", params)
    return shown


def with_class_names(df: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """A copy for reading: label and pred_* ids replaced by class names."""
    out = df.copy()
    for col in [c for c in out.columns if c == "label" or c.startswith("pred_")]:
        out[col] = [classes[i] for i in out[col]]
    return out


def correctness_patterns(correct: np.ndarray, models: Sequence[str]) -> pd.DataFrame:
    """How many images each right/wrong pattern over `models` has (2**M rows, most common first)."""
    correct = np.asarray(correct, dtype=bool)
    codes = correct @ (1 << np.arange(correct.shape[1]))  # bit i set = model i right
    counts = np.bincount(codes, minlength=2 ** len(models))
    rows = [{**{m: bool(code >> i & 1) for i, m in enumerate(models)}, "count": int(counts[code])}
            for code in range(2 ** len(models))]
    table = pd.DataFrame(rows)
    return table.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def disagreement_counts(joined: Joined, models: Sequence[str] = MAIN_MODELS) -> pd.DataFrame:
    """Size of each disagreement set (and of all-right / all-wrong) with its share of the test set."""
    correct = joined.correct_for(models)
    sizes = {name: int(mask.sum()) for name, mask in disagreement_masks(correct, models).items()}
    sizes["all_right"] = int(correct.all(axis=1).sum())
    sizes["all_wrong"] = int((~correct).all(axis=1).sum())
    kinds = ["only" if s.endswith("_only") else "all" if s.startswith("all_") else "pair" for s in sizes]
    n = len(joined.labels)
    return pd.DataFrame({"set": list(sizes), "kind": kinds, "count": list(sizes.values()),
                         "share": [v / n for v in sizes.values()]})


def load_disagreements(params: Params) -> pd.DataFrame:
    """The disagreement examples notebook 05 chose to show (format: this module's docstring)."""
    path = artifacts.require(params.subdir("tables") / DISAGREEMENTS_FILE, "comparison")
    return pd.read_csv(path, dtype={"image_id": str, "set": str})


def load_disagreement_members(params: Params) -> pd.DataFrame:
    """Every member of every disagreement set, ranked (the full list behind disagreements.csv)."""
    return pd.read_parquet(artifacts.require(params.subdir("tables") / MEMBERS_FILE, "comparison"))


# -- where the models differ -----------------------------------------------------


def per_class_accuracy(joined: Joined) -> pd.DataFrame:
    """Accuracy (recall) of each model on each class; columns class_id, class, support, <model>..."""
    num_classes = len(joined.classes)
    table = pd.DataFrame({
        "class_id": np.arange(num_classes), "class": joined.classes,
        "support": np.bincount(joined.labels, minlength=num_classes),
    })
    for i, m in enumerate(joined.models):
        table[m] = metrics.per_class_recall(joined.labels, joined.preds[i], num_classes)
    return table


def class_gaps(per_class: pd.DataFrame, model: str = "clip", versus: Sequence[str] = ("vit", "swin"),
               k: int = 10) -> pd.DataFrame:
    """The k classes where `model` leads all of `versus` most, and the k where all of them lead it most.

    margin for 'ahead' = acc(model) - max(acc(versus)): positive where it beats every one of them;
    margin for 'behind' = min(acc(versus)) - acc(model): positive where every one of them beats it.
    Ties are broken by class id; k is at most half the classes, so the two lists differ.
    """
    cols = ["class_id", "class", model, *versus]
    table = per_class.dropna(subset=[model, *versus])
    k = min(k, max(1, len(table) // 2))
    ahead = table[model] - table[list(versus)].max(axis=1)
    behind = table[list(versus)].min(axis=1) - table[model]
    parts = []
    for direction, margin in (("ahead", ahead), ("behind", behind)):
        part = table[cols].assign(direction=f"{model} {direction}", margin=margin)
        parts.append(part.sort_values(["margin", "class_id"], ascending=[False, True], kind="stable").head(k))
    return pd.concat(parts, ignore_index=True)


def confused_pairs(labels: np.ndarray, preds: np.ndarray, classes: Sequence[str], top: int = 10) -> pd.DataFrame:
    """The `top` most frequent (true, predicted) mistakes with counts and share of the true class."""
    m = metrics.confusion(labels, preds, len(classes))
    support = m.sum(axis=1)
    np.fill_diagonal(m, 0)
    true, pred = np.nonzero(m)
    counts = m[true, pred]
    order = np.lexsort((pred, true, -counts))[:top]  # most first; ties by class ids
    return pd.DataFrame({
        "true": [classes[t] for t in true[order]], "predicted": [classes[p] for p in pred[order]],
        "count": counts[order], "share_of_true": counts[order] / support[true[order]],
    })


def confused_pairs_table(joined: Joined, top: int = 10) -> pd.DataFrame:
    """`confused_pairs` of every model, one block per model."""
    parts = [confused_pairs(joined.labels, joined.preds[i], joined.classes, top).assign(model=m)
             for i, m in enumerate(joined.models)]
    table = pd.concat(parts, ignore_index=True)
    return table[["model", *table.columns[:-1]]]


def most_confused_classes(joined: Joined, models: Sequence[str], k: int = 12) -> np.ndarray:
    """Ids of the k classes involved in the most mistakes (as true or predicted class) over `models`."""
    num_classes = len(joined.classes)
    involved = np.zeros(num_classes, dtype=np.int64)
    for m in models:
        c = metrics.confusion(joined.labels, joined.preds[joined.index(m)], num_classes)
        np.fill_diagonal(c, 0)
        involved += c.sum(axis=0) + c.sum(axis=1)
    order = np.lexsort((np.arange(num_classes), -involved))
    return np.sort(order[: min(k, num_classes)])


def confusion_submatrix(joined: Joined, model: str, class_ids: np.ndarray) -> np.ndarray:
    """(k, k) counts among `class_ids` only: rows true, columns predicted."""
    c = metrics.confusion(joined.labels, joined.preds[joined.index(model)], len(joined.classes))
    return c[np.ix_(class_ids, class_ids)]


# -- calibration -------------------------------------------------------------------


def calibration_table(joined: Joined, num_bins: int = 15) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary per model: ECE, mean confidence, accuracy; the reliability bins of every model)."""
    rows, bins = [], []
    correct, confidence = joined.correct, joined.confidence
    for i, m in enumerate(joined.models):
        ece = stats.expected_calibration_error(confidence[i], correct[:, i], num_bins)
        rows.append({"model": m, "ece": ece, "mean_confidence": float(confidence[i].mean()),
                     "top1": float(correct[:, i].mean()),
                     "overconfidence": float(confidence[i].mean() - correct[:, i].mean())})
        bins.append(stats.calibration_bins(confidence[i], correct[:, i], num_bins).assign(model=m))
    long = pd.concat(bins, ignore_index=True)
    return pd.DataFrame(rows), long[["model", *long.columns[:-1]]]
