"""BatchNorm in numpy: the two frameworks' conventions and the reference outputs and statistics.

Everything works on float64 arrays in the canonical (N, C, H, W) layout; the drivers
convert to and from the framework's tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_kata.checks import fmt_shape

AXES = (0, 2, 3)  # canonical batch, height, width: everything but the channels


@dataclass(frozen=True)
class Convention:
    """What differs between the frameworks' BatchNorm, as data."""

    cls: str  # the learner's class name
    ref: str  # the framework layer, for messages
    eps: float
    momentum: float
    eps_arg: str
    unbiased_running: bool  # torch stores the unbiased variance in running_var
    keeps_old: bool  # Keras: momentum weighs the OLD value; torch: the new batch statistic
    mean_name: str
    var_name: str
    train: str  # how train mode is asked for, for messages
    infer: str

    def update(self, old: np.ndarray, stat: np.ndarray, momentum: float, flipped: bool = False) -> np.ndarray:
        keeps_old = self.keeps_old != flipped
        if keeps_old:
            return momentum * old + (1.0 - momentum) * stat
        return (1.0 - momentum) * old + momentum * stat

    def rule(self) -> str:
        if self.keeps_old:
            return "new = momentum * old + (1 - momentum) * batch_stat"
        return "new = (1 - momentum) * old + momentum * batch_stat"


TORCH = Convention("BatchNorm2d", "nn.BatchNorm2d", 1e-5, 0.1, "eps", True, False,
                   "running_mean", "running_var", "model.train()", "model.eval()")
KERAS = Convention("BatchNorm", "keras.layers.BatchNormalization", 1e-3, 0.99, "epsilon", False, True,
                   "moving_mean", "moving_variance", "training=True", "training=False")


def convention(framework: str) -> Convention:
    return TORCH if framework == "torch" else KERAS


def channel(v: np.ndarray) -> np.ndarray:
    """A per-channel vector shaped (1, C, 1, 1), to broadcast against (N, C, H, W)."""
    return np.asarray(v, np.float64)[None, :, None, None]


def normalise(x: np.ndarray, mean: np.ndarray, var: np.ndarray, g: np.ndarray, b: np.ndarray,
              eps: float, how: str = "inside") -> np.ndarray:
    """gamma * x_hat + beta, with eps inside the root, outside it, absent, or no root at all."""
    if how == "inside":
        xh = (x - mean) / np.sqrt(var + eps)
    elif how == "outside":
        xh = (x - mean) / (np.sqrt(var) + eps)
    elif how == "none":
        xh = (x - mean) / np.sqrt(np.maximum(var, 1e-30))
    else:  # "no_sqrt": divided by the variance itself
        xh = (x - mean) / (var + eps)
    return xh * channel(g) + channel(b)


def np_train(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float, axes: Any = AXES,
             ddof: int = 0, how: str = "inside") -> np.ndarray:
    """Train mode: normalise with the batch's statistics over `axes`."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, ddof=ddof, keepdims=True)
    return normalise(x, mean, var, g, b, eps, how)


def np_eval(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float, rm: np.ndarray, rv: np.ndarray,
            how: str = "inside") -> np.ndarray:
    """Inference mode: normalise with the running statistics."""
    return normalise(np.asarray(x, np.float64), channel(rm), channel(rv), g, b, eps, how)


def batch_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel mean, biased and unbiased variance over (N, H, W)."""
    x = np.asarray(x, np.float64)
    n = x.size // x.shape[1]
    var = x.var(axis=AXES)
    return x.mean(axis=AXES), var, var * n / max(n - 1, 1)


def simulate(conv: Convention, batches: list[np.ndarray], momentum: float, *, flipped: bool = False,
             unbiased: bool | None = None, std: bool = False,
             n_batch_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The running mean and variance after training calls on `batches`, starting from 0 and 1.

    `flipped`, `unbiased`, `std` and `n_batch_only` give the wrong versions: the other momentum
    convention, the other variance, the standard deviation in place of the variance, the
    unbiased correction n / (n - 1) with n = N (the batch size) instead of N*H*W.
    """
    c = batches[0].shape[1]
    rm, rv = np.zeros(c), np.ones(c)
    unbiased = conv.unbiased_running if unbiased is None else unbiased
    for x in batches:
        mean, biased, unb = batch_stats(x)
        if n_batch_only:
            unb = biased * x.shape[0] / max(x.shape[0] - 1, 1)
        var = unb if unbiased else biased
        rm = conv.update(rm, mean, momentum, flipped)
        rv = conv.update(rv, np.sqrt(var) if std else var, momentum, flipped)
    return rm, rv


@dataclass
class Inputs:
    """One call of the layer: input, affine parameters, running statistics."""

    x: np.ndarray
    g: np.ndarray
    b: np.ndarray
    rm: np.ndarray
    rv: np.ndarray
    what: str

    def text(self) -> str:
        return f"on an input of shape {fmt_shape(self.x.shape)} (N, C, H, W){self.what}"
