"""The reference schedule of 10, in plain Python: linear warmup, cosine decay, flat at min_lr,
and the configurations the checks run it with."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Schedule:
    total: int
    warmup: int
    base: float
    min_lr: float = 0.0
    default_min: bool = False  # a real optimizer gets the schedule with min_lr left out

    def min_lr_kwargs(self) -> dict:
        return {} if self.default_min else {"min_lr": self.min_lr}

    def min_lr_text(self) -> str:
        return "" if self.default_min else f", min_lr={self.min_lr:g}"

    def text(self) -> str:
        return (f"total_steps={self.total}, warmup_steps={self.warmup}, base_lr={self.base:g}, "
                f"min_lr={self.min_lr:g}")

    def steps(self, extra: int = 10) -> list[int]:
        return list(range(self.total + extra + 1))

    @property
    def tol(self) -> float:
        return 1e-5 * self.base + 1e-12


def warmup_cosine_ref(step: int, total: int, warmup: int, base: float, min_lr: float = 0.0) -> float:
    """Linear from 0 at step 0 to base at step `warmup`, cosine to min_lr at `total`, then flat."""
    if step < warmup:
        return base * step / warmup
    if step >= total:
        return min_lr
    progress = (step - warmup) / (total - warmup)
    return min_lr + (base - min_lr) * (1 + math.cos(math.pi * progress)) / 2


def reference(cfg: Schedule, steps: Sequence[int]) -> np.ndarray:
    """The reference LR at each of `steps`."""
    return np.array([warmup_cosine_ref(s, cfg.total, cfg.warmup, cfg.base, cfg.min_lr) for s in steps])


def matches(values: np.ndarray, want: np.ndarray, tol: float) -> bool:
    """The same curve: equal length, every step within `tol`."""
    return values.shape == want.shape and bool(np.all(np.abs(values - want) <= tol))
