"""Notebooks 02 and 03: fine-tuning, then scoring the test split (their linear probe is `foodlib.probe`'s).

    result = train.fit("vit", params, prepared, device=device)
    metrics = train.write_results(result, params, prepared, device)

  session      what a run starts from (`Session`), or a published fine-tune in its place
  result       what a run ends with (`TrainResult`)
  loop         `Trainer`: the loop, validation, best/last checkpoints, early stopping (one process)
  distributed  the same over `num_processes` processes (DDP, launched from the notebook kernel)
  schedule     what a run does: epochs, learning rate, warm-up and decay (`Plan`)
  sampling     seeded data order and augmentation, so a resumed run replays exactly
  scoring      `predict` over a split; `write_results`: predictions, metrics, history, curves
  plots        the training-curve figure
"""
from __future__ import annotations

from foodlib.config import Params
from foodlib.data.prepare import Prepared
from foodlib.train import distributed, loop, plots, session
from foodlib.train.result import TrainResult
from foodlib.train.sampling import EpochOrder, EpochSeeded, mix
from foodlib.train.schedule import Plan, make_plan
from foodlib.train.scoring import metrics_table, predict, write_results

__all__ = ["fit", "write_results", "metrics_table", "predict", "TrainResult", "Plan", "make_plan", "EpochOrder",
           "EpochSeeded", "mix", "plots"]


def fit(model_name: str, params: Params, prepared: Prepared, *, device: str, progress: bool = True) -> TrainResult:
    """Fine-tune (or resume, or reuse a finished run of) `model_name` on the prepared data, on `device`.

    The path is chosen here: with a published fine-tune (`<model_name>_finetuned`) the fine-tune is that
    checkpoint, evaluated instead of trained; with `num_processes > 1`, data-parallel processes train it;
    otherwise this process does.
    """
    published = params.finetuned(model_name)
    if published:
        return session.from_published(model_name, params, prepared, published, device)
    if params.num_processes > 1:  # the kernel launches the processes, then loads what they saved
        return distributed.fit(model_name, params, prepared, device, progress)
    return loop.fit(model_name, params, prepared, device, progress)
