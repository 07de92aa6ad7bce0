"""What the repaired answers of 16_spot_the_bug must compute: the warmup table, global-norm clipping."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def warmup_ref(epoch: int, base: float, warmup: int, decay: float) -> float:
    """Linear warmup reaching `base` at epoch warmup-1, then `decay` per epoch."""
    return base * min((epoch + 1) / warmup, decay ** (epoch + 1 - warmup))


@dataclass(frozen=True)
class Warmup:
    base: float
    warmup: int
    decay: float
    epochs: int = 10
    defaults: bool = False  # warmup_epochs and decay left out: the call relies on 5 and 0.5

    def text(self) -> str:
        left = " (both left to their defaults)" if self.defaults else ""
        return f"base_lr={self.base:g}, warmup_epochs={self.warmup}, decay={self.decay:g}{left}"

    def kwargs(self) -> dict:
        return {} if self.defaults else {"warmup_epochs": self.warmup, "decay": self.decay}

    def ref(self) -> list[float]:
        return [warmup_ref(e, self.base, self.warmup, self.decay) for e in range(self.epochs)]


def global_norm(ws: list[np.ndarray]) -> float:
    """The L2 norm of all tensors together."""
    return float(np.sqrt(sum(float(np.sum(np.square(w, dtype=np.float64))) for w in ws)))


def clip_global(g: list[np.ndarray], c: float) -> list[np.ndarray]:
    """The gradients scaled down to a global norm of at most c (tf.clip_by_global_norm)."""
    norm = global_norm(g)
    return [t * (c / max(norm, c)) for t in g]


def clipped_update(w: list[np.ndarray], g: list[np.ndarray], lr: float, c: float) -> list[np.ndarray]:
    """One plain SGD step on the gradients clipped to a global norm of c."""
    return [a - lr * b for a, b in zip(w, clip_global(g, c), strict=True)]
