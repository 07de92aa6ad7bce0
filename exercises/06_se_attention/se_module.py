"""The checks of the standalone SEBlock: the block battery, then its hidden width and gate probes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from resnet_kata.checks import Check, Context, close, fail
from resnet_kata.checks.blocks import BlockSpec, Case, block_checks, build, call_text, shown
from resnet_kata.checks.calls import exception_text, where
from resnet_kata.checks.probes import (
    GateWords,
    channel_gate_check,
    prefixed,
    ratio,
    reduction_width_check,
)

from .flows import se_logits

WORDS = GateWords(
    per_channel=(
        "SE computes ONE gate per channel from the globally average-pooled features and scales "
        "every position of that channel by it; a gate per position means the squeeze is missing "
        "or the gate was reshaped onto the wrong axes."
    ),
    sigmoid_of="fc2's output",
    own_sigmoid="SE gives every channel its own sigmoid.",
    range_hint=lambda lo, hi: (" Apply a sigmoid to fc2's output (a ReLU, tanh or no activation "
                               "is not a gate)."),
)


def _shapes(spec: BlockSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        for case in spec.shape_cases:
            block = build(ctx, spec, case, prepare=False)
            x = ctx.rng().normal(0.0, 1.0, case.in_shape).astype(np.float32)
            try:
                block = A.prepare(block, case.in_shape)
                out = A.call(block, A.tensor(x), False)
            except Exception as exc:  # noqa: BLE001 - the learner's forward may raise anything
                line = where(exc, ctx.module)
                hint = (" The gate has shape (N, C); reshape it to (N, C, 1, 1) in torch, "
                        "(N, 1, 1, C) in Keras, so that it broadcasts over height and width."
                        if "*" in line or "multiply" in line.lower() else "")
                fail(f"`{call_text(spec, case)}` on input {shown(A, case.in_shape)} raised "
                     f"{type(exc).__name__}: {exception_text(exc)}{line}.{hint}")
            if not A.is_tensor(out):
                fail(f"Calling `{call_text(spec, case)}` returned {type(out).__name__}, not a tensor.")
            got = A.numpy(out).shape
            if tuple(got) != tuple(case.in_shape):
                pooled = (case.in_shape[0], case.in_shape[1]) + (1,) * (len(case.in_shape) - 2)
                hint = (" That is the gate's shape: return the input multiplied by the gate."
                        if tuple(got) in (pooled, pooled[:2]) else "")
                fail(
                    f"`{call_text(spec, case)}` on input {shown(A, case.in_shape)} returned "
                    f"{shown(A, got)}; an SE module returns its input's shape, rescaled "
                    f"channel by channel.{hint}"
                )
        return f"{len(spec.shape_cases)} input shapes, including batch 1, 1x1 and odd sizes."

    return run


def _squeeze(spec: BlockSpec, case: Case) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        rng = ctx.rng(6)
        block = build(ctx, spec, case)
        x1 = rng.uniform(0.5, 1.5, case.in_shape).astype(np.float32)
        axes = tuple(range(2, x1.ndim))
        mean = x1.mean(axis=axes, keepdims=True)
        # the same per-channel average, a different spread (and maximum)
        x2 = (mean + 0.2 * (x1 - mean)).astype(np.float32)
        _, g1 = ratio(A, block, x1)
        _, g2 = ratio(A, block, x2)
        first = g1.reshape(*g1.shape[:2], -1)[:, :, 0]
        second = g2.reshape(*g2.shape[:2], -1)[:, :, 0]
        if not close(first, second, tol=1e-4):
            xt = A.tensor(x1)
            by_max = A.numpy(A.sigmoid(se_logits(A, block, xt, squeeze=A.spatial_max)))
            by_max = by_max.reshape(*by_max.shape[:2])
            why = (" They match a gate computed from the global MAXIMUM of each channel: "
                   "squeeze with the global average pool instead."
                   if close(first, by_max, tol=1e-4) else "")
            fail(
                "Two inputs with the same per-channel average but a different spread got "
                f"different gates (max difference {np.abs(first - second).max():.3g}). SE's "
                "squeeze is the global AVERAGE over height and width, so only the average "
                f"may reach fc1.{why}"
            )
        return "The gate depends on the per-channel spatial average only (a global average pool)."

    return run


def _width_rounding(spec: BlockSpec, width: Check,
                    cases: list[tuple[tuple[Any, ...], dict[str, Any], int]]) -> Check:
    """The hidden-width check, first asking the cases where channels do not divide by the
    reduction whether the width was rounded up (ceil, round) instead of down."""

    def run(ctx: Context) -> str:
        A = ctx.A
        for args, kwargs, want in cases:
            case = Case(args, (2, args[0], 4, 4), kwargs=kwargs)
            c, r = args[0], kwargs.get("reduction", 16)
            if c % r == 0 or c // r == 0:
                continue
            try:
                block = build(ctx, spec, case, prepare=False)
            except Exception:  # noqa: BLE001 - the width check reports a constructor that raises
                break
            got = A.info(A.get(block, "fc1")).out_channels
            if got != want and got in (-(-c // r), round(c / r)):
                fail(
                    f"`{call_text(spec, case)}`: fc1 has {got} outputs; {c} / {r} = {c / r:g} was "
                    f"rounded UP. The hidden width rounds down, max(1, channels // reduction) = "
                    f"{want} (integer division, not math.ceil or round)."
                )
        return width.run(ctx)

    return replace(width, run=run)


def se_checks(spec: BlockSpec, hidden: list[tuple[tuple[Any, ...], dict[str, Any], int]],
              gate: Case, squeeze: Case, prefix: str = "se_") -> list[Check]:
    """The battery for the standalone SE module, then the gate probes.

    `hidden` lists (args, kwargs, expected hidden width); `gate` probes the gate's range
    and that it is one value per channel, `squeeze` that only the per-channel average
    feeds it. Names carry `prefix` so that the block built from the module can use the
    battery's plain names after it.
    """
    battery = {c.name: c for c in block_checks(replace(spec, training=None, zero_branch=None))}
    battery["shapes"] = replace(battery["shapes"], run=_shapes(spec))
    order = [
        battery["api"],
        _width_rounding(spec, reduction_width_check(spec, hidden), hidden),
        battery["shapes"], battery["params"], battery["structure"], battery["function"],
        channel_gate_check(spec, gate, WORDS),
        Check("squeeze", "Squeeze: the global average, not the max", _squeeze(spec, squeeze),
              needs=("shapes",)),
        battery["gradients"],
    ]
    return prefixed(order, prefix, spec.cls)
