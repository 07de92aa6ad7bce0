"""The training check: a short seeded run that must reach a stated accuracy."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..i18n import _
from . import Context, fail

SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 40) -> str:
    """The loss curve in block characters (the report prints it after a run)."""
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return ""
    if len(vals) > width:
        step = len(vals) / width
        vals = [float(np.mean(vals[int(i * step) : int((i + 1) * step)])) for i in range(width)]
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / span * len(SPARK)))] for v in vals)


def curve(losses: list[float], points: int = 60) -> list[float]:
    if len(losses) <= points:
        return [round(v, 5) for v in losses]
    idx = np.linspace(0, len(losses) - 1, points).round().astype(int)
    return [round(losses[i], 5) for i in idx]


@dataclass
class Run:
    losses: list[float]
    accuracy: float
    seconds: float


def train_and_score(
    ctx: Context,
    model: Any,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    steps: int,
    batch: int,
    lr: float,
    target: float,
    what: str,
    params: Any = None,
    seed: int = 0,
    recalibrate: bool = True,
) -> Run:
    """Train `model` with Adam, then require `target` validation accuracy.

    With `recalibrate`, BN statistics are re-estimated on training data before
    the evaluation, so a short run is judged on what it learned rather than on
    how far a slow moving average got. Fails with what went wrong: a NaN loss, a loss that never moved, or an
    accuracy under the target. The loss curve goes into the check's details.
    """
    xtr, ytr, xva, yva = data
    start = time.perf_counter()

    def on_step(step: int, loss: float) -> None:
        ctx.progress(step=step, total=steps, loss=loss)

    losses = ctx.A.fit(model, xtr, ytr, steps, batch, lr, on_step=on_step, params=params, seed=seed)
    if recalibrate:
        ctx.A.recalibrate_bn(model, xtr[:512])
    acc = ctx.A.accuracy(model, xva, yva)
    seconds = time.perf_counter() - start
    chance = 1.0 / len(np.unique(ytr))
    ctx.details.update(
        loss_curve=curve(losses),
        accuracy=round(acc, 4),
        target=target,
        steps=steps,
        train_seconds=round(seconds, 2),
        device=getattr(ctx.A, "device_name", ""),
    )
    if not all(math.isfinite(v) for v in losses):
        first = next(i for i, v in enumerate(losses) if not math.isfinite(v))
        fail(
            _("The loss became {loss} at step {step} while training {what}. Something in the "
              "forward pass overflows or divides by zero (a missing BatchNorm, a bad "
              "initialisation, an activation applied twice).").format(
                loss=losses[first], step=first + 1, what=what)
        )
    head = float(np.mean(losses[: max(1, steps // 10)]))
    tail = float(np.mean(losses[-max(1, steps // 10) :]))
    if tail > head * 0.9:
        fail(
            _("The training loss barely moved ({head:.3f} -> {tail:.3f} over {steps} steps) "
              "while training {what}. Gradients are not reaching the weights: look for "
              "`.detach()`, `.data`, a numpy round trip or `tf.stop_gradient` in the forward "
              "pass, or a branch whose output is not used.").format(
                head=head, tail=tail, steps=steps, what=what)
        )
    if acc < target:
        fail(
            _("{what} reached {acc:.1%} validation accuracy after {steps} steps (chance is "
              "{chance:.0%}); the check needs {target:.0%}. The loss went {head:.3f} -> {tail:.3f}. "
              "If the function and gradient checks pass, look at what is different in train "
              "mode (BatchNorm, dropout) or at the output layer.").format(
                what=what, acc=acc, steps=steps, chance=chance, target=target, head=head, tail=tail)
        )
    return Run(losses, acc, seconds)
