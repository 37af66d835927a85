"""Multinomial logistic regression with an L2 penalty, fitted full-batch by L-BFGS in torch on any device.

The objective is scikit-learn's `LogisticRegression(C=C, solver="lbfgs")` for more than two classes
(softmax over all classes, an intercept per class that is fitted and not penalised):

    min_{W, b}  (1 / N) sum_i CE(W x_i + b, y_i)  +  (1 / (2 C N)) ||W||_F^2

scikit-learn (>= 1.4) minimises exactly this (`l2_reg_strength = 1 / (C * n_samples)` on the mean loss);
its documentation states the textbook form 0.5 ||W||^2 + C sum_i CE_i, the same divided by C N.

The CLIP paper (Radford et al. 2021, appendix A.3) sweeps "the L2 regularization strength lambda" with
scikit-learn's solver; scikit-learn calls C "the inverse of regularization strength", so here
lambda = 1 / C, i.e. the penalty is (lambda / 2) ||W||^2 against the SUM of the per-image losses. The
paper does not write the mapping out; its range 1e-6 .. 1e6 is symmetric in log10, so the grid of C is
the same set either way.

Solver: `torch.optim.LBFGS` with a strong-Wolfe line search (scikit-learn calls scipy's L-BFGS-B), history
10 (scipy's default), at most `max_iter` iterations (the paper: 1,000). It stops when the largest gradient
entry of the objective above is below `tol` (scikit-learn's `tol`, scipy's `gtol`, on the same mean form)
or the objective changes by less than `ftol` (scipy's default 2.2e-9). `tol` defaults to 1e-6, not
scikit-learn's 1e-4: on 7,200 x 768 random class-clustered features of 101 classes at lambda = 1
(tools/probe_bench.py's generator) 1e-4 stopped after 9 iterations with the objective 0.56% above its
float64 optimum, 1e-6 after 29 iterations 2e-6 above it, so the probe is the objective's minimiser rather
than where the solver happened to stop, and a warm start (`init`) hardly changes it. (The paper's
scikit-learn, before 1.4 rescaled the objective in its PR #26721, applied tol = 1e-4 to the sum form,
whose gradient is C N times this one: stricter than 1e-6 here where C N > 100, looser below.) Every
step is a fixed sequence of tensor operations: the same inputs give the same fit (tested on the CPU; on a
GPU as far as its matrix products are deterministic).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from foodlib import runtime

HISTORY = 10  # L-BFGS correction pairs: scipy's L-BFGS-B default (`maxcor`), which scikit-learn keeps
FTOL = 2.220446049250313e-09  # scipy's L-BFGS-B default `ftol` (factr 1e7 x machine epsilon)
TOL = 1e-6  # largest gradient entry at which a fit stops (see above)
# Objective evaluations allowed per iteration (line-search steps included): scipy's L-BFGS-B, which scikit-learn
# calls, allows 15,000 for its 1,000 iterations (`maxfun`); torch's default (1.25) can stop a fit silently first.
MAX_EVALS_PER_ITER = 15
# N x D x C below which a CPU fit runs on one thread: its ops are too small to split, and threads waiting for
# each other cost more (runtime.limit_threads). Measured per iteration, 2 threads -> 1, with other processes
# on the 2 cores: 343 x 64 x 10 (the smoke probe) 13.4 -> 0.8 ms, 2000 x 256 x 50 10.3 -> 3.1 ms.
ONE_THREAD_BELOW = 10**8


@dataclass
class Fit:
    """A fitted probe: logits = x @ weight.T + bias."""

    weight: torch.Tensor  # (C, D)
    bias: torch.Tensor  # (C,)
    strength: float  # lambda = 1 / C
    iterations: int  # L-BFGS iterations this fit took
    converged: bool  # stopped by a tolerance (gradient or objective change), not by max_iter or the evaluation cap
    objective: float  # the objective above at the end

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C) class scores of (N, D) features."""
        x = x.to(self.weight.device, self.weight.dtype)
        return torch.addmm(self.bias, x, self.weight.t())


def inverse(strength: float) -> float:
    """scikit-learn's C for a strength lambda (and lambda for a C): C = 1 / lambda."""
    return 1.0 / strength


def objective(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
              strength: float) -> torch.Tensor:
    """Mean cross-entropy plus (lambda / (2 N)) ||W||^2: scikit-learn's objective with C = 1 / lambda."""
    logits = torch.addmm(bias, x, weight.t())  # (N, C)
    return F.cross_entropy(logits, y) + (strength / (2 * len(x))) * weight.pow(2).sum()


def fit(x: torch.Tensor, y: torch.Tensor, num_classes: int, strength: float, *, init: Fit | None = None,
        max_iter: int = 1000, tol: float = TOL, ftol: float = FTOL) -> Fit:
    """Fit the probe to (N, D) features `x` and (N,) labels `y` (on their device, in their dtype).

    Starts from zero weights, or from `init` (a warm start). Stops at a largest gradient entry below `tol`, an
    objective change below `ftol`, or `max_iter` iterations. Returns the `Fit` with its iteration count.
    """
    if strength <= 0:
        raise ValueError(f"the L2 strength must be > 0, got {strength}")
    y = y.to(x.device, torch.long)
    weight = _start(init.weight if init else None, (num_classes, x.shape[1]), x)
    bias = _start(init.bias if init else None, (num_classes,), x)
    opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, max_eval=max_iter * MAX_EVALS_PER_ITER,
                            tolerance_grad=tol, tolerance_change=ftol, history_size=HISTORY,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective(weight, bias, x, y, strength)
        loss.backward()
        return loss

    small = x.device.type == "cpu" and x.numel() * num_classes < ONE_THREAD_BELOW
    with runtime.limit_threads(1) if small else contextlib.nullcontext():
        opt.step(closure)
    state = opt.state_dict()["state"][0]  # LBFGS keeps its counters with the first tensor
    iterations = int(state["n_iter"])
    stopped_by_tolerance = iterations < max_iter and int(state["func_evals"]) < max_iter * MAX_EVALS_PER_ITER
    with torch.no_grad():
        value = float(objective(weight, bias, x, y, strength))
    return Fit(weight.detach(), bias.detach(), float(strength), iterations, stopped_by_tolerance, value)


def _start(value: torch.Tensor | None, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """A fresh leaf tensor to optimise: a copy of `value` (warm start) or zeros, on `like`'s device and dtype."""
    if value is None:
        start = torch.zeros(shape, device=like.device, dtype=like.dtype)
    else:
        start = value.detach().to(like.device, like.dtype).clone()
    return start.requires_grad_(True)


@torch.no_grad()
def score(model: Fit, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(top-1, mean cross-entropy) of the probe on (N, D) features with (N,) labels."""
    logits = model.logits(x)
    y = y.to(logits.device, torch.long)
    return float((logits.argmax(dim=1) == y).float().mean()), float(F.cross_entropy(logits, y))
