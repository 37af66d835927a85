"""How this run stands against the published figures (notebook 05's `tables/published_comparison`).

Each model's published Food-101 top-1 is named once, in the registry (`registry.published`), with its
source and protocol. This sets the run's measured top-1 and its 95% interval beside each, with a verdict:
within the interval, or below / above it by so many points. A run on synthetic data is not comparable to
any figure measured on Food-101, and says so rather than give a number that pretends otherwise.
"""
from __future__ import annotations

import pandas as pd

from foodlib import registry
from foodlib.config import Params

COLUMNS = ["model", "measured_top1", "ci_low", "ci_high", "n", "published_top1", "source", "protocol", "this_run",
           "verdict"]


def figures(artifact: str, params: Params) -> tuple[list[registry.Published], bool]:
    """The published figures a run's artifact is set against, and whether the run reproduces one of them
    (a published fine-tune scored here: `<model>_finetuned` names the checkpoint of that card)."""
    model_name, variant = registry.split(artifact)
    if variant == "linear":
        return list(registry.published(model_name, params.clip_model, "linear")), False
    checkpoint = params.finetuned(model_name) if registry.spec(model_name).trainable else ""
    known = list(registry.published(model_name, params.clip_model))
    if checkpoint:
        return [f for f in known if f.checkpoint == checkpoint], True
    return known, False


def this_run(artifact: str, params: Params, n: int) -> str:
    """What the measured figure is: which protocol this run followed, on how many test images."""
    images = f"{n:,} test images ({params.profile} profile)"
    model_name, variant = registry.split(artifact)
    if variant == "linear":
        return (f"linear probe of the frozen pretrained backbone: logistic regression on its features, L2 strength "
                f"chosen on validation, refitted on train + validation; its own eval transform; {images}")
    if not registry.spec(model_name).trainable:
        return f"CLIP {params.clip_model}, prompt set '{params.clip_prompt_set}', zero-shot; {images}"
    if params.finetuned(model_name):
        return f"the published checkpoint {params.finetuned(model_name)}, scored here by its own protocol; {images}"
    return (f"fine-tuned here: {params.num_epochs} epochs, lr {params.lr:g}, batch {params.batch_size}; "
            f"scored by the checkpoint's own image processor; {images}")


def verdict(measured: tuple[float, float, float], published: float | None, params: Params, trained_here: bool) -> str:
    """'within the interval', 'below by N points', 'above by N points', or why the figures cannot be compared."""
    if params.data_source == "synthetic":
        return "not comparable: synthetic data"
    if published is None:
        return "no published figure for this model or checkpoint"
    if trained_here and params.subset_per_class > 0:
        return f"not comparable: trained on a subset ({params.subset_per_class} images per class)"
    top1, low, high = measured
    if low <= published <= high:
        return "within the interval"
    return f"{'below' if top1 < published else 'above'} by {100 * abs(top1 - published):.1f} points"


def published_table(headline: pd.DataFrame, params: Params, models=None) -> pd.DataFrame:
    """One row per (model, published figure) for the main models of `headline` (`headline_table`'s rows) and
    their linear probes."""
    rows = []
    for r in headline.itertuples():
        known = registry.split(r.model)
        if known is None or known[0] not in (models or registry.available()):
            continue
        model_name, variant = known
        found, reproduces = figures(r.model, params)
        trained_here = variant == "linear" or (registry.spec(model_name).trainable and not reproduces)
        measured = (r.top1, r.top1_ci_low, r.top1_ci_high)
        for fig in found or [None]:
            rows.append({
                "model": r.model, "measured_top1": r.top1, "ci_low": r.top1_ci_low, "ci_high": r.top1_ci_high,
                "n": r.n, "published_top1": None if fig is None else fig.top1,
                "source": "-" if fig is None else fig.source, "protocol": "-" if fig is None else fig.protocol,
                "this_run": this_run(r.model, params, r.n) + (" (reproduces this card)" if reproduces else ""),
                "verdict": verdict(measured, None if fig is None else fig.top1, params, trained_here),
            })
    return pd.DataFrame(rows, columns=COLUMNS)
