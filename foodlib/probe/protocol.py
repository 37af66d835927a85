"""The linear probe, one protocol for every backbone: frozen features, a logistic regression, test once.

    result = probe.linear("vit", params, prepared, device)   # or probe.run(model, preprocess, ..., name=...)
    row = probe.write_results(result, params, prepared)

What `run` does, after the CLIP paper (Radford et al. 2021, appendix A.3), LAION's CLIP_benchmark
(clip_benchmark/metrics/linear_probe.py) and DINOv2's logistic-regression probe
(dinov2/eval/log_regression.py: C over 10^-6 .. 10^5 in 45 steps, 1,000 iterations, tol 1e-12 in float64,
the final fit on training + the selection split):
1. features of the training, validation and test splits by the frozen model, each model's own eval
   transform, no augmentation (`foodlib.probe.features`, cached by `foodlib.probe.cache`);
2. the L2 strength chosen on the validation split by the paper's parametric binary search over
   1e-6 .. 1e6 (`foodlib.probe.sweep`): fits on the training split, scored on validation top-1;
3. "For the final result, we combine the validation split back with the training split and report the
   performance on the unused split" (A.3): the final probe is refitted on training + validation at the
   chosen strength (warm-started from its training-only fit) and scores the test split, once;
4. few-shot probes (`foodlib.probe.fewshot`): k images per class, several seeds.

Fits run on `device` in float32 (a GPU's float64 is slow on most cards); the solver is `foodlib.probe.logreg`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from foodlib import artifacts, figures, metrics, models
from foodlib.config import Params
from foodlib.data.prepare import Prepared
from foodlib.probe import cache, features, fewshot, logreg, plots, sweep

SPLITS = ("train", "val", "test")
KS = (1, 2, 4, 8, 16, fewshot.ALL)  # few-shot images per class (the CLIP paper's Figure 6 goes to 16)
SEEDS = (0, 1, 2)  # few-shot draws per k
MAX_ITER = 1000  # L-BFGS iterations per fit: the paper's "maximum 1,000 iterations"


@dataclass
class ProbeResult:
    """What one probe found: the sweep, the chosen strength, test probabilities, few-shot table, timings."""

    name: str  # artifact name: vit_linear, swin_linear, clip_linear, ...
    shapes: dict[str, tuple[int, int]]  # split -> (images, feature dimension)
    layer: str  # where the features were read
    sweep: pd.DataFrame  # sweep.SWEEP_COLUMNS: every strength fitted on train and scored on val
    strength: float  # the chosen lambda (scikit-learn's C = 1 / strength)
    final_iterations: int  # L-BFGS iterations of the final fit on train + val
    test_probs: np.ndarray  # (N_test, C) float32, columns in the dataset's class order
    test_labels: np.ndarray  # (N_test,)
    test_image_ids: list[str]
    fewshot: pd.DataFrame  # fewshot.TABLE_COLUMNS
    seconds: dict[str, float] = field(default_factory=dict)  # features, sweep, final, fewshot

    @property
    def feature_dim(self) -> int:
        return self.shapes["train"][1]

    def fewshot_summary(self) -> pd.DataFrame:
        """Few-shot test top-1 per k: mean, std, min, max over seeds."""
        return fewshot.summary(self.fewshot)


def evaluate(train, val, test, num_classes: int, *, name: str, device: str = "cpu",
             ks: Sequence[int | str] = KS, seeds: Sequence[int] = SEEDS, log10_min: float = sweep.LOG10_MIN,
             log10_max: float = sweep.LOG10_MAX, steps_per_decade: int = sweep.STEPS_PER_DECADE,
             max_iter: int = MAX_ITER, dtype: torch.dtype = torch.float32) -> ProbeResult:
    """The probe on features already extracted (`cache.Features` of train, val and test): tensors in, result out.

    The strength is chosen by `sweep.search` from train and val alone; the test split is scored by the
    final probe and by each few-shot probe, and by nothing else.
    """
    settings = {"log10_min": log10_min, "log10_max": log10_max, "steps_per_decade": steps_per_decade,
                "max_iter": max_iter}
    t0 = time.perf_counter()
    tr, va, te = ((f.x.to(device, dtype), f.labels.to(device)) for f in (train, val, test))
    chosen = sweep.search(*tr, *va, num_classes, **settings)
    t1 = time.perf_counter()
    both = (torch.cat([tr[0], va[0]]), torch.cat([tr[1], va[1]]))  # the paper's final fit: train + val
    final = logreg.fit(*both, num_classes, chosen.strength, init=chosen.fit, max_iter=max_iter)
    probs = final.logits(te[0]).softmax(dim=1).float().cpu().numpy()
    t2 = time.perf_counter()
    shots = fewshot.run(tr, va, te, num_classes, ks=ks, seeds=seeds, full=chosen, **settings)
    return ProbeResult(
        name=name, shapes={s: tuple(f.x.shape) for s, f in zip(SPLITS, (train, val, test))}, layer=train.layer,
        sweep=chosen.table, strength=chosen.strength, final_iterations=final.iterations, test_probs=probs,
        test_labels=test.labels.numpy(), test_image_ids=list(test.image_ids), fewshot=shots,
        seconds={"sweep": t1 - t0, "final": t2 - t1, "fewshot": time.perf_counter() - t2})


def run(model, preprocess, params: Params, prepared: Prepared, device: str, *, name: str,
        head: str = "classifier", ks: Sequence[int | str] = KS, seeds: Sequence[int] = SEEDS,
        log10_min: float = sweep.LOG10_MIN, log10_max: float = sweep.LOG10_MAX,
        steps_per_decade: int = sweep.STEPS_PER_DECADE, max_iter: int = MAX_ITER,
        progress: bool = True) -> ProbeResult:
    """Features of the three splits by the frozen `model` (cached), then `evaluate`: the whole probe.

    `model`: a Hugging Face classifier (only the input of its head `head` is read) or a `clip` model;
    `preprocess`: its `Preprocess`; `name`: the artifact name (vit_linear, ...), also the cache's file name.
    `ks` (images per class, and "all"), `seeds`: the few-shot probes (`ks=()`: none); `log10_min`,
    `log10_max`, `steps_per_decade`: the strength grid; `max_iter`: L-BFGS iterations per fit.
    """
    t0 = time.perf_counter()
    weights = features.weights_key(model, head)  # the same frozen weights make all three splits
    feats = [cache.split_features(model, preprocess, params, prepared, split, device, name=name, head=head,
                                  progress=progress, weights=weights) for split in SPLITS]
    extracted = time.perf_counter() - t0
    result = evaluate(*feats, len(prepared.classes), name=name, device=device, ks=ks, seeds=seeds,
                      log10_min=log10_min, log10_max=log10_max, steps_per_decade=steps_per_decade, max_iter=max_iter)
    result.seconds = {"features": extracted, **result.seconds}
    return result


def linear(model_name: str, params: Params, prepared: Prepared, device: str, progress: bool = True) -> ProbeResult:
    """The linear probe of a registered model's pretrained backbone (`models.load`: the weights 02-04 start from,
    frozen), as the parameters say (`fewshot_k`, `fewshot_seeds`); its artifacts are `<model_name>_linear`."""
    name = models.artifact_name(model_name, "linear")
    fewest = int(prepared.split("train")["label"].value_counts().min())
    ks = [k for k in params.fewshot_ks if k <= fewest]
    if len(ks) < len(params.fewshot_ks):  # a scaled-down run: k images of a class it does not have
        print(f"{name}: no few-shot probe at k > {fewest}: the smallest class has {fewest} training images")
    model, preprocess = models.load(model_name, params, prepared.classes, device=device)
    head = getattr(models.spec(model_name).family, "head", "classifier")  # CLIP has none: its layer is fixed
    return run(model, preprocess, params, prepared, device, name=name, head=head,
               ks=(*ks, fewshot.ALL) if params.fewshot_ks else (), seeds=tuple(range(params.fewshot_seeds)),
               progress=progress)


def cross_entropy(result: ProbeResult) -> float:
    """Mean cross-entropy of the final probe on the test split."""
    probs = np.clip(result.test_probs[np.arange(len(result.test_labels)), result.test_labels], 1e-12, None)
    return float(-np.log(probs).mean())


def write_results(result: ProbeResult, params: Params, prepared: Prepared) -> dict[str, Any]:
    """Write predictions/<name>.parquet, metrics/<name>.json, tables/<name>_sweep, <name>_fewshot and
    <name>_fewshot_summary, figures/<name>_sweep and <name>_fewshot; return the metrics."""
    frame = metrics.predictions_frame(result.test_image_ids, result.test_labels, result.test_probs)
    artifacts.write_predictions(frame, result.name, params, num_classes=len(prepared.classes))
    chosen = result.sweep[result.sweep["chosen"]].iloc[0]
    row = {**metrics.summarize(result.test_labels, result.test_probs), "loss": cross_entropy(result),
           "probe": "logistic regression on frozen features (L-BFGS), L2 strength chosen on validation",
           "strength": result.strength, "C": logreg.inverse(result.strength), "val_top1": float(chosen["val_top1"]),
           "final_fit": "train+val", "final_iterations": result.final_iterations, "feature_dim": result.feature_dim,
           "layer": result.layer, **{f"n_{s}": result.shapes[s][0] for s in SPLITS},
           **{f"{k}_s": v for k, v in result.seconds.items()}}
    artifacts.write_metrics(row, result.name, params)
    artifacts.write_table(result.sweep, f"{result.name}_sweep", params, float_format="%.6g")
    _save(plots.sweep_figure(result.sweep, title=f"{result.name}: L2 strength on validation"), f"{result.name}_sweep",
          params)
    if len(result.fewshot):
        summary = result.fewshot_summary()
        artifacts.write_table(result.fewshot, f"{result.name}_fewshot", params, float_format="%.6g")
        artifacts.write_table(summary, f"{result.name}_fewshot_summary", params)
        _save(plots.fewshot_figure(summary, title=f"{result.name}: few-shot probes (test top-1)",
                                   num_classes=len(prepared.classes)), f"{result.name}_fewshot", params)
    else:  # no few-shot probes this time (fewshot_k ""): no earlier run's few-shot files stay behind to be read
        artifacts.remove_table(f"{result.name}_fewshot", params)
        artifacts.remove_table(f"{result.name}_fewshot_summary", params)
        figures.figure_path(f"{result.name}_fewshot", params).unlink(missing_ok=True)
    return row


def show_fewshot(result: ProbeResult, params: Params):
    """The few-shot figure of `result`, or a line saying there is none (`fewshot_k` empty)."""
    if not len(result.fewshot):
        return f"{result.name}: no few-shot probes (fewshot_k is empty)"
    return figures.show_saved(f"{result.name}_fewshot", params)


def _save(fig, name: str, params: Params) -> None:
    """Save a figure without showing it (the notebook shows it where it explains it)."""
    import matplotlib.pyplot as plt

    figures.save_figure(fig, name, params, show=False)
    plt.close(fig)
