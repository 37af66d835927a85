"""torch.compile for training and scoring, chosen by the `compile` parameter, with an eager fallback.

    enabled(setting, profile, device)   "auto" -> on for a GPU run of the full-scale profiles, else off
    maybe_compile(model, on)            the model itself (off), or a `Compiled` wrapper around it
    pad_batch(x, size)                  a short last batch padded to the compiled shape, + its real rows

Graphs are compiled with `dynamic=False`: one static graph per mode, the
fastest kind. A different batch size would compile again, so scoring pads its
last batch (`pad_batch`) and a training batch of another size runs eagerly.
"""
from __future__ import annotations

import time
import warnings
from typing import Any

import torch

SETTINGS = ("auto", "on", "off")
# Where "auto" turns compiling on: runs long enough (hours on a GPU) to repay a compile of a minute or
# two. On the CPU (smoke profile, tests) compiling would cost more than it saves, and needs a C compiler.
AUTO_PROFILES = ("full", "quick", "rehearsal")


def enabled(setting: str, profile: str, device: str) -> bool:
    """Whether `setting` (auto | on | off) compiles for this profile and device."""
    if setting not in SETTINGS:
        raise ValueError(f"compile must be one of {SETTINGS}, got {setting!r}")
    if setting == "auto":
        return device == "cuda" and profile in AUTO_PROFILES
    return setting == "on"


def _channels_last(a):
    """An image batch (4-D tensor) in channels-last layout; anything else as it is."""
    return a.contiguous(memory_format=torch.channels_last) if isinstance(a, torch.Tensor) and a.dim() == 4 else a


def _layouts(args: tuple, kwargs: dict) -> tuple:
    """Shapes and strides of the tensor arguments: what a dynamic=False graph is specialised to."""
    return tuple((tuple(a.shape), a.stride()) for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor))


class Compiled:
    """`model` behind `torch.compile(model, dynamic=False)`, called like the model.

    The first call in each mode (train or eval, with or without gradients)
    compiles for its input shapes; its time, compiling plus that first run, is
    added to `compile_s`. Later calls in the mode with other shapes (or
    strides) run the eager model instead of compiling again. Image batches
    (4-D tensors) are made channels-last first: the loader's batches come in
    either layout (its collate follows the first image), and each layout would
    be a graph of its own. If compiling fails, one warning says so and the
    eager model serves every call after (the failed attempt's time is in
    `compile_s` too).
    """

    def __init__(self, model, **options: Any):
        self.model = model
        self.compile_s = 0.0
        self.failed: str | None = None  # why compiling failed, once it has
        self._shapes: dict[tuple[bool, bool], tuple] = {}  # mode -> the input shapes compiled for
        self._compiled = None
        try:
            self._compiled = torch.compile(model, dynamic=False, **options)
        except Exception as exc:  # e.g. a Python version that dynamo does not support
            self._fail(exc)

    def __call__(self, *args, **kwargs):
        if self.failed:
            return self.model(*args, **kwargs)
        c_args, c_kwargs = tuple(map(_channels_last, args)), {k: _channels_last(v) for k, v in kwargs.items()}
        mode, shapes = (self.model.training, torch.is_grad_enabled()), _layouts(c_args, c_kwargs)
        if mode in self._shapes:
            if self._shapes[mode] == shapes:
                return self._compiled(*c_args, **c_kwargs)
            return self.model(*args, **kwargs)
        t0 = time.perf_counter()
        try:
            out = self._compiled(*c_args, **c_kwargs)
        except Exception as exc:  # no C compiler, an unsupported op, a backend error: eager still works
            self._fail(exc)
            out = self.model(*args, **kwargs)
        else:
            self._shapes[mode] = shapes
        self.compile_s += time.perf_counter() - t0
        return out

    def _fail(self, exc: Exception) -> None:
        root = getattr(exc, "inner_exception", None) or exc  # dynamo wraps a backend's error in its own
        lines = str(root).strip().splitlines()
        self.failed = f"{type(root).__name__}: {lines[0] if lines else ''}"[:300]
        warnings.warn(f"torch.compile failed, so {type(self.model).__name__} runs eagerly (slower, same results). "
                      f"The error: {self.failed}", RuntimeWarning, stacklevel=3)

    # What training and scoring ask of a model, passed through to the wrapped one.
    @property
    def training(self) -> bool:
        return self.model.training

    def train(self, mode: bool = True) -> "Compiled":
        self.model.train(mode)
        return self

    def eval(self) -> "Compiled":
        return self.train(False)


def maybe_compile(model, on: bool, **options: Any):
    """`Compiled(model)` when `on`, else `model` itself, untouched. `options` go to torch.compile."""
    return Compiled(model, **options) if on else model


def compile_seconds(model) -> float | None:
    """Seconds `model` (a `Compiled`) spent compiling so far; None for a model that is not compiled."""
    return model.compile_s if isinstance(model, Compiled) else None


def pad_batch(x: torch.Tensor, size: int) -> tuple[torch.Tensor, int]:
    """(`x` padded with zero rows to `size` rows, its number of real rows); a full batch comes back as is.

    The padded batch keeps `x`'s memory format (the loader's batches are channels-last): a compiled
    graph is specialised to strides as well as shapes.
    """
    n = len(x)
    if n >= size:
        return x, n
    channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    out = torch.empty((size, *x.shape[1:]), dtype=x.dtype, device=x.device,
                      memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    out[:n] = x
    out[n:] = 0
    return out, n
