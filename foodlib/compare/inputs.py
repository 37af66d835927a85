"""Finding, checking and joining the models' test predictions (notebook 05's inputs)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from foodlib import artifacts, paths, registry
from foodlib.config import Params
from foodlib.data.prepare import load_prepared, prepared_dir

MAIN_MODELS = tuple(registry.available())  # the models notebook 05 requires and compares in its sets
KNOWN_MODELS = tuple(registry.artifact_names())  # every artifact name the notebooks write, in display order


class InputMismatchError(ValueError):
    """Prediction files that cannot be compared: other test images or another class order."""


# -- finding and joining the inputs ------------------------------------------------


def find_models(params: Params) -> list[str]:
    """Models with a prediction file: the known names in their order, then any others, sorted."""
    folder = params.subdir("predictions")
    present = {p.stem for p in folder.glob("*.parquet")} if folder.is_dir() else set()
    return [m for m in KNOWN_MODELS if m in present] + sorted(present - set(KNOWN_MODELS))


def check_inputs(params: Params) -> list[str]:
    """Return the models found; fail at once, naming every notebook to run first, if 01-04's outputs are missing."""
    needed = {"01_data_prep": prepared_dir(params) / "index.parquet"}
    needed.update({m: artifacts.prediction_path(m, params) for m in MAIN_MODELS})
    missing = {key: path for key, path in needed.items() if not path.exists()}
    if missing:
        notebooks = sorted({registry.producer(key) or key for key in missing})
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
        "written_by": [registry.producer(m) or "?" for m in names],
        "file": [paths.shown(artifacts.prediction_path(m, params)) for m in names],
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
    prepared = load_prepared(params)
    frames = {m: artifacts.read_predictions(m, params) for m in models}
    return join(frames, prepared.split("test")[["image_id", "label"]], prepared.classes)


def metrics_of(params: Params, models: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each model's metrics file, or {} where it has none."""
    return {m: artifacts.read_metrics(m, params, missing_ok=True) for m in models}
