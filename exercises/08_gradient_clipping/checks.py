"""Checks for 08_gradient_clipping: clipping by global norm (and by value) from scratch.

These checks grade functions, not layers. The grader hands real tensors to the
learner's code and compares what comes back with the framework's own clipping;
when they differ, the result is matched against named wrong variants computed
in numpy (`mistakes`), so the message can say which mistake it looks like. The
drivers (`driver_torch`, `driver_tf`) import their framework inside their
functions, so a torch check never loads TensorFlow and the reverse.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from resnet_kata.checks import Check, Context, fail, fmt_shape
from resnet_kata.checks.calls import library_message, require, returned_number

from . import driver_tf, driver_torch
from .mistakes import CLIP_MISTAKES, clip_mistake, norm_mistake, value_mistake
from .references import INF, Case, Explode, Outcome, by_norm, random_grads, same, total_norm

# A 6-layer linear net on inputs scaled by 10: plain SGD at 0.1 overflows within
# ten steps; clipped to norm 1, every step moves the weights by at most 0.1.
EXPLODE = Explode(depth=6, width=16, x_scale=10.0, lr=0.1, steps=25, max_norm=1.0)

SHAPES = [(4, 3), (5,), (2, 3, 3), (1,)]


def _driver(ctx: Context) -> Any:
    return driver_torch.TorchClip(ctx) if ctx.framework == "torch" else driver_tf.TfClip(ctx)


def _judge(drv: Any, case: Case, got: Outcome, advice: str = "") -> None:
    """Fail unless the learner's result equals the framework's own function's."""
    p = float(case.norm_type)
    want_norm, want = drv.library(case)
    if got.moved:
        fail(
            f"`{drv.fn}` changed the parameters themselves {case.text()}. Clipping scales "
            "the gradients (p.grad); the optimizer's step comes later."
        )
    for i, (g, w) in enumerate(zip(got.grads, want, strict=True)):
        if g is None and w is not None:
            fail(f"Gradient {i} came back as None {case.text()}; only None inputs stay None.")
        if g is not None and w is None:
            fail(
                f"Gradient {i} was None and came back as a tensor {case.text()}. Leave None "
                "entries alone (a parameter without a gradient is skipped by the optimizer) "
                "and compute the norm over the others."
            )
        if g is not None and g.shape != w.shape:
            fail(f"Gradient {i} came back with shape {fmt_shape(g.shape)}, not {fmt_shape(w.shape)}.")
    if not same(got.grads, want):
        why = clip_mistake(got.grads, case.grads, case.max_norm, p, want)
        if hasattr(drv, "weights"):
            by_weights = by_norm(case.grads, case.max_norm, total_norm(drv.weights(case), p))
            if same(got.grads, by_weights, 1e-4):
                why = ("the factor came from the norm of the parameters themselves (p), not of "
                       "their gradients (p.grad)")
        if why == CLIP_MISTAKES["unchanged"][1] and not advice:
            why += drv.unchanged_note
        fail(
            f"After `{drv.fn}` {case.text()}, the gradients differ from the framework's own "
            f"clipping: {why}." + (f" {advice}" if advice else ""),
            expected_norm=want_norm,
        )
    norm = returned_number(got.norm, drv.fn, "the total norm of the gradients before clipping")
    if abs(norm - want_norm) > 1e-4 * (1.0 + want_norm):
        fail(
            f"`{drv.fn}` returned the norm {norm:.6g} {case.text()}; the total norm before "
            f"clipping is {want_norm:.6g}. {norm_mistake(norm, case.grads, case.max_norm, p)}",
            returned=norm,
            expected=want_norm,
        )


def clip_api(ctx: Context) -> str:
    if ctx.framework == "torch":
        require(ctx, "clip_grad_norm", "function", "clip_grad_norm(parameters, 1.0, norm_type=2.0)",
                ([], 1.0), {"norm_type": 2.0})
        require(ctx, "clip_grad_value", "function", "clip_grad_value(parameters, 0.5)", ([], 0.5))
        return "`clip_grad_norm(parameters, max_norm, norm_type=2.0)` and `clip_grad_value` exist."
    require(ctx, "clip_by_global_norm", "function", "clip_by_global_norm(grads, 1.0)", ([], 1.0))
    require(ctx, "train_step", "function", "train_step(model, optimizer, x, y, 1.0)",
            (None, None, None, None, 1.0))
    return "`clip_by_global_norm(grads, max_norm)` and `train_step(model, optimizer, x, y, max_norm)` exist."


