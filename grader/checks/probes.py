"""Checks that probe a layer from outside, with crafted inputs or weights.

The block battery compares a learner's output with the data flow recomputed
from their own layers. Some properties are easier to show directly:

- a channel gate (squeeze-and-excitation style): observed as module(x) / x
  (`ratio`), it must lie in [0, 1] and be one value per channel
  (`channel_gate_check`, worded per module by `GateWords`); `pooled_mlp`
  recomputes its logits from the learner's own two layers, `numpy_gate` and
  `softmax_over` build the usual wrong gates from them;
- the hidden width of a reduction-ratio MLP, read from the built layer
  (`reduction_width_check`);
- the activation range: with large BatchNorm gains a ReLU6 (or any clip) shows;
- channel mixing: a depthwise layer keeps every channel to itself;
- a closed-form function of a few integers, against its formula, naming the
  usual wrong formulas when the learner's values match one;
- `prefixed`: a sub-module's checks under a name prefix, ahead of the block's.

Written once against the adapter (`ctx.A`); only numpy crosses it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..i18n import N_, _
from . import Check, CheckFailed, Context, close, fail, max_rel_diff
from .blocks import BlockSpec, Case, Flow, build, call_text, shown
from .mistakes import name_mistake

# -- a gate's logits, recomputed from the learner's layers ---------------------


def as_channels(A: Any, v: Any, ndim: int) -> Any:
    """(N, C) -> the (N, C, 1, 1) / (N, 1, 1, C) shape that broadcasts over positions."""
    spatial = (None,) * (ndim - 2)
    if A.channels_last:
        return v[(slice(None), *spatial, slice(None))]
    return v[(slice(None), slice(None), *spatial)]


def affine(A: Any, layer: Any, p: Any) -> Any:
    """A Linear/Dense or a 1x1 conv applied to pooled features in broadcast shape.

    Returns the affine part only: a Keras layer built with `activation="relu"`
    or `"sigmoid"` has it switched off for the call, since the flow applies
    the activations itself (and a ReLU twice is a ReLU once).
    """
    if layer is None:
        raise AttributeError("missing fc layer")
    fused = getattr(layer, "activation", None)
    if fused is not None:
        layer.activation = None
    try:
        if A.info(layer).kind == "linear":
            return as_channels(A, A.call(layer, A.flatten(p), False), len(p.shape))
        return A.call(layer, p, False)
    finally:
        if fused is not None:
            layer.activation = fused


def pooled_mlp(A: Any, module: Any, x: Any, squeeze: Callable[[Any], Any] | None = None,
               hidden: Callable[[Any], Any] | None = None,
               paths: tuple[str, str] = ("fc1", "fc2")) -> Any:
    """second(hidden(first(squeeze(x)))) with the learner's two layers at `paths`.

    `squeeze` defaults to the global average pool, `hidden` to a ReLU; the result
    is in broadcast shape, before any sigmoid: a channel gate's logits.
    """
    p = (squeeze or A.spatial_mean)(x)
    h = (hidden or A.relu)(affine(A, A.get(module, paths[0]), p))
    return affine(A, A.get(module, paths[1]), h)


def numpy_gate(logits: Callable[[Any, Any, Any], Any],
               fn: Callable[[np.ndarray], np.ndarray]) -> Flow:
    """A wrong gate, x * fn(z), with fn computed in numpy (float64) on the logits
    z = logits(A, module, x) in canonical (N, C, ...) layout."""

    def flow(A: Any, m: Any, x: Any, training: bool) -> Any:
        z = A.numpy(logits(A, m, x)).astype(np.float64)
        return x * A.tensor(fn(z).astype(np.float32))

    return flow


def softmax_over(axes: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """A numpy softmax over `axes` (canonical layout: 1 is the channels)."""

    def fn(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=axes, keepdims=True))
        return e / e.sum(axis=axes, keepdims=True)

    return fn


# -- a gate observed from outside -------------------------------------------------


def ratio(A: Any, block: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The learner's output and the gate it implies, out / x (x has no zeros)."""
    out = A.numpy(A.call(block, A.tensor(x), False)).astype(np.float64)
    if out.shape != x.shape:
        fail(_("The output has shape {shape}, not the input's {want}.").format(
            shape=shown(A, out.shape), want=shown(A, x.shape)))
    if not np.all(np.isfinite(out)):
        fail(_("The output contains NaN or inf for a finite input."))
    return out, out / x.astype(np.float64)


