"""Checks that probe a layer from outside, with crafted inputs or weights.

The block battery compares a learner's output with the data flow recomputed
from their own layers. Some properties are easier to show directly:

- a channel gate (squeeze-and-excitation): observed as se(x) / x, it must lie
  in [0, 1], be one value per channel, and depend on the spatial average only;
  `se_gate` recomputes it from the learner's own `fc1`/`fc2` for the battery;
- the activation range: with large BatchNorm gains a ReLU6 (or any clip) shows;
- channel mixing: a depthwise layer keeps every channel to itself;
- a closed-form function of a few integers, against its formula, naming the
  usual wrong formulas when the learner's values match one.

Written once against the adapter (`ctx.A`); only numpy crosses it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import Check, CheckFailed, Context, close, fail, max_rel_diff
from .blocks import BlockSpec, Case, Flow, block_checks, build, call_text, shown

# -- the squeeze-and-excitation gate, recomputed from the learner's layers -----


def _as_channels(A: Any, v: Any, ndim: int) -> Any:
    """(N, C) -> the (N, C, 1, 1) / (N, 1, 1, C) shape that broadcasts over positions."""
    spatial = (None,) * (ndim - 2)
    if A.channels_last:
        return v[(slice(None), *spatial, slice(None))]
    return v[(slice(None), slice(None), *spatial)]


def _fc(A: Any, layer: Any, p: Any) -> Any:
    """A Linear/Dense or a 1x1 conv applied to pooled features in broadcast shape.

    Returns the affine part only: a Keras layer built with `activation="relu"`
    or `"sigmoid"` has it switched off for the call, since the flow applies
    the ReLU and the sigmoid itself (and a ReLU twice is a ReLU once).
    """
    if layer is None:
        raise AttributeError("missing fc layer")
    fused = getattr(layer, "activation", None)
    if fused is not None:
        layer.activation = None
    try:
        if A.info(layer).kind == "linear":
            return _as_channels(A, A.call(layer, A.flatten(p), False), len(p.shape))
        return A.call(layer, p, False)
    finally:
        if fused is not None:
            layer.activation = fused


def se_logits(A: Any, se: Any, x: Any, squeeze: Callable[[Any], Any] | None = None,
              hidden: Callable[[Any], Any] | None = None) -> Any:
    """fc2(relu(fc1(avgpool(x)))), before the gate's sigmoid, in broadcast shape."""
    p = (squeeze or A.spatial_mean)(x)
    h = (hidden or A.relu)(_fc(A, A.get(se, "fc1"), p))
    return _fc(A, A.get(se, "fc2"), h)


def se_gate(A: Any, se: Any, x: Any) -> Any:
    return A.sigmoid(se_logits(A, se, x))


def se_scale(A: Any, se: Any, x: Any) -> Any:
    """What an SE module returns: x times its per-channel gate."""
    return x * se_gate(A, se, x)


def _numpy_gate(fn: Callable[[np.ndarray], np.ndarray]) -> Flow:
    """A wrong gate computed in numpy from the learner's logits (canonical (N, C, 1, 1))."""

    def flow(A: Any, se: Any, x: Any, training: bool) -> Any:
        z = A.numpy(se_logits(A, se, x)).astype(np.float64)
        return x * A.tensor(fn(z).astype(np.float32))

    return flow


def _softmax_channels(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _per_position(A: Any, se: Any, x: Any, training: bool) -> Any:
    """fc1/fc2 applied at every position: no squeeze, one gate per pixel."""
    xn = A.numpy(x)
    n, c = xn.shape[:2]
    pixels = np.moveaxis(xn, 1, -1).reshape(-1, c)[:, :, None, None]
    z = A.numpy(se_logits(A, se, A.tensor(pixels), squeeze=lambda t: t))[:, :, 0, 0]
    g = np.moveaxis(z.reshape(n, *xn.shape[2:], c), -1, 1)
    return x * A.tensor((1.0 / (1.0 + np.exp(-g))).astype(np.float32))


SE_WRONG_FLOWS: dict[str, Flow] = {
    "the squeeze takes the global maximum; SE squeezes with the global AVERAGE pool":
        lambda A, se, x, t: x * A.sigmoid(se_logits(A, se, x, squeeze=A.spatial_max)),
    "the gate is a ReLU instead of a sigmoid":
        lambda A, se, x, t: x * A.relu(se_logits(A, se, x)),
    "the gate is a softmax over the channels instead of a sigmoid per channel":
        _numpy_gate(_softmax_channels),
    "the gate is a hard sigmoid (ReLU6(z + 3) / 6); SE uses the logistic sigmoid":
        _numpy_gate(lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0)),
    "fc2's output multiplies x without any sigmoid":
        lambda A, se, x, t: x * se_logits(A, se, x),
    "the ReLU between fc1 and fc2 is missing":
        lambda A, se, x, t: x * A.sigmoid(se_logits(A, se, x, hidden=lambda h: h)),
    "the gate is added to x; SE multiplies x by it":
        lambda A, se, x, t: x + se_gate(A, se, x),
    "the gate is computed at every position (no squeeze): fc1 and fc2 must act on the "
    "globally pooled features, one gate per channel":
        _per_position,
}