def from_scratch(ctx: Context) -> str:
    """No call into the framework's own clipping while the learner's functions run."""
    drv = _driver(ctx)
    case = Case(random_grads(ctx, 1, SHAPES, 5.0), 1.0)
    if ctx.framework == "torch":
        advice = (
            "Compute each gradient's norm (torch.linalg.vector_norm), the norm of those norms, "
            "and scale every p.grad in place."
        )
        with drv.watched() as calls:
            drv.learner(case)
        if calls:
            fail(library_message("clip_grad_norm", calls, advice), calls=calls)
        with drv.watched() as calls:
            drv.learner(case, "clip_grad_value", 0.5)
        if calls:
            fail(library_message("clip_grad_value", calls, "Clamp each p.grad in place."),
                 calls=calls)
        return "Neither function calls torch.nn.utils' clipping."
    advice = (
        "Sum the squares of every gradient (tf.reduce_sum(tf.square(g))), take the square "
        "root, and multiply each gradient by max_norm / max(norm, max_norm)."
    )
    with drv.watched() as calls:
        drv.learner(case)
    if calls:
        fail(library_message("clip_by_global_norm", calls, advice), calls=calls)
    with drv.watched() as calls:
        driver_tf.train_step_once(ctx, driver_tf.TRAIN, max_norm=0.1)
    if calls:
        fail(library_message("train_step", calls, "Clip with your own clip_by_global_norm."),
             calls=calls)
    return "Neither function calls tf.clip_by_global_norm, tf.clip_by_norm or tf.linalg.global_norm."


def clip_global_norm(ctx: Context) -> str:
    """Above the bound: every gradient scaled by one factor; the pre-clip norm returned."""
    drv = _driver(ctx)
    for salt, norm, max_norm in ((1, 5.0, 1.0), (2, 40.0, 3.0)):
        case = Case(random_grads(ctx, salt, SHAPES, norm), max_norm)
        _judge(drv, case, drv.learner(case))
    return (
        "Above max_norm every gradient is scaled by the same factor, max_norm / total_norm: "
        "the direction is kept; the norm before clipping is returned."
    )


def clip_under_bound(ctx: Context) -> str:
    """Under the bound: bit for bit unchanged. max_norm is a power of two, so any formula
    whose factor is 1 (min(1, m/n), m / max(n, m), g * m / m) is exact."""
    drv = _driver(ctx)
    case = Case(random_grads(ctx, 3, SHAPES, 3.0), 8.0)
    got = drv.learner(case)
    _judge(drv, case, got)
    changed = [i for i, (g, o) in enumerate(zip(got.grads, case.grads, strict=True))
               if not np.array_equal(g, o)]
    if changed:
        rescaled = CLIP_MISTAKES["always_rescaled"][0](case.grads, case.max_norm, 2.0)
        why = (
            "they were scaled UP to norm max_norm. Clipping only ever shrinks: the factor is "
            "min(1, max_norm / total_norm)"
            if same(got.grads, rescaled, 1e-4) else
            "they changed by rounding. When the norm is at most max_norm, leave them as they "
            "are (or multiply by exactly 1.0)"
        )
        fail(
            f"The gradients were already under the bound {case.text()}, yet gradient(s) "
            f"{changed} changed: {why}."
        )
    return "Gradients already under max_norm come back bit for bit unchanged."


def clip_none_grads(ctx: Context) -> str:
    drv = _driver(ctx)
    skip = (
        "Skip parameters whose .grad is None when computing the norm and when scaling."
        if ctx.framework == "torch" else
        "Compute the norm over the entries that are not None and return None where the input was None."
    )
    case = Case(random_grads(ctx, 4, [(3, 3), None, (4,), None], 6.0), 2.0)
    _judge(drv, case, drv.learner(case, advice=skip), skip)
    empty = Case([None, None], 1.0)
    nothing = ("With every gradient None there is nothing to measure or scale: return a norm of 0 "
               "and leave the Nones as they are (a sum or stack of an empty list fails).")
    got = drv.learner(empty, advice=nothing)
    if any(g is not None for g in got.grads):
        fail(f"With every gradient None, `{drv.fn}` must leave them None; it did not. {skip}")
    norm = returned_number(got.norm, drv.fn, "the total norm (0 when every gradient is None)")
    if norm != 0.0:
        fail(f"With every gradient None, `{drv.fn}` returned the norm {norm}; it must be 0. {skip}")
    return "None gradients are skipped and stay None; with none at all the norm is 0."


def clip_norm_type(ctx: Context) -> str:
    drv = _driver(ctx)
    grads = random_grads(ctx, 5, SHAPES, 5.0)
    advice = "float('inf') and the string 'inf' both mean the largest absolute element: float(norm_type)."
    for norm_type, max_norm in ((INF, 0.5), ("inf", 0.5), (1.0, 2.0)):
        case = Case(grads, max_norm, norm_type)
        _judge(drv, case, drv.learner(case, advice=advice), advice if norm_type == "inf" else "")
    return "norm_type=inf (also as 'inf': the largest absolute element) and norm_type=1 agree with torch."


def clip_inputs(ctx: Context) -> str:
    drv = _driver(ctx)
    if ctx.framework == "torch":
        cases = [
            ("single", [(6, 4)],
             "A single tensor counts as [tensor]; iterating over a tensor walks its rows."),
            ("generator", SHAPES,
             "A generator can be iterated once: turn `parameters` into a list first, or your "
             "second loop (the scaling) sees nothing."),
            ("tuple", SHAPES, ""),
        ]
        said = "a single tensor, a generator and a tuple"
    else:
        cases = [("tuple", SHAPES, "Accept any sequence of gradients."), ("list", [(6, 4)], "")]
        said = "a tuple and a one-element list"
    for form, shapes, advice in cases:
        case = Case(random_grads(ctx, 6, shapes, 4.0), 1.0, form=form)
        _judge(drv, case, drv.learner(case, advice=advice), advice)
    return f"Works on {said}, not only on a list."


