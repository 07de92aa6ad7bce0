"""The items graded alike in both frameworks: a repaired residual block, a repaired warmup schedule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_kata.checks import CheckFailed, Context, fail
from resnet_kata.checks.blocks import BlockSpec, Case, block_checks, build, call_text, shown
from resnet_kata.checks.calls import where

from .calling import attempt, reason
from .driver_tf import keras_warmup
from .driver_torch import torch_warmup
from .mistakes import warmup_mistake
from .references import Warmup

# -- residual blocks (both frameworks) -------------------------------------------


@dataclass
class BlockItem:
    """A block the learner repairs, graded by parts of the block battery.

    Every shape case is first built and called here, so that a crash or a wrong
    shape is reported with the item's own diagnosis; then the battery's `parts`
    run in order (structure, params, function, gradients, identity).
    """

    spec: BlockSpec
    crash: Callable[[Case, str], str]  # (case, reason) -> the likely mistake
    shape: Callable[[Case, tuple[int, ...]], str]  # (case, canonical shape got) -> likely mistake
    lesson: str
    parts: tuple[str, ...] = ("structure", "params", "function", "gradients", "identity")


def block_item(item: BlockItem) -> Callable[[Context], str]:
    battery = {c.name: c.run for c in block_checks(item.spec)}

    def run(ctx: Context) -> str:
        A = ctx.A
        for case in item.spec.shape_cases:
            text = call_text(item.spec, case)
            block = build(ctx, item.spec, case, prepare=False)
            x = A.tensor(ctx.rng().normal(0.0, 1.0, case.in_shape).astype(np.float32))

            def forward(b: Any = block, x: Any = x, case: Case = case) -> Any:
                b = A.prepare(b, case.in_shape)
                A.set_mode(b, False)
                return A.call(b, x, False)

            out = attempt(ctx, text, forward, case=f"on a {shown(A, case.in_shape)} input",
                          advice=lambda why, case=case: item.crash(case, why))
            if not A.is_tensor(out):
                fail(f"`{text}` returned {type(out).__name__}, not a tensor.")
            got = tuple(A.numpy(out).shape)
            if got != tuple(case.out_shape):
                fail(f"`{text}` returned {shown(A, got)} for a {shown(A, case.in_shape)} input; "
                     f"expected {shown(A, case.out_shape)}. " + item.shape(case, got))
        for part in item.parts:
            try:
                battery[part](ctx)
            except (CheckFailed, NotImplementedError):
                raise
            except Exception as exc:  # noqa: BLE001
                fail(f"Checking the block's {part} raised {reason(exc)}{where(exc, ctx.module)}.")
        return item.lesson

    return run


# -- learning-rate warmup per epoch (both frameworks) ----------------------------


def _values(xs: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in xs) + "]"


def warmup_item(name: str, configs: Sequence[Warmup], lesson: str) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        for cfg in configs:
            want = cfg.ref()
            if ctx.framework == "torch":
                values, direct = torch_warmup(ctx, name, cfg), None
            else:
                values, direct = keras_warmup(ctx, name, cfg)
            tol = 1e-6 * cfg.base
            if not all(abs(a - b) <= tol for a, b in zip(values, want, strict=True)):
                fail(f"With {cfg.text()}, epochs 0-{cfg.epochs - 1} train at {_values(values)}; "
                     f"expected {_values(want)}. " + warmup_mistake(values, cfg))
            if direct is not None and not all(abs(a - b) <= tol for a, b in zip(direct, want, strict=True)):
                fail(f"With {cfg.text()}, epochs run in order get the right rates, but called "
                     f"directly (last epoch first, with an unrelated lr) the schedule gives "
                     f"{_values(direct)}; expected {_values(want)}. Your schedule multiplies the "
                     "`lr` it is given, so its value depends on the history: compute the rate "
                     "from the epoch alone (resuming at a later epoch then works too).")
        return lesson

    return run
