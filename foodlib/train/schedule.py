"""What one training run does, derived from the parameters: epochs, learning rate and its schedule."""
from __future__ import annotations

import math
from dataclasses import dataclass

from foodlib.config import Params

# Linear probe without weight decay and without TrivialAugment (crop + flip only), as in MAE's
# linear-probing recipe (He et al. 2022, "Masked Autoencoders Are Scalable Vision Learners", appendix A.2).
LINEAR_WEIGHT_DECAY = 0.0


@dataclass
class Plan:
    """What one training run does: derived from the parameters and the variant."""

    variant: str
    epochs: int
    lr: float
    weight_decay: float
    augment: bool
    steps_per_epoch: int

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def lr_at(self, step: int, warmup_ratio: float) -> float:
        """Linear warm-up, then linear decay to 0 (the schedule of the cited recipes)."""
        warmup = max(1, round(warmup_ratio * self.total_steps))
        if step < warmup:
            return self.lr * (step + 1) / warmup
        return self.lr * max(0.0, (self.total_steps - step) / max(1, self.total_steps - warmup))


def make_plan(params: Params, variant: str, num_train: int) -> Plan:
    steps = math.ceil(num_train / params.batch_size)
    if variant == "linear":
        return Plan(variant, params.linear_probe_epochs, params.linear_probe_lr, LINEAR_WEIGHT_DECAY, False, steps)
    return Plan(variant, params.num_epochs, params.lr, params.weight_decay, params.augment, steps)
