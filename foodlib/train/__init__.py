"""Fine-tuning and linear probing (notebooks 02 and 03): `train.fit(params, model_name, prepared, variant)`.

  schedule     what a run does: epochs, learning rate, warm-up and decay (`Plan`)
  sampling     seeded data order and augmentation, so a resumed run replays exactly
  loop         `fit`: the loop, validation, best/last checkpoints, early stopping
  checkpoints  safetensors checkpoints and the state a resumed run continues from
  result       `TrainResult`, what `fit` returns
  distributed  `fit` data-parallel over `num_processes` processes (launched from the notebook kernel)
"""
from foodlib.train.loop import fit
from foodlib.train.result import TrainResult
from foodlib.train.sampling import EpochOrder, EpochSeeded, mix
from foodlib.train.schedule import Plan, make_plan

__all__ = ["fit", "TrainResult", "Plan", "make_plan", "EpochOrder", "EpochSeeded", "mix"]
