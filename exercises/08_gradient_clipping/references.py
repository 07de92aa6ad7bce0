"""The numpy side of 08: the reference norm and clipping, how two sets of gradients compare,
and the cases (gradients, max_norm, the exploding run) the framework drivers run.

Nothing here imports a framework.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_kata.checks import Context

Grads = list  # of np.ndarray, or None where a parameter has no gradient
INF = float("inf")


def total_norm(grads: Grads, p: float = 2.0) -> float:
    """The p-norm of every gradient element taken together (None entries skipped)."""
    flat = [np.abs(np.asarray(g, np.float64)).ravel() for g in grads if g is not None]
    if not flat:
        return 0.0
    v = np.concatenate(flat)
    if p == INF:
        return float(v.max(initial=0.0))
    return float(np.sum(v**p) ** (1.0 / p))


def signed_max(grads: Grads) -> float:
    """The largest element (signed): what an inf-norm without the absolute value gives."""
    flat = [np.asarray(g, np.float64).ravel() for g in grads if g is not None]
    return float(np.concatenate(flat).max()) if flat else 0.0


def scaled(grads: Grads, factor: float) -> Grads:
    """Every gradient times one factor, as float64 (None stays None)."""
    return [None if g is None else np.asarray(g, np.float64) * factor for g in grads]


def by_norm(grads: Grads, max_norm: float, norm: float) -> Grads:
    """Clipping by a given norm: the factor min(1, max_norm / norm) on every gradient."""
    return scaled(grads, min(1.0, max_norm / (norm + 1e-6)))


def per_tensor(grads: Grads, max_norm: float, p: float) -> Grads:
    """Each gradient clipped by its own norm."""
    return [None if g is None else by_norm([g], max_norm, total_norm([g], p))[0] for g in grads]


def per_tensor_sum(grads: Grads, p: float) -> float:
    """The sum of the per-tensor norms."""
    return float(sum(total_norm([g], p) for g in grads if g is not None))


def same(a: Grads, b: Grads, tol: float = 1e-5) -> bool:
    """The same list of gradients: None in the same places, equal shapes, values within `tol`."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if (x is None) != (y is None):
            return False
        if x is not None:
            x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
            if x.shape != y.shape or not np.all(np.isfinite(x)):
                return False
            if np.max(np.abs(x - y), initial=0.0) > tol * (1.0 + float(np.max(np.abs(y), initial=0.0))):
                return False
    return True


def random_grads(ctx: Context, salt: int, shapes: list[tuple[int, ...] | None], norm: float) -> Grads:
    """Random gradients (None where the shape is None) rescaled to a given total norm."""
    rng = ctx.rng(salt)
    grads = [None if s is None else rng.normal(0, 1, s) for s in shapes]
    factor = norm / total_norm(grads)
    return [None if g is None else (g * factor).astype(np.float32) for g in grads]


@dataclass
class Outcome:
    norm: Any  # what the function returned as the norm (None for clip-by-value)
    grads: Grads  # the gradients afterwards, as numpy
    moved: bool = False  # the parameters themselves changed


@dataclass
class Case:
    """One call of the learner's clipping: the gradients, the bound, how they are passed."""

    grads: Grads
    max_norm: float
    norm_type: Any = 2.0
    form: str = "list"  # list | tuple | single | generator

    def text(self, what: str = "max_norm") -> str:
        shapes = ", ".join("None" if g is None else str(tuple(int(d) for d in g.shape))
                           for g in self.grads)
        form = {
            "list": "a list of", "tuple": "a tuple of", "single": "one tensor (not in a list),",
            "generator": "a generator (as model.parameters() is) of",
        }[self.form]
        p = "" if self.norm_type == 2.0 else f", norm_type={self.norm_type!r}"
        norm = total_norm(self.grads, float(self.norm_type))
        return (
            f"on {form} {len(self.grads)} gradient(s) [{shapes}] of total norm {norm:.4g} with "
            f"{what}={self.max_norm}{p}"
        )


@dataclass
class Explode:
    """A deep linear net on badly scaled inputs: plain SGD at `lr` blows up."""

    depth: int = 6
    width: int = 16
    features: int = 8
    classes: int = 4
    n: int = 64
    x_scale: float = 10.0
    lr: float = 0.1
    steps: int = 25
    max_norm: float = 1.0

    def data(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        x = (rng.normal(0, 1, (self.n, self.features)) * self.x_scale).astype(np.float32)
        y = rng.integers(0, self.classes, self.n).astype(np.int64)
        dims = [self.features] + [self.width] * (self.depth - 1) + [self.classes]
        ws = [rng.normal(0, 1 / math.sqrt(a), (a, b)).astype(np.float32)
              for a, b in zip(dims[:-1], dims[1:], strict=True)]
        return x, y, ws