def clip_value(ctx: Context) -> str:
    drv = _driver(ctx)
    forms = (
        ("list", [(4, 3), None, (5,)], "Skip parameters whose .grad is None: they stay None."),
        ("single", [(6, 4)],
         "A single tensor counts as [tensor]; iterating over a tensor walks its rows."),
        ("generator", SHAPES, "A generator can be iterated once: turn `parameters` into a list "
                              "first if you loop over it more than once."),
    )
    for form, shapes, advice in forms:
        case = Case(random_grads(ctx, 7, shapes, 6.0), 0.5, form=form)
        got = drv.learner(case, "clip_grad_value", advice=advice)
        want = drv.library_value(case)
        if got.moved:
            fail(f"`clip_grad_value` changed the parameters themselves {case.text('clip_value')}; "
                 "it clips the gradients (p.grad).")
        if not same(got.grads, want):
            fail(
                f"After `clip_grad_value` {case.text('clip_value')}: {value_mistake(got.grads, case)}. "
                "Clipping by value clamps each element to [-clip_value, clip_value] "
                f"(p.grad.clamp_). {advice}"
            )
    return "clip_grad_value clamps each element like torch.nn.utils.clip_grad_value_."


# -- the exploding run -------------------------------------------------------------------


def _finite(values: list[float]) -> list[float | None]:
    """A loss curve for the details: rounded, with None where the loss was inf or NaN."""
    return [round(v, 5) if math.isfinite(v) else None for v in values]


def _blowup(losses: list[float]) -> str:
    bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
    if bad is None:
        return f"stayed finite ({losses[0]:.3g} -> {losses[-1]:.3g})"
    return f"became {losses[bad]} at step {bad + 1} ({losses[0]:.3g} -> {max(losses[:bad]):.3g} -> nan)"


def exploding(spec: Explode) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        drive = driver_torch.explode if ctx.framework == "torch" else driver_tf.explode
        free, _ = drive(ctx, spec, clip=False)
        clipped, after = drive(ctx, spec, clip=True)
        fn = "clip_grad_norm" if ctx.framework == "torch" else "train_step"
        setup = (
            f"a {spec.depth}-layer linear net on inputs scaled by {spec.x_scale:g}, "
            f"SGD learning_rate={spec.lr}"
        )
        # loss_curve (drawn by the report) holds numbers only; the two full curves, with
        # None where the loss was inf or NaN, stay in the details
        ctx.details.update(
            loss_curve=[v for v in _finite(clipped) if v is not None],
            clipped_curve=_finite(clipped), unclipped_curve=_finite(free),
            max_norm=spec.max_norm, lr=spec.lr, steps=spec.steps,
        )
        if not all(math.isfinite(v) for v in clipped):
            extra = ""
            if after > spec.max_norm * (1 + 1e-3):
                extra = f" After your function the gradients' total norm was still up to {after:.3g}."
            fail(
                f"On {setup}, the loss without clipping {_blowup(free)}; with your `{fn}` "
                f"(max_norm={spec.max_norm}) it also {_blowup(clipped)}.{extra} Clipping must "
                "bound every update: after it, the gradients' global norm is at most max_norm."
            )
        if clipped[-1] > 0.5 * clipped[0]:
            fail(
                f"On {setup}, with your `{fn}` (max_norm={spec.max_norm}) the loss stayed finite "
                f"but did not fall ({clipped[0]:.3g} -> {clipped[-1]:.3g} in {len(clipped)} steps); "
                "clipping must shrink the gradients, not zero or scramble them."
            )
        return (
            f"On {setup}: without clipping the loss {_blowup(free)}; with your `{fn}` "
            f"(max_norm={spec.max_norm}) it fell {clipped[0]:.3g} -> {clipped[-1]:.3g} in "
            f"{spec.steps} steps."
        )

    return run


def checks(framework: str) -> list[Check]:
    found = [
        Check("api", "API: the functions exist with the documented arguments", clip_api, gate=True),
        Check("from_scratch", "Written from scratch, not the framework's clipping", from_scratch),
        Check("global_norm", "Clipping by the global norm, direction kept", clip_global_norm),
        Check("under_bound", "Gradients under the bound untouched, bit for bit", clip_under_bound),
        Check("none_grads", "None gradients skipped and kept None", clip_none_grads),
    ]
    if framework == "torch":
        found += [
            Check("norm_type", "norm_type: inf, 'inf' and 1", clip_norm_type),
            Check("inputs", "A single tensor, a generator, a tuple", clip_inputs),
            Check("clip_value", "clip_grad_value: clamp each element", clip_value),
        ]
    else:
        found += [
            Check("inputs", "A tuple and a one-element list", clip_inputs),
            Check("train_step", "train_step: clip, then one optimizer step",
                  driver_tf.train_step_update),
        ]
    found.append(Check("exploding", "An exploding run stays finite when clipped", exploding(EXPLODE)))
    return found