# -- the checks of a standalone SE module -------------------------------------


@dataclass
class GateCases:
    """Where the SE probes look: (args, kwargs, expected hidden width) and two inputs."""

    hidden: list[tuple[tuple[Any, ...], dict[str, Any], int]]
    gate: Case  # probes the gate's range and that it is one value per channel
    squeeze: Case  # probes that only the per-channel average feeds the gate
    hidden_formula: str = "max(1, channels // reduction)"
    default_reduction: int = 16


def _ratio(A: Any, block: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The learner's output and the gate it implies, out / x (x has no zeros)."""
    out = A.numpy(A.call(block, A.tensor(x), False)).astype(np.float64)
    if out.shape != x.shape:
        fail(f"The output has shape {shown(A, out.shape)}, not the input's {shown(A, x.shape)}.")
    if not np.all(np.isfinite(out)):
        fail("The output contains NaN or inf for a finite input.")
    return out, out / x.astype(np.float64)


def _signed_inputs(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """Values of magnitude 0.5..1.5 times `scale`, either sign: safe to divide by."""
    mag = rng.uniform(0.5, 1.5, shape) * scale
    return (mag * rng.choice([-1.0, 1.0], shape)).astype(np.float32)


def _hidden(spec: BlockSpec, cases: GateCases) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        for args, kwargs, width in cases.hidden:
            case = Case(args, (2, args[0], 4, 4), kwargs=kwargs)
            text = call_text(spec, case)
            c = args[0]
            r = kwargs.get("reduction", args[1] if len(args) > 1 else cases.default_reduction)
            try:  # no forward pass: the widths are known once the layers exist
                block = build(ctx, spec, case, prepare=False)
            except CheckFailed:
                raise
            except Exception as exc:  # noqa: BLE001 - the learner's constructor may raise anything
                small = (f" Here channels // reduction = {c // r}: keep at least one hidden unit, "
                         f"{cases.hidden_formula} = {width}." if c // r == 0 else "")
                fail(f"`{text}` raised {type(exc).__name__}: {exc}.{small}")
            got = A.info(A.get(block, "fc1")).out_channels
            if got != width:
                why = ""
                if got == c // r:
                    why = (f" That is channels // reduction = {got}; with fewer channels than "
                           "the reduction it must still be at least 1, hence max(1, ...).")
                elif got == c * r:
                    why = " The channels were multiplied by the reduction instead of divided."
                fail(
                    f"`{text}`: fc1 has {got} outputs; the hidden width is "
                    f"{cases.hidden_formula} = {width}.{why}"
                )
        listed = ", ".join(f"{call_text(spec, Case(a, (), kwargs=k))} -> {w}"
                           for a, k, w in cases.hidden)
        return f"Hidden widths: {listed}."

    return run


def _se_shapes(spec: BlockSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        for case in spec.shape_cases:
            block = build(ctx, spec, case)
            x = ctx.rng().normal(0.0, 1.0, case.in_shape).astype(np.float32)
            out = A.call(block, A.tensor(x), False)
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


def _gate(spec: BlockSpec, case: Case) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        rng = ctx.rng(5)
        block = build(ctx, spec, case)
        for scale in (1.0, 20.0):
            x = _signed_inputs(rng, case.in_shape, scale)
            _, g = _ratio(A, block, x)
            spread = g.reshape(*g.shape[:2], -1)
            spread = spread.max(axis=2) - spread.min(axis=2)
            n, c = np.unravel_index(int(np.argmax(spread)), spread.shape)
            if spread[n, c] > 1e-5 * (1.0 + np.abs(g).max()):
                fail(
                    f"The gate (your output divided by the input) varies over the positions of "
                    f"one channel: by {spread[n, c]:.3g} in channel {c} of sample {n}. SE "
                    "computes ONE gate per channel from the globally average-pooled features "
                    "and scales every position of that channel by it; a gate per position "
                    "means the squeeze is missing or the gate was reshaped onto the wrong axes."
                )
            lo, hi = float(g.min()), float(g.max())
            if lo < -1e-6 or hi > 1.0 + 1e-5:
                fail(
                    f"The gate must lie in [0, 1] (a sigmoid of fc2's output); with inputs of "
                    f"magnitude up to {1.5 * scale:g} yours ranges over [{lo:.4g}, {hi:.4g}]. "
                    "Apply a sigmoid to fc2's output (a ReLU, tanh or no activation is not "
                    "a gate)."
                )
            sums = g.reshape(*g.shape[:2], -1)[:, :, 0].sum(axis=1)
            if g.shape[1] > 1 and np.all(np.abs(sums - 1.0) < 1e-4):
                fail(
                    "The gates of each sample sum to 1 over the channels: that is a softmax, "
                    "which makes the channels compete. SE gives every channel its own sigmoid."
                )
        return ("The gate lies in [0, 1] and is one value per channel, constant over the "
                "positions, also for large inputs.")

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
        _, g1 = _ratio(A, block, x1)
        _, g2 = _ratio(A, block, x2)
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


def _prefixed(checks: list[Check], prefix: str, title: str) -> list[Check]:
    # no gate: a broken module skips its own checks, not those of what follows
    return [
        replace(c, name=prefix + c.name, title=f"{title}: {c.title}", gate=False,
                needs=tuple(prefix + n for n in c.needs))
        for c in checks
    ]


def se_checks(spec: BlockSpec, cases: GateCases, prefix: str = "se_") -> list[Check]:
    """The battery for a standalone SE module, then the gate probes.

    `spec.flow` is normally `lambda A, b, x, t: se_scale(A, b, x)` and
    `spec.wrong_flows` `SE_WRONG_FLOWS`. Names carry `prefix` so that the
    block built from the module can use the battery's plain names after it.
    """
    battery = {c.name: c for c in block_checks(replace(spec, training=None, zero_branch=None))}
    battery["shapes"] = replace(battery["shapes"], run=_se_shapes(spec))
    own = [
        Check("hidden", f"Hidden width {cases.hidden_formula}", _hidden(spec, cases),
              needs=("api",)),
        Check("gate", "Gate: in [0, 1], one value per channel", _gate(spec, cases.gate),
              needs=("shapes",)),
        Check("squeeze", "Squeeze: the global average, not the max", _squeeze(spec, cases.squeeze),
              needs=("shapes",)),
    ]
    order = [battery["api"], own[0], battery["shapes"], battery["params"], battery["structure"],
             battery["function"], own[1], own[2], battery["gradients"]]
    return _prefixed(order, prefix, spec.cls)


# -- the activation range: ReLU, not ReLU6 ------------------------------------


def relu6(A: Any, t: Any) -> Any:
    return A.relu(t) - A.relu(t - 6.0)


def activation_check(spec: BlockSpec, case: Case, wrong_flows: dict[str, Flow],
                     gain: float = 10.0) -> Check:
    """The data flow again, with every BN's gamma at `gain` so activations pass 6.

    The function check's random statistics keep activations near unit scale,
    where a ReLU6 cannot be told from a ReLU; here they reach tens.
    """

    def run(ctx: Context) -> str:
        A = ctx.A
        block = build(ctx, spec, case)
        for _, bn in A.bn_layers(block):
            A.set_bn(bn, gamma=gain, beta=0.0, mean=0.0, var=1.0)
        x_np = (ctx.rng(7).normal(0.0, 1.0, case.in_shape) * 3.0).astype(np.float32)
        snap = A.snapshot(block)
        for training in (False, True):
            mode = "train" if training else "eval"
            A.restore(block, snap)
            A.set_mode(block, training)
            got = A.numpy(A.call(block, A.tensor(x_np), training))
            A.restore(block, snap)
            A.set_mode(block, training)
            ref = A.numpy(spec.flow(A, block, A.tensor(x_np), training))
            if close(got, ref):
                continue
            why = ""
            for name, flow in wrong_flows.items():
                A.restore(block, snap)
                A.set_mode(block, training)
                try:
                    if close(got, A.numpy(flow(A, block, A.tensor(x_np), training))):
                        why = f" It matches: {name}."
                        break
                except Exception:  # noqa: BLE001 - a wrong flow that does not apply here
                    continue
            A.restore(block, snap)
            fail(
                f"With every BatchNorm's gamma set to {gain:g}, activations reach "
                f"{float(np.abs(ref).max()):.0f}, and in {mode} mode `{call_text(spec, case)}` "
                f"no longer matches the data flow (max relative difference "
                f"{max_rel_diff(got, ref):.2e}).{why or ' Something clips or saturates large values.'}"
                " The statement's activation is a plain ReLU, max(0, x), unbounded above; "
                "ReLU6 (MobileNet's choice) clips at 6."
            )
        A.restore(block, snap)
        return f"Matches the data flow with activations up to {float(np.abs(ref).max()):.0f}: a plain ReLU."

    return Check("activation", "Activations: ReLU, not ReLU6, at large values", run,
                 needs=("function",))


# -- channel mixing: a depthwise layer keeps channels apart ------------------


def channelwise_check(spec: BlockSpec, case: Case, path: str, advice: str) -> Check:
    """Perturbing one input channel of `path` may change that output channel only."""

    def run(ctx: Context) -> str:
        A = ctx.A
        block = build(ctx, spec, case)
        layer = A.get(block, path)
        if layer is None:
            fail(f"`{path}` is missing.")
        rng = ctx.rng(8)
        c = case.in_shape[1]
        zero = np.zeros(case.in_shape, np.float32)
        base = A.numpy(A.call(layer, A.tensor(zero), False))
        if base.shape[1] != c:
            fail(f"`{path}` maps {c} channels to {base.shape[1]}; a depthwise conv keeps all "
                 f"{c} (one filter per channel). {advice}")
        for j in sorted({0, c // 2, c - 1}):
            x = zero.copy()
            x[:, j] = rng.normal(0.0, 1.0, x[:, j].shape)
            delta = np.abs(A.numpy(A.call(layer, A.tensor(x), False)) - base)
            moved = [k for k in range(c) if k != j and delta[:, k].max() > 1e-6 * (1 + delta.max())]
            if moved:
                shown_ = ", ".join(str(k) for k in moved[:6]) + (", ..." if len(moved) > 6 else "")
                fail(
                    f"Changing only input channel {j} of `{path}` changed its output channels "
                    f"{shown_} too: it mixes channels like a standard conv. {advice}"
                )
        return f"`{path}` filters every channel on its own (no mixing across channels)."

    return Check(f"{path}_channels", f"`{path}` keeps the channels apart", run, needs=("api",))


# -- a closed-form function of a few numbers ----------------------------------


def formula_check(
    name: str,
    title: str,
    function: str,
    signature: str,
    formula: str,
    reference: Callable[..., float],
    cases: list[tuple[tuple[Any, ...], dict[str, Any]]],
    wrong: dict[str, Callable[..., float]],
    rel_tol: float = 1e-9,
) -> Check:
    """The learner's `function` against `reference` at every case, to `rel_tol`.

    Known wrong formulas are named when they match the learner's values at every
    case where they apply. `reference` and the wrong ones take positional
    arguments in the signature's order, keyword defaults filled in.
    """

    def text(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return f"{function}({', '.join(parts)})"

    def same(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-12)

    def run(ctx: Context) -> str:
        fn = ctx.get(function, "function")
        got: list[float] = []
        for args, kwargs in cases:
            try:
                value = fn(*args, **kwargs)
            except TypeError as exc:
                fail(f"`{text(args, kwargs)}` raised TypeError: {exc}. The statement's "
                     f"signature is `{signature}`.")
            try:
                got.append(float(value))
            except (TypeError, ValueError):
                fail(f"`{text(args, kwargs)}` returned {value!r} ({type(value).__name__}); "
                     "expected a number (a float).")
        wants = [reference(*args, **kwargs) for args, kwargs in cases]
        bad = [i for i, (g, w) in enumerate(zip(got, wants, strict=True)) if not same(g, w)]
        if not bad:
            return f"{len(cases)} cases equal {formula} (to a relative {rel_tol:g})."
        i = bad[0]
        why = ""
        for label, f in wrong.items():
            try:
                if all(same(g, f(*a, **k)) for g, (a, k) in zip(got, cases, strict=True)):
                    why = f" Your values match {label}."
                    break
            except ArithmeticError:
                continue
        fail(
            f"`{text(*cases[i])}` returned {got[i]:.10g}; expected {formula} = {wants[i]:.10g}."
            f"{why} ({len(bad)} of {len(cases)} cases differ.)"
        )

    return Check(name, title, run)


__all__ = [
    "SE_WRONG_FLOWS", "GateCases", "activation_check", "channelwise_check", "formula_check",
    "relu6", "se_checks", "se_gate", "se_logits", "se_scale",
]