def signed_inputs(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """Values of magnitude 0.5..1.5 times `scale`, either sign: safe to divide by."""
    mag = rng.uniform(0.5, 1.5, shape) * scale
    return (mag * rng.choice([-1.0, 1.0], shape)).astype(np.float32)


def _no_hint(lo: float, hi: float) -> str:
    return ""


@dataclass(frozen=True)
class GateWords:
    """How `channel_gate_check` words its findings for one kind of channel gate."""

    # after "... varies over the positions of one channel: by d in channel c of sample n."
    per_channel: str
    # what the gate is the sigmoid of: "fc2's output"
    sigmoid_of: str
    # the remedy after "that is a softmax, which makes the channels compete."
    own_sigmoid: str = N_("Every channel gets its own sigmoid.")
    # more advice after a gate out of [0, 1], from its range (lo, hi); "" for none
    range_hint: Callable[[float, float], str] = _no_hint


def channel_gate_check(spec: BlockSpec, case: Case, words: GateWords,
                       name: str = "gate") -> Check:
    """The gate module(x) / x lies in [0, 1], is one value per channel (constant over
    the positions) and no softmax over the channels, at unit and at large inputs."""

    def run(ctx: Context) -> str:
        A = ctx.A
        rng = ctx.rng(5)
        block = build(ctx, spec, case)
        for scale in (1.0, 20.0):
            _out, g = ratio(A, block, signed_inputs(rng, case.in_shape, scale))
            flat = g.reshape(*g.shape[:2], -1)
            spread = flat.max(axis=2) - flat.min(axis=2)
            n, c = np.unravel_index(int(np.argmax(spread)), spread.shape)
            if spread[n, c] > 1e-5 * (1.0 + np.abs(g).max()):
                fail(
                    _("The gate (your output divided by the input) varies over the positions of "
                      "one channel: by {spread:.3g} in channel {c} of sample {n}.").format(
                        spread=spread[n, c], c=c, n=n) + " " + _(words.per_channel)
                )
            lo, hi = float(g.min()), float(g.max())
            if lo < -1e-6 or hi > 1.0 + 1e-5:
                fail(
                    _("The gate must lie in [0, 1] (a sigmoid of {of}); with inputs of magnitude up "
                      "to {top:g} yours ranges over [{lo:.4g}, {hi:.4g}].").format(
                        of=_(words.sigmoid_of), top=1.5 * scale, lo=lo, hi=hi)
                    + words.range_hint(lo, hi)
                )
            sums = flat[:, :, 0].sum(axis=1)
            if g.shape[1] > 1 and np.all(np.abs(sums - 1.0) < 1e-4):
                fail(_("The gates of each sample sum to 1 over the channels: that is a softmax, "
                       "which makes the channels compete.") + " " + _(words.own_sigmoid))
        return _("The gate lies in [0, 1] and is one value per channel, constant over the "
                 "positions, also for large inputs.")

    return Check(name, _("Gate: in [0, 1], one value per channel"), run, needs=("shapes",))


# -- the hidden width of a reduction-ratio MLP --------------------------------------


def reduction_width_check(
    spec: BlockSpec,
    cases: list[tuple[tuple[Any, ...], dict[str, Any], int]],
    formula: str = "max(1, channels // reduction)",
    default_reduction: int = 16,
    path: str = "fc1",
    name: str = "hidden",
) -> Check:
    """The layer at `path` has the expected number of outputs for each
    `(args, kwargs, width)`: args = (channels[, reduction]).

    No forward pass: the widths are known once the layers exist. The usual
    mistakes, `channels // reduction` without the floor of 1 and `channels *
    reduction`, are named.
    """

    def run(ctx: Context) -> str:
        A = ctx.A
        for args, kwargs, width in cases:
            case = Case(args, (2, args[0], 4, 4), kwargs=kwargs)
            text = call_text(spec, case)
            c = args[0]
            r = kwargs.get("reduction", args[1] if len(args) > 1 else default_reduction)
            try:
                block = build(ctx, spec, case, prepare=False)
            except CheckFailed:
                raise
            except Exception as exc:  # noqa: BLE001 - the learner's constructor may raise anything
                small = (" " + _("Here channels // reduction = {q}: keep at least one hidden unit, "
                                 "{formula} = {width}.").format(q=c // r, formula=formula, width=width)
                         if c // r == 0 else "")
                fail(_("`{call}` raised {type}: {error}.").format(
                    call=text, type=type(exc).__name__, error=exc) + small)
            got = A.info(A.get(block, path)).out_channels
            if got != width:
                why = ""
                if got == c // r:
                    why = " " + _("That is channels // reduction = {got}; with fewer channels than "
                                  "the reduction it must still be at least 1, hence "
                                  "max(1, ...).").format(got=got)
                elif got == c * r:
                    why = " " + _("The channels were multiplied by the reduction instead of divided.")
                elif "reduction" not in kwargs and len(args) == 1:
                    why = " " + _("This call leaves `reduction` out, so it takes its default, "
                                  "{default}; is the default in your signature {default}?").format(
                                      default=default_reduction)
                fail(_("`{call}`: {path} has {got} outputs; the hidden width is {formula} = {width}.").format(
                    call=text, path=path, got=got, formula=formula, width=width) + why)
        listed = _(", ").join(f"{call_text(spec, Case(a, (), kwargs=k))} -> {w}" for a, k, w in cases)
        return _("Hidden widths: {listed}.").format(listed=listed)

    return Check(name, _("Hidden width {formula}").format(formula=formula), run, needs=("api",))


# -- a sub-module's checks under a prefix ---------------------------------------


def prefixed(checks: list[Check], prefix: str, title: str) -> list[Check]:
    """`checks` renamed `prefix + name`, titled "`title`: ...", their needs renamed too.

    None is a gate: a broken sub-module skips its own checks, not those of what follows.
    """
    return [
        replace(c, name=prefix + c.name, title=f"{title}: {c.title}", gate=False,
                needs=tuple(prefix + n for n in c.needs))
        for c in checks
    ]


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
        for _path, bn in A.bn_layers(block):
            A.set_bn(bn, gamma=gain, beta=0.0, mean=0.0, var=1.0)
        x_np = (ctx.rng(7).normal(0.0, 1.0, case.in_shape) * 3.0).astype(np.float32)
        snap = A.snapshot(block)

        def flow_output(flow: Flow, training: bool) -> np.ndarray:
            A.restore(block, snap)
            A.set_mode(block, training)
            return A.numpy(flow(A, block, A.tensor(x_np), training))

        for training in (False, True):
            mode = _("train") if training else _("eval")
            A.restore(block, snap)
            A.set_mode(block, training)
            got = A.numpy(A.call(block, A.tensor(x_np), training))
            ref = flow_output(spec.flow, training)
            if close(got, ref):
                continue
            found = name_mistake(got, ((name, lambda f=flow, t=training: flow_output(f, t))
                                       for name, flow in wrong_flows.items()))
            why = (_("It matches: {mistake}.").format(mistake=_(found)) if found
                   else _("Something clips or saturates large values."))
            A.restore(block, snap)
            fail(
                _("With every BatchNorm's gamma set to {gain:g}, activations reach {top:.0f}, and "
                  "in {mode} mode `{call}` no longer matches the data flow (max relative "
                  "difference {diff:.2e}).").format(
                    gain=gain, top=float(np.abs(ref).max()), mode=mode, call=call_text(spec, case),
                    diff=max_rel_diff(got, ref))
                + " " + why + " "
                + _("The statement's activation is a plain ReLU, max(0, x), unbounded above; ReLU6 "
                    "(MobileNet's choice) clips at 6.")
            )
        A.restore(block, snap)
        return _("Matches the data flow with activations up to {top:.0f}: a plain ReLU.").format(
            top=float(np.abs(ref).max()))

    return Check("activation", _("Activations: ReLU, not ReLU6, at large values"), run,
                 needs=("function",))


# -- channel mixing: a depthwise layer keeps channels apart ------------------


def channelwise_check(spec: BlockSpec, case: Case, path: str, advice: str) -> Check:
    """Perturbing one input channel of `path` may change that output channel only."""

    def run(ctx: Context) -> str:
        A = ctx.A
        block = build(ctx, spec, case)
        layer = A.get(block, path)
        if layer is None:
            fail(_("`{path}` is missing.").format(path=path))
        rng = ctx.rng(8)
        c = case.in_shape[1]
        zero = np.zeros(case.in_shape, np.float32)
        base = A.numpy(A.call(layer, A.tensor(zero), False))
        if base.shape[1] != c:
            fail(_("`{path}` maps {c} channels to {got}; a depthwise conv keeps all {c} (one "
                   "filter per channel).").format(path=path, c=c, got=base.shape[1]) + " " + _(advice))
        for j in sorted({0, c // 2, c - 1}):
            x = zero.copy()
            x[:, j] = rng.normal(0.0, 1.0, x[:, j].shape)
            delta = np.abs(A.numpy(A.call(layer, A.tensor(x), False)) - base)
            moved = [k for k in range(c) if k != j and delta[:, k].max() > 1e-6 * (1 + delta.max())]
            if moved:
                shown_ = ", ".join(str(k) for k in moved[:6]) + (", ..." if len(moved) > 6 else "")
                fail(
                    _("Changing only input channel {j} of `{path}` changed its output channels "
                      "{moved} too: it mixes channels like a standard conv.").format(
                        j=j, path=path, moved=shown_) + " " + _(advice)
                )
        return _("`{path}` filters every channel on its own (no mixing across channels).").format(path=path)

    return Check(f"{path}_channels", _("`{path}` keeps the channels apart").format(path=path), run,
                 needs=("api",))


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

    A known wrong formula is named when it matches the learner's values at every
    case (one that raises at some case is passed over). `reference` and the wrong
    ones take positional arguments in the signature's order, keyword defaults
    filled in.
    """

    def text(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return f"{function}({', '.join(parts)})"

    def same(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-12)

    def same_everywhere(got: list[float], values: list[float]) -> bool:
        return all(same(g, v) for g, v in zip(got, values, strict=True))

    def run(ctx: Context) -> str:
        fn = ctx.get(function, "function")
        got: list[float] = []
        for args, kwargs in cases:
            try:
                value = fn(*args, **kwargs)
            except TypeError as exc:
                fail(_("`{call}` raised TypeError: {error}. The statement's signature is "
                       "`{signature}`.").format(call=text(args, kwargs), error=exc, signature=signature))
            try:
                got.append(float(value))
            except (TypeError, ValueError):
                fail(_("`{call}` returned {value} ({type}); expected a number (a float).").format(
                    call=text(args, kwargs), value=repr(value), type=type(value).__name__))
        wants = [reference(*args, **kwargs) for args, kwargs in cases]
        bad = [i for i, (g, w) in enumerate(zip(got, wants, strict=True)) if not same(g, w)]
        if not bad:
            return _("{n} cases equal {formula} (to a relative {tol:g}).").format(
                n=len(cases), formula=formula, tol=rel_tol)
        i = bad[0]
        found = name_mistake(
            got, ((label, lambda f=f: [f(*a, **k) for a, k in cases]) for label, f in wrong.items()),
            same=same_everywhere,
        )
        why = " " + _("Your values match {mistake}.").format(mistake=_(found)) if found else ""
        fail(
            _("`{call}` returned {got:.10g}; expected {formula} = {want:.10g}.").format(
                call=text(*cases[i]), got=got[i], formula=formula, want=wants[i])
            + why + " " + _("({bad} of {n} cases differ.)").format(bad=len(bad), n=len(cases))
        )

    return Check(name, _(title), run)


__all__ = [
    "GateWords", "activation_check", "affine", "as_channels", "channel_gate_check",
    "channelwise_check", "formula_check", "numpy_gate", "pooled_mlp", "prefixed", "ratio",
    "reduction_width_check", "relu6", "signed_inputs", "softmax_over",
]
