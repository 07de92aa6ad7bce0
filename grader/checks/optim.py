"""Checks for what happens between backward() and the update: gradient clipping (08)
and learning-rate schedules (10).

These exercises grade functions, not layers. The grader hands real tensors and
optimizers to the learner's code and compares what comes back with the
framework's own function; when they differ, the result is matched against
named wrong variants computed here in numpy, so the message can say which
mistake it looks like. What is the same in both frameworks (the variants, the
verdicts, the schedule's reference) is written once; the small drivers that
touch tensors import their framework inside the function, so a torch check
never loads TensorFlow and the reverse.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import Check, Context, fail, fmt_shape
from .calls import call, invoke, require, watch_library  # noqa: F401
from .calls import library_message as _library_message
from .calls import where as _where

Grads = list  # of np.ndarray, or None where a parameter has no gradient
INF = float("inf")


def _require(ctx: Context, name: str, what: str,
             example: tuple[str, tuple[Any, ...], dict[str, Any]]) -> Callable[..., Any]:
    """A callable the learner must define that accepts the documented call."""
    return require(ctx, name, what, example[0], example[1], example[2])


def _finite(values: list[float]) -> list[float | None]:
    """A loss curve for the details: rounded, with None where the loss was inf or NaN."""
    return [round(v, 5) if math.isfinite(v) else None for v in values]


def _number(value: Any, fn: str, what: str) -> float:
    """A returned scalar (a 0-dim tensor, a numpy or Python number) as a float."""
    if value is None:
        fail(f"`{fn}` returned None; it must return {what}.")
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy"):
        value = value.numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"`{fn}` returned a {type(value).__name__}; it must return {what}.")
    if arr.size != 1:
        fail(
            f"`{fn}` returned {arr.size} numbers (shape {fmt_shape(arr.shape)}); it must "
            f"return one: {what}."
        )
    return float(arr.reshape(()))


# -- clipping, in numpy: the right result and the named wrong ones ---------------


def total_norm(grads: Grads, p: float = 2.0) -> float:
    """The p-norm of every gradient element taken together (None entries skipped)."""
    flat = [np.abs(np.asarray(g, np.float64)).ravel() for g in grads if g is not None]
    if not flat:
        return 0.0
    v = np.concatenate(flat)
    if p == INF:
        return float(v.max(initial=0.0))
    return float(np.sum(v**p) ** (1.0 / p))


def _scaled(grads: Grads, factor: float) -> Grads:
    return [None if g is None else np.asarray(g, np.float64) * factor for g in grads]


def _by_norm(grads: Grads, max_norm: float, norm: float) -> Grads:
    return _scaled(grads, min(1.0, max_norm / (norm + 1e-6)))


def _per_tensor(grads: Grads, max_norm: float, p: float) -> Grads:
    return [None if g is None else _by_norm([g], max_norm, total_norm([g], p))[0] for g in grads]


def _per_tensor_sum(grads: Grads, p: float) -> float:
    return float(sum(total_norm([g], p) for g in grads if g is not None))


# name -> (the clipped gradients that mistake gives, the mistake in words)
CLIP_MISTAKES: dict[str, tuple[Callable[[Grads, float, float], Grads], str]] = {
    "unchanged": (
        lambda g, m, p: _scaled(g, 1.0),
        "the gradients came back unchanged although their total norm is above max_norm",
    ),
    "by_value": (
        lambda g, m, p: [None if x is None else np.clip(np.asarray(x, np.float64), -m, m) for x in g],
        "each element was clipped to [-max_norm, max_norm]: that is clipping by VALUE. Clipping "
        "by norm multiplies every gradient by one factor, min(1, max_norm / total_norm), so the "
        "update keeps its direction",
    ),
    "per_tensor": (
        lambda g, m, p: _per_tensor(g, m, p),
        "each tensor was clipped by its own norm. The norm is global: one norm over all the "
        "gradients together (as if concatenated into one vector) and one factor for all of them",
    ),
    "always_rescaled": (
        lambda g, m, p: _scaled(g, m / total_norm(g, p)),
        "the gradients were scaled UP to norm max_norm although they were under it. Clipping "
        "only ever shrinks: the factor is min(1, max_norm / total_norm)",
    ),
    "l2_instead": (
        lambda g, m, p: _by_norm(g, m, total_norm(g, 2.0)),
        "the L2 norm was used whatever norm_type asked for. norm_type=inf is the largest "
        "absolute element (and 'inf' the same, as a string); 1 is the sum of absolute values",
    ),
    "sum_of_norms": (
        lambda g, m, p: _by_norm(g, m, _per_tensor_sum(g, p)),
        "the total norm was taken as the SUM of the per-tensor norms. The global L2 norm is "
        "sqrt(sum of the squared per-tensor norms)",
    ),
    "squared": (
        lambda g, m, p: _by_norm(g, m, total_norm(g, p) ** 2),
        "the total norm was taken without its square root (the sum of squares)",
    ),
}


def _same(a: Grads, b: Grads, tol: float = 1e-5) -> bool:
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


def clip_mistake(got: Grads, original: Grads, max_norm: float, p: float, want: Grads) -> str:
    """Name what the learner's clipped gradients look like, when they are wrong."""
    for fn, words in CLIP_MISTAKES.values():
        alt = fn(original, max_norm, p)
        if not _same(alt, want, 1e-4) and _same(got, alt, 1e-4):
            return words
    present = [(g, o) for g, o in zip(got, original, strict=True) if g is not None and o is not None]
    ratios = [float(np.sum(g * o) / np.sum(o * o)) for g, o in present if np.any(o)]
    if ratios and all(
        np.allclose(g, r * o, rtol=1e-4, atol=1e-7)
        for (g, o), r in zip(present, ratios, strict=True)
    ):
        if np.allclose(ratios, ratios[0], rtol=1e-4):
            want_factor = min(1.0, max_norm / (total_norm(original, p) + 1e-6))
            return (
                f"every gradient was scaled by {ratios[0]:.4g}, but the factor is "
                f"min(1, max_norm / total_norm) = {want_factor:.4g}"
            )
        return (
            "the gradients were scaled by different factors, so the update changed direction; "
            "clipping by norm uses one factor for all of them"
        )
    return (
        "the gradients are not a rescaled copy of the originals, so the update's direction "
        "changed; clipping by norm multiplies every gradient by the same factor"
    )


def norm_mistake(got: float, original: Grads, max_norm: float, p: float) -> str:
    want = total_norm(original, p)
    options = [
        (min(want, max_norm), "the norm AFTER clipping. Return the total norm before clipping: "
                              "it is what you log to see the gradients explode"),
        (want**2, "the squared norm (the square root is missing)"),
        (_per_tensor_sum(original, p), "the sum of the per-tensor norms, not their global norm"),
        (total_norm(original, 2.0), "the L2 norm although norm_type asked for another"),
    ]
    for value, words in options:
        if abs(value - want) > 1e-4 * (1 + want) and abs(got - value) <= 1e-4 * (1 + abs(value)):
            return f"It is {words}."
    return "It should be the p-norm of all gradient elements taken together, before clipping."


# -- 08: the drivers, one per framework --------------------------------------------


@dataclass
class Outcome:
    norm: Any  # what the function returned as the norm (None for clip-by-value)
    grads: Grads  # the gradients afterwards, as numpy
    moved: bool = False  # the parameters themselves changed


@dataclass
class _Case:
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


class _TorchClip:
    """clip_grad_norm(parameters, ...) scales each parameter's .grad."""

    fn = "clip_grad_norm"
    unchanged_note = (
        " (rebinding a name, `g = g * scale`, does not change p.grad: use p.grad.mul_(scale) "
        "or assign p.grad)"
    )

    def __init__(self, ctx: Context):
        import torch

        self.torch, self.ctx = torch, ctx
        self.device = getattr(ctx.A, "device", "cpu")

    def _params(self, grads: Grads) -> list[Any]:
        torch, rng = self.torch, self.ctx.rng(77)
        params = []
        for g in grads:
            shape = (3,) if g is None else g.shape
            p = torch.nn.Parameter(torch.tensor(rng.normal(0, 1, shape), dtype=torch.float32,
                                                device=self.device))
            p.grad = None if g is None else torch.tensor(g, dtype=torch.float32, device=self.device)
            params.append(p)
        return params

    @staticmethod
    def _form(params: list[Any], form: str) -> Any:
        return {
            "list": lambda: params,
            "tuple": lambda: tuple(params),
            "single": lambda: params[0],
            "generator": lambda: (p for p in params),
        }[form]()

    def weights(self, case: _Case) -> Grads:
        """The parameter values the learner's function sees, as numpy."""
        return [p.detach().cpu().numpy() for p in self._params(case.grads)]

    def _read(self, params: list[Any]) -> Grads:
        return [None if p.grad is None else p.grad.detach().float().cpu().numpy() for p in params]

    def learner(self, case: _Case, fn: str | None = None, arg: float | None = None,
                advice: str = "") -> Outcome:
        fn = fn or self.fn
        params = self._params(case.grads)
        before = [p.detach().clone() for p in params]
        args = (self._form(params, case.form), case.max_norm if arg is None else arg)
        kwargs = {"norm_type": case.norm_type} if fn == self.fn and case.norm_type != 2.0 else {}
        what = "max_norm" if fn == self.fn else "clip_value"
        returned = call(self.ctx, fn, *args, case=case.text(what), advice=advice, **kwargs)
        moved = any(not self.torch.equal(b, p.detach()) for b, p in zip(before, params, strict=True))
        return Outcome(returned, self._read(params), moved)

    def library(self, case: _Case) -> tuple[float, Grads]:
        params = self._params(case.grads)
        norm = self.torch.nn.utils.clip_grad_norm_(
            self._form(params, case.form), case.max_norm, norm_type=case.norm_type
        )
        return float(norm), self._read(params)

    def library_value(self, case: _Case) -> Grads:
        params = self._params(case.grads)
        self.torch.nn.utils.clip_grad_value_(self._form(params, case.form), case.max_norm)
        return self._read(params)

    def watched(self) -> Any:
        import torch.nn.utils as U
        import torch.nn.utils.clip_grad as C

        library = {
            f"torch.nn.utils.{n}": getattr(U, n)
            for n in ("clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
                      "clip_grads_with_norm_")
        }
        return watch_library(library, [U, C, self.ctx.module])


class _TfClip:
    """clip_by_global_norm(grads, max_norm) returns (clipped, norm)."""

    fn = "clip_by_global_norm"
    unchanged_note = ""

    def __init__(self, ctx: Context):
        import tensorflow as tf

        self.tf, self.ctx = tf, ctx

    def _tensors(self, case: _Case) -> Any:
        ts = [None if g is None else self.tf.constant(g, dtype=self.tf.float32) for g in case.grads]
        return tuple(ts) if case.form == "tuple" else ts

    def learner(self, case: _Case, advice: str = "") -> Outcome:
        out = call(self.ctx, self.fn, self._tensors(case), case.max_norm, case=case.text(),
                   advice=advice)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            fail(
                f"`{self.fn}` returned {type(out).__name__}; it must return a pair "
                "(clipped_grads, norm), in that order, like tf.clip_by_global_norm."
            )
        clipped, norm = out
        if not isinstance(clipped, (list, tuple)):
            if isinstance(norm, (list, tuple)):
                fail(f"`{self.fn}` returned (norm, clipped_grads); the order is (clipped_grads, norm).")
            fail(
                f"`{self.fn}` returned {type(clipped).__name__} as the clipped gradients; it must "
                "be a list with one entry per input gradient."
            )
        if len(clipped) != len(case.grads):
            fail(
                f"`{self.fn}` returned {len(clipped)} gradients for {len(case.grads)} inputs "
                f"{case.text()}. Return one entry per input, None where the input was None."
            )
        grads = [None if c is None else np.asarray(self.tf.convert_to_tensor(c).numpy()) for c in clipped]
        return Outcome(norm, grads)

    def library(self, case: _Case) -> tuple[float, Grads]:
        clipped, norm = self.tf.clip_by_global_norm(list(self._tensors(case)), case.max_norm)
        return float(norm), [None if c is None else c.numpy() for c in clipped]

    def watched(self) -> Any:
        tf = self.tf
        from tensorflow.python.ops import clip_ops

        library = {
            "tf.clip_by_global_norm": tf.clip_by_global_norm,
            "tf.clip_by_norm": tf.clip_by_norm,
            "tf.linalg.global_norm": tf.linalg.global_norm,
        }
        modules = [tf, tf.linalg, clip_ops, tf.compat.v1, self.ctx.module]
        return watch_library(library, modules)


def _driver(ctx: Context) -> Any:
    return _TorchClip(ctx) if ctx.framework == "torch" else _TfClip(ctx)


def _grads(ctx: Context, salt: int, shapes: Sequence[tuple[int, ...] | None], norm: float) -> Grads:
    """Random gradients (None where the shape is None) rescaled to a given total norm."""
    rng = ctx.rng(salt)
    grads = [None if s is None else rng.normal(0, 1, s) for s in shapes]
    factor = norm / total_norm(grads)
    return [None if g is None else (g * factor).astype(np.float32) for g in grads]


def _judge(drv: Any, case: _Case, got: Outcome, advice: str = "") -> None:
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
    if not _same(got.grads, want):
        why = clip_mistake(got.grads, case.grads, case.max_norm, p, want)
        if hasattr(drv, "weights"):
            by_weights = _by_norm(case.grads, case.max_norm, total_norm(drv.weights(case), p))
            if _same(got.grads, by_weights, 1e-4):
                why = ("the factor came from the norm of the parameters themselves (p), not of "
                       "their gradients (p.grad)")
        if why == CLIP_MISTAKES["unchanged"][1] and not advice:
            why += drv.unchanged_note
        fail(
            f"After `{drv.fn}` {case.text()}, the gradients differ from the framework's own "
            f"clipping: {why}." + (f" {advice}" if advice else ""),
            expected_norm=want_norm,
        )
    norm = _number(got.norm, drv.fn, "the total norm of the gradients before clipping")
    if abs(norm - want_norm) > 1e-4 * (1.0 + want_norm):
        fail(
            f"`{drv.fn}` returned the norm {norm:.6g} {case.text()}; the total norm before "
            f"clipping is {want_norm:.6g}. {norm_mistake(norm, case.grads, case.max_norm, p)}",
            returned=norm,
            expected=want_norm,
        )


# -- 08: the checks ------------------------------------------------------------------

SHAPES = [(4, 3), (5,), (2, 3, 3), (1,)]


def clip_api(ctx: Context) -> str:
    if ctx.framework == "torch":
        _require(ctx, "clip_grad_norm", "function",
                 ("clip_grad_norm(parameters, 1.0, norm_type=2.0)", ([], 1.0), {"norm_type": 2.0}))
        _require(ctx, "clip_grad_value", "function", ("clip_grad_value(parameters, 0.5)", ([], 0.5), {}))
        return "`clip_grad_norm(parameters, max_norm, norm_type=2.0)` and `clip_grad_value` exist."
    _require(ctx, "clip_by_global_norm", "function",
             ("clip_by_global_norm(grads, 1.0)", ([], 1.0), {}))
    _require(ctx, "train_step", "function",
             ("train_step(model, optimizer, x, y, 1.0)", (None, None, None, None, 1.0), {}))
    return "`clip_by_global_norm(grads, max_norm)` and `train_step(model, optimizer, x, y, max_norm)` exist."


def from_scratch(ctx: Context) -> str:
    """No call into the framework's own clipping while the learner's functions run."""
    drv = _driver(ctx)
    case = _Case(_grads(ctx, 1, SHAPES, 5.0), 1.0)
    if ctx.framework == "torch":
        advice = (
            "Compute each gradient's norm (torch.linalg.vector_norm), the norm of those norms, "
            "and scale every p.grad in place."
        )
        with drv.watched() as calls:
            drv.learner(case)
        if calls:
            fail(_library_message("clip_grad_norm", calls, advice), calls=calls)
        with drv.watched() as calls:
            drv.learner(case, "clip_grad_value", 0.5)
        if calls:
            fail(_library_message("clip_grad_value", calls, "Clamp each p.grad in place."),
                 calls=calls)
        return "Neither function calls torch.nn.utils' clipping."
    advice = (
        "Sum the squares of every gradient (tf.reduce_sum(tf.square(g))), take the square "
        "root, and multiply each gradient by max_norm / max(norm, max_norm)."
    )
    with drv.watched() as calls:
        drv.learner(case)
    if calls:
        fail(_library_message("clip_by_global_norm", calls, advice), calls=calls)
    with drv.watched() as calls:
        _train_step_once(ctx, _TRAIN, max_norm=0.1)
    if calls:
        fail(_library_message("train_step", calls, "Clip with your own clip_by_global_norm."),
             calls=calls)
    return "Neither function calls tf.clip_by_global_norm, tf.clip_by_norm or tf.linalg.global_norm."


def clip_global_norm(ctx: Context) -> str:
    """Above the bound: every gradient scaled by one factor; the pre-clip norm returned."""
    drv = _driver(ctx)
    for salt, norm, max_norm in ((1, 5.0, 1.0), (2, 40.0, 3.0)):
        case = _Case(_grads(ctx, salt, SHAPES, norm), max_norm)
        _judge(drv, case, drv.learner(case))
    return (
        "Above max_norm every gradient is scaled by the same factor, max_norm / total_norm: "
        "the direction is kept; the norm before clipping is returned."
    )


def clip_under_bound(ctx: Context) -> str:
    """Under the bound: bit for bit unchanged. max_norm is a power of two, so any formula
    whose factor is 1 (min(1, m/n), m / max(n, m), g * m / m) is exact."""
    drv = _driver(ctx)
    case = _Case(_grads(ctx, 3, SHAPES, 3.0), 8.0)
    got = drv.learner(case)
    _judge(drv, case, got)
    changed = [i for i, (g, o) in enumerate(zip(got.grads, case.grads, strict=True))
               if not np.array_equal(g, o)]
    if changed:
        rescaled = CLIP_MISTAKES["always_rescaled"][0](case.grads, case.max_norm, 2.0)
        why = (
            "they were scaled UP to norm max_norm. Clipping only ever shrinks: the factor is "
            "min(1, max_norm / total_norm)"
            if _same(got.grads, rescaled, 1e-4) else
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
    case = _Case(_grads(ctx, 4, [(3, 3), None, (4,), None], 6.0), 2.0)
    _judge(drv, case, drv.learner(case, advice=skip), skip)
    empty = _Case([None, None], 1.0)
    got = drv.learner(empty, advice=skip)
    if any(g is not None for g in got.grads):
        fail(f"With every gradient None, `{drv.fn}` must leave them None; it did not. {skip}")
    norm = _number(got.norm, drv.fn, "the total norm (0 when every gradient is None)")
    if norm != 0.0:
        fail(f"With every gradient None, `{drv.fn}` returned the norm {norm}; it must be 0. {skip}")
    return "None gradients are skipped and stay None; with none at all the norm is 0."


def clip_norm_type(ctx: Context) -> str:
    drv = _driver(ctx)
    grads = _grads(ctx, 5, SHAPES, 5.0)
    advice = "float('inf') and the string 'inf' both mean the largest absolute element: float(norm_type)."
    for norm_type, max_norm in ((INF, 0.5), ("inf", 0.5), (1.0, 2.0)):
        case = _Case(grads, max_norm, norm_type)
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
        case = _Case(_grads(ctx, 6, shapes, 4.0), 1.0, form=form)
        _judge(drv, case, drv.learner(case, advice=advice), advice)
    return f"Works on {said}, not only on a list."


def _value_mistake(got: Grads, case: _Case) -> str:
    if _same(got, case.grads, 0.0):
        return "the gradients came back unchanged"
    pairs = [(g, o) for g, o in zip(got, case.grads, strict=True) if g is not None and o is not None]
    if all(np.allclose(g, o * (np.sum(g * o) / np.sum(o * o)), rtol=1e-4, atol=1e-7) for g, o in pairs):
        return "the gradients were rescaled as a whole, which is clipping by NORM"
    return "the gradients differ from torch.nn.utils.clip_grad_value_'s"


def clip_value(ctx: Context) -> str:
    drv = _driver(ctx)
    for form, shapes in (("list", [(4, 3), None, (5,)]), ("single", [(6, 4)]), ("generator", SHAPES)):
        case = _Case(_grads(ctx, 7, shapes, 6.0), 0.5, form=form)
        got = drv.learner(case, "clip_grad_value")
        want = drv.library_value(case)
        if got.moved:
            fail(f"`clip_grad_value` changed the parameters themselves {case.text('clip_value')}; "
                 "it clips the gradients (p.grad).")
        if not _same(got.grads, want):
            fail(
                f"After `clip_grad_value` {case.text('clip_value')}: {_value_mistake(got.grads, case)}. "
                "Clipping by value clamps each element to [-clip_value, clip_value] "
                "(p.grad.clamp_), None grads skipped, a single tensor and a generator accepted."
            )
    return "clip_grad_value clamps each element like torch.nn.utils.clip_grad_value_."


# -- 08: the tf train step -------------------------------------------------------------


@dataclass
class TrainStepSpec:
    features: int = 6
    hidden: int = 16
    classes: int = 4
    n: int = 16
    lr: float = 0.5


_TRAIN = TrainStepSpec()


def _keras_mlp(spec: TrainStepSpec, rng: np.random.Generator) -> tuple[Callable[[], Any], Any, Any]:
    import keras
    import tensorflow as tf

    weights = [
        rng.normal(0, 1 / math.sqrt(spec.features), (spec.features, spec.hidden)),
        rng.normal(0, 0.1, spec.hidden),
        rng.normal(0, 1 / math.sqrt(spec.hidden), (spec.hidden, spec.classes)),
        rng.normal(0, 0.1, spec.classes),
    ]

    def build() -> Any:
        model = keras.Sequential([
            keras.Input((spec.features,)),
            keras.layers.Dense(spec.hidden, activation="relu"),
            keras.layers.Dense(spec.classes),
        ])
        model.set_weights([w.astype(np.float32) for w in weights])
        return model

    x = tf.constant(rng.normal(0, 2.0, (spec.n, spec.features)), dtype=tf.float32)
    y = tf.constant(rng.integers(0, spec.classes, spec.n), dtype=tf.int32)
    return build, x, y


def _sce(model: Any, x: Any, y: Any) -> Any:
    import keras
    import tensorflow as tf

    logits = model(x, training=True)
    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))


def _train_step_once(ctx: Context, spec: TrainStepSpec, max_norm: float) -> tuple[Any, Any, Any]:
    """One learner train_step on a fresh model; returns (model, optimizer, returned loss)."""
    import keras

    build, x, y = _keras_mlp(spec, ctx.rng(11))
    model, opt = build(), keras.optimizers.SGD(learning_rate=spec.lr)
    out = call(ctx, "train_step", model, opt, x, y, max_norm,
               case=f"on a two-layer Dense model, SGD(learning_rate={spec.lr}), max_norm={max_norm}")
    return model, opt, out


def train_step_update(ctx: Context) -> str:
    """The weights after train_step equal one optimizer step with clipped gradients."""
    import keras
    import tensorflow as tf

    spec = _TRAIN
    build, x, y = _keras_mlp(spec, ctx.rng(11))
    ref = build()
    w0 = [v.numpy().astype(np.float64) for v in ref.trainable_variables]
    with tf.GradientTape() as tape:
        loss0 = _sce(ref, x, y)
    g = [t.numpy() for t in tape.gradient(loss0, ref.trainable_variables)]
    max_norm = round(0.3 * total_norm(g), 4)
    clipped, _ = tf.clip_by_global_norm([tf.constant(t) for t in g], max_norm)
    ref_opt = keras.optimizers.SGD(learning_rate=spec.lr)
    ref_opt.apply_gradients(zip(clipped, ref.trainable_variables, strict=True))
    want = [v.numpy() for v in ref.trainable_variables]

    model, opt, out = _train_step_once(ctx, spec, max_norm)
    got = [v.numpy() for v in model.trainable_variables]
    setting = f"(SGD, learning_rate={spec.lr}, gradient norm {total_norm(g):.3g}, max_norm={max_norm})"
    steps = int(opt.iterations.numpy())
    if steps != 1:
        fail(
            f"One `train_step` advanced the optimizer by {steps} steps (optimizer.iterations): "
            "apply the gradients exactly once, with the optimizer passed in."
        )
    if not _same(got, want):
        step = [(w - v) / spec.lr for w, v in zip(w0, got, strict=True)]
        if _same(got, [w.astype(np.float32) for w in w0], 0.0):
            why = (
                "the weights did not move. Apply the clipped gradients with the optimizer you "
                "are given: optimizer.apply_gradients(zip(clipped, model.trainable_variables))"
            )
        elif _same(step, g, 1e-4):
            why = (
                "the weights moved as with UNCLIPPED gradients. Clip before "
                "optimizer.apply_gradients: clipping afterwards changes nothing, the update has "
                "happened (which is also why a Keras callback cannot clip)"
            )
        else:
            why = clip_mistake(step, g, max_norm, 2.0, CLIP_MISTAKES["unchanged"][0](clipped, 0, 2))
        fail(f"After one `train_step` {setting}: {why}.")
    loss = _number(out, "train_step", "the loss computed before the update")
    before, after = float(loss0), float(_sce(model, x, y))
    if abs(loss - before) > 1e-4 * (1 + abs(before)):
        if abs(loss - after) <= 1e-4 * (1 + abs(after)):
            why = "the loss AFTER the update; return the one computed in the step, before applying"
        elif abs(loss - before * spec.n) <= 1e-4 * (1 + abs(before * spec.n)):
            why = "the summed loss; use the mean over the batch"
        else:
            why = "neither (is it sparse categorical cross-entropy on the logits, from_logits=True?)"
        fail(f"`train_step` returned the loss {loss:.6g}; the loss before the update is "
             f"{before:.6g} (after it: {after:.6g}). Yours is {why}.")
    return (
        "One train_step applies exactly one optimizer step with globally clipped gradients and "
        "returns the loss from before the update."
    )


# -- 08: the exploding run -------------------------------------------------------------


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


def _torch_explode(ctx: Context, spec: Explode, clip: bool) -> tuple[list[float], float]:
    """Plain SGD on the deep linear net; with `clip`, the learner's clip_grad_norm first.
    Returns the loss per step (stopping at the first inf/NaN) and the largest norm left
    after the learner's clipping."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    x, y, ws = spec.data(ctx.rng(21))
    model = nn.Sequential(*[nn.Linear(*w.shape, bias=False) for w in ws])
    with torch.no_grad():
        for layer, w in zip(model, ws, strict=True):
            layer.weight.copy_(torch.from_numpy(w.T))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, after = [], 0.0
    for step in range(spec.steps):
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xt), yt)
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            break
        loss.backward()
        if clip:
            call(ctx, "clip_grad_norm", model.parameters(), spec.max_norm,
                 case=f"at step {step + 1} of the exploding run")
            grads = [p.grad.numpy() for p in model.parameters() if p.grad is not None]
            after = max(after, total_norm(grads))
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p -= spec.lr * p.grad
        if clip:  # the bar follows the run the learner's code drives
            ctx.progress(step=step + 1, total=spec.steps, loss=losses[-1])
    return losses, after


def _tf_explode(ctx: Context, spec: Explode, clip: bool) -> tuple[list[float], float]:
    """The same net in Keras; with `clip`, the learner's train_step does each update."""
    import keras
    import tensorflow as tf

    x, y, ws = spec.data(ctx.rng(21))
    model = keras.Sequential([keras.Input((spec.features,))]
                             + [keras.layers.Dense(w.shape[1], use_bias=False) for w in ws])
    model.set_weights(ws)
    opt = keras.optimizers.SGD(learning_rate=spec.lr)
    xt, yt = tf.constant(x), tf.constant(y)
    losses = []
    for step in range(spec.steps):
        if clip:
            losses.append(float(_sce(model, xt, yt)))
            if not math.isfinite(losses[-1]):
                break
            call(ctx, "train_step", model, opt, xt, yt, spec.max_norm,
                 case=f"at step {step + 1} of the exploding run")
        else:
            with tf.GradientTape() as tape:
                loss = _sce(model, xt, yt)
            losses.append(float(loss))
            if not math.isfinite(losses[-1]):
                break
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        if clip:  # the bar follows the run the learner's code drives
            ctx.progress(step=step + 1, total=spec.steps, loss=losses[-1])
    return losses, 0.0


def _blowup(losses: list[float]) -> str:
    bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
    if bad is None:
        return f"stayed finite ({losses[0]:.3g} -> {losses[-1]:.3g})"
    return f"became {losses[bad]} at step {bad + 1} ({losses[0]:.3g} -> {max(losses[:bad]):.3g} -> nan)"


def exploding(spec: Explode) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        drive = _torch_explode if ctx.framework == "torch" else _tf_explode
        free, _ = drive(ctx, spec, clip=False)
        clipped, after = drive(ctx, spec, clip=True)
        fn = "clip_grad_norm" if ctx.framework == "torch" else "train_step"
        setup = (
            f"a {spec.depth}-layer linear net on inputs scaled by {spec.x_scale:g}, "
            f"SGD learning_rate={spec.lr}"
        )
        ctx.details.update(
            loss_curve=_finite(clipped), unclipped_curve=_finite(free),
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


def clipping_checks(framework: str, explode: Explode) -> list[Check]:
    checks = [
        Check("api", "API: the functions exist with the documented arguments", clip_api, gate=True),
        Check("from_scratch", "Written from scratch, not the framework's clipping", from_scratch),
        Check("global_norm", "Clipping by the global norm, direction kept", clip_global_norm),
        Check("under_bound", "Gradients under the bound untouched, bit for bit", clip_under_bound),
        Check("none_grads", "None gradients skipped and kept None", clip_none_grads),
    ]
    if framework == "torch":
        checks += [
            Check("norm_type", "norm_type: inf, 'inf' and 1", clip_norm_type),
            Check("inputs", "A single tensor, a generator, a tuple", clip_inputs),
            Check("clip_value", "clip_grad_value: clamp each element", clip_value),
        ]
    else:
        checks += [
            Check("inputs", "A tuple and a one-element list", clip_inputs),
            Check("train_step", "train_step: clip, then one optimizer step", train_step_update),
        ]
    checks.append(Check("exploding", "An exploding run stays finite when clipped", exploding(explode)))
    return checks


# -- 10: learning-rate schedules -------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    total: int
    warmup: int
    base: float
    min_lr: float = 0.0

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


def _ref(cfg: Schedule, steps: Sequence[int]) -> np.ndarray:
    return np.array([warmup_cosine_ref(s, cfg.total, cfg.warmup, cfg.base, cfg.min_lr) for s in steps])


def _cos(lo: float, hi: float, progress: float) -> float:
    return lo + (hi - lo) * (1 + math.cos(math.pi * progress)) / 2


def _progress(s: int, c: Schedule) -> float:
    return (s - c.warmup) / (c.total - c.warmup)


def _after_warmup(fn: Callable[[int, Schedule], float]) -> Callable[[int, Schedule], float]:
    """A variant that differs from the reference only after the warmup."""
    def value(s: int, c: Schedule) -> float:
        return c.base * s / c.warmup if s < c.warmup else fn(s, c)
    return value


# name -> (lr at step s for a config, the mistake in words)
SCHEDULE_MISTAKES: dict[str, tuple[Callable[[int, Schedule], float], str]] = {
    "starts_at_base": (
        lambda s, c: warmup_cosine_ref(max(s, c.warmup), c.total, c.warmup, c.base, c.min_lr),
        "the LR is already base_lr at step 0, so there is no warmup. Warmup starts from 0 and "
        "rises in a straight line, base_lr * step / warmup_steps, to base_lr at step warmup_steps",
    ),
    "one_ahead_in_warmup": (
        lambda s, c: c.base * (s + 1) / c.warmup if s < c.warmup
        else warmup_cosine_ref(s, c.total, c.warmup, c.base, c.min_lr),
        "the warmup is one step ahead: step 0 gives base_lr / warmup_steps and base_lr comes at "
        "step warmup_steps - 1, then stays there a second step. Here warmup is "
        "base_lr * step / warmup_steps: 0 at step 0, base_lr exactly at step warmup_steps, where "
        "the cosine takes over without a jump",
    ),
    "ignores_min_lr": (
        lambda s, c: warmup_cosine_ref(s, c.total, c.warmup, c.base, 0.0),
        "the LR decays to 0 and ignores min_lr. The cosine runs from base_lr down to min_lr: "
        "min_lr + (base_lr - min_lr) * (1 + cos(pi * progress)) / 2",
    ),
    "cosine_from_step_0": (
        _after_warmup(lambda s, c: _cos(c.min_lr, c.base, min(1.0, s / c.total))),
        "the cosine counts its progress from step 0 (step / total_steps), so it has already "
        "dropped when the warmup ends and the LR jumps at the boundary. Count from the end of "
        "warmup: progress = (step - warmup_steps) / (total_steps - warmup_steps)",
    ),
    "cosine_one_late": (
        _after_warmup(lambda s, c: _cos(c.min_lr, c.base, min(1.0, _progress(s + 1, c)))),
        "the cosine's progress is one step ahead ((step - warmup_steps + 1) / ...), so the LR "
        "never reaches base_lr and drops at the boundary. At step warmup_steps progress is 0",
    ),
    "linear_decay": (
        _after_warmup(lambda s, c: c.base + (c.min_lr - c.base) * min(1.0, _progress(s, c))),
        "the LR decays in a straight line after the warmup; the schedule asks for a cosine: "
        "min_lr + (base_lr - min_lr) * (1 + cos(pi * progress)) / 2",
    ),
    "no_floor": (
        _after_warmup(lambda s, c: _cos(c.min_lr, c.base, _progress(s, c))),
        "after total_steps the LR rises again: the cosine keeps going past pi. From "
        "total_steps on the LR stays at min_lr",
    ),
    "no_decay": (
        _after_warmup(lambda s, c: c.base),
        "the LR stays at base_lr after the warmup; it should follow the cosine down to min_lr",
    ),
}

# wiring an optimizer: the same curve, shifted or scaled
WIRING_MISTAKES: dict[str, tuple[Callable[[int, Schedule], float], str]] = {
    "lags": (
        lambda s, c: warmup_cosine_ref(s - 1, c.total, c.warmup, c.base, c.min_lr),
        "the optimizer's LR lags one step: update s used the value of step s - 1",
    ),
    "leads": (
        lambda s, c: warmup_cosine_ref(s + 1, c.total, c.warmup, c.base, c.min_lr),
        "the optimizer's LR is one step early: update s used the value of step s + 1 (was the "
        "scheduler stepped once too often, e.g. right after it was created?)",
    ),
    "factor_is_lr": (
        lambda s, c: c.base * warmup_cosine_ref(s, c.total, c.warmup, c.base, c.min_lr),
        "the LR is base_lr times the schedule's value. LambdaLR multiplies the optimizer's "
        "initial lr by what the lambda returns: return warmup_cosine(...) / base_lr, a factor",
    ),
    "min_lr_as_factor": (
        lambda s, c: warmup_cosine_ref(s, c.total, c.warmup, c.base, c.base * c.min_lr),
        "min_lr was applied as a factor of base_lr; it is an absolute learning rate",
    ),
}


def _matches(values: np.ndarray, want: np.ndarray, tol: float) -> bool:
    return values.shape == want.shape and bool(np.all(np.abs(values - want) <= tol))


def schedule_mistake(values: np.ndarray, cfg: Schedule, steps: Sequence[int],
                     wiring: bool = False) -> str:
    """Name what a wrong LR curve (values at `steps`) looks like."""
    want = _ref(cfg, steps)
    if cfg.warmup >= 3:
        warm = values[1 : cfg.warmup]
        ratios = warm[1:] / np.where(warm[:-1] == 0, np.nan, warm[:-1])
        if ratios.size >= 2 and np.all(np.isfinite(ratios)) and np.all(ratios < 1) \
                and np.allclose(ratios, ratios[0], rtol=1e-3):
            return (
                f"your LR shrinks by the same factor (x{ratios[0]:.3g}) at every warmup step: "
                "that is exponential decay, lr * factor compounded, not warmup. Warmup RAISES the "
                "LR from 0 toward base_lr, in a straight line: base_lr * step / warmup_steps"
            )
    # a mistake explains the curve when every step that is wrong has that mistake's value
    wrong = np.abs(values - want) > cfg.tol
    table = {**SCHEDULE_MISTAKES, **(WIRING_MISTAKES if wiring else {})}
    for fn, words in table.values():
        try:
            alt = np.array([fn(s, cfg) for s in steps])
        except ZeroDivisionError:
            continue
        if wrong.any() and np.all(np.abs(values - alt)[wrong] <= cfg.tol):
            return words
    bad = int(np.argmax(np.abs(values - want) > cfg.tol))
    return (
        f"the first difference is at step {steps[bad]}: {values[bad]:.6g} instead of {want[bad]:.6g}"
    )


def _curve(ctx: Context, cfg: Schedule, steps: Sequence[int], default_min: bool = False) -> np.ndarray:
    """The learner's warmup_cosine at each step, as floats."""
    values = []
    for s in steps:
        args = (s, cfg.total, cfg.warmup, cfg.base) + (() if default_min else (cfg.min_lr,))
        shown = ", ".join(repr(a) for a in args)
        out = call(ctx, "warmup_cosine", *args, case=f"for warmup_cosine({shown})",
                   advice="warmup_steps may be 0 (no warmup): guard the division."
                   if cfg.warmup == 0 else "")
        values.append(_number(out, "warmup_cosine", "the learning rate, a float"))
    return np.array(values)


def _fail_curve(what: str, values: np.ndarray, cfg: Schedule, steps: Sequence[int],
                wiring: bool = False, **details: Any) -> None:
    fail(f"{what} ({cfg.text()}): {schedule_mistake(values, cfg, steps, wiring)}.",
         **details)


def schedule_api(framework: str) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        _require(ctx, "warmup_cosine", "function",
                 ("warmup_cosine(0, 100, 10, 0.1, 0.0)", (0, 100, 10, 0.1, 0.0), {}))
        if framework == "torch":
            _require(ctx, "make_scheduler", "function",
                     ("make_scheduler(optimizer, 100, 10, min_lr=0.0)", (None, 100, 10), {"min_lr": 0.0}))
            return "`warmup_cosine` and `make_scheduler` exist with the documented arguments."
        import keras

        cls = ctx.get("WarmupCosine")
        if not (isinstance(cls, type) and issubclass(cls, keras.optimizers.schedules.LearningRateSchedule)):
            fail("`WarmupCosine` must be a class that subclasses "
                 "keras.optimizers.schedules.LearningRateSchedule.")
        return "`warmup_cosine` exists; `WarmupCosine` subclasses LearningRateSchedule."

    return run


def key_values(cfg: Schedule) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        w, t = cfg.warmup, cfg.total
        probes = {
            "the start": 0,
            "halfway through the warmup": w // 2,
            "the end of the warmup": w,
            "the midpoint of the decay": w + (t - w) // 2,
            "total_steps": t,
            "after total_steps": t + 7,
        }
        steps = cfg.steps()
        values = _curve(ctx, cfg, steps)
        want = _ref(cfg, steps)
        for where, s in probes.items():
            if abs(values[s] - want[s]) > cfg.tol:
                _fail_curve(f"warmup_cosine at step {s} ({where}) is {values[s]:.6g}, expected "
                            f"{want[s]:.6g}; over the whole run", values, cfg, steps)
        return (
            f"0 at step 0, base_lr at step {w}, (base_lr + min_lr) / 2 at the decay's midpoint, "
            "min_lr at total_steps and after."
        )

    return run


def monotone(cfg: Schedule) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        steps = cfg.steps()
        v = _curve(ctx, cfg, steps)
        w, t = cfg.warmup, cfg.total
        for s in range(1, w + 1):
            if v[s] <= v[s - 1]:
                _fail_curve(f"The LR must rise at every warmup step; from step {s - 1} to {s} it "
                            f"went {v[s - 1]:.6g} -> {v[s]:.6g}", v, cfg, steps)
        for s in range(w + 1, len(steps)):
            if v[s] > v[s - 1] + cfg.tol:
                _fail_curve(f"After the warmup the LR must never rise; from step {s - 1} to {s} "
                            f"it went {v[s - 1]:.6g} -> {v[s]:.6g}", v, cfg, steps)
        if not np.all(np.abs(v[t:] - cfg.min_lr) <= cfg.tol):
            _fail_curve("From total_steps on the LR must stay at min_lr", v, cfg, steps)
        return "Rises at every warmup step, never rises after, flat at min_lr from total_steps."

    return run


def boundary(cfg: Schedule) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        steps = cfg.steps()
        v = _curve(ctx, cfg, steps)
        want = _ref(cfg, steps)
        w = cfg.warmup
        near = [s for s in (w - 1, w, w + 1) if abs(v[s] - want[s]) > cfg.tol]
        if near:
            rise = cfg.base / w
            shown = ", ".join(f"step {s}: {v[s]:.6g}" for s in (w - 1, w, w + 1))
            _fail_curve(
                f"Around the end of the warmup the LR should go {want[w - 1]:.6g}, {want[w]:.6g}, "
                f"{want[w + 1]:.6g} (one warmup step adds {rise:.4g}; the cosine starts at its "
                f"top, base_lr); yours: {shown}", v, cfg, steps)
        return f"Continuous at the warmup boundary: exactly base_lr at step {w}, no jump either side."

    return run


def no_warmup(cfg: Schedule) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        steps = cfg.steps(3)
        v = _curve(ctx, cfg, steps, default_min=cfg.min_lr == 0.0)
        if not _matches(v, _ref(cfg, steps), cfg.tol):
            _fail_curve("With warmup_steps=0 the schedule is the cosine alone, base_lr at step 0",
                        v, cfg, steps)
        return "warmup_steps=0 gives the plain cosine from base_lr (min_lr defaults to 0)."

    return run


def whole_curve(configs: Sequence[Schedule]) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        for cfg in configs:
            steps = cfg.steps(5)
            v = _curve(ctx, cfg, steps)
            if not _matches(v, _ref(cfg, steps), cfg.tol):
                _fail_curve("warmup_cosine differs from the schedule", v, cfg, steps)
        return f"Every step of {len(configs)} schedules matches, to 1e-5 of base_lr."

    return run


def _torch_wiring(ctx: Context, cfg: Schedule) -> tuple[list[float], list[float]]:
    """Drive a real SGD with the learner's scheduler; read the lr before each update and
    the lr the update used (the step a unit gradient makes)."""
    import torch

    p = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=cfg.base)
    sched = call(ctx, "make_scheduler", opt, cfg.total, cfg.warmup, min_lr=cfg.min_lr,
                 case=f"for make_scheduler(SGD(lr={cfg.base:g}), {cfg.total}, {cfg.warmup}, "
                      f"min_lr={cfg.min_lr:g})")
    if not isinstance(sched, torch.optim.lr_scheduler.LRScheduler):
        fail(f"`make_scheduler` returned {type(sched).__name__}; it must return a "
             "torch.optim.lr_scheduler.LRScheduler (LambdaLR, or your own subclass).")
    seen, used = [], []
    for s in cfg.steps(3):
        seen.append(float(opt.param_groups[0]["lr"]))
        with torch.no_grad():
            p.zero_()
        p.grad = torch.ones_like(p)
        opt.step()
        used.append(-float(p.detach()))
        invoke(ctx, "scheduler.step()", sched.step, case=f"after update {s}")
    return seen, used


def _make_schedule(ctx: Context, cfg: Schedule) -> Any:
    cls = ctx.get("WarmupCosine")
    return invoke(ctx, "WarmupCosine", cls, cfg.base, cfg.total, cfg.warmup, min_lr=cfg.min_lr,
                  case=f"for WarmupCosine({cfg.base:g}, {cfg.total}, {cfg.warmup}, "
                       f"min_lr={cfg.min_lr:g})")


def _keras_wiring(ctx: Context, cfg: Schedule, traced: bool) -> tuple[list[float], list[float]]:
    """The learner's schedule on a real Keras SGD, eagerly or inside tf.function: read
    optimizer.learning_rate before each update and measure the lr the update used."""
    import keras
    import tensorflow as tf

    opt = keras.optimizers.SGD(learning_rate=_make_schedule(ctx, cfg))
    v = keras.Variable(0.0, dtype="float32")
    opt.build([v])

    def update() -> None:
        v.assign(0.0)
        opt.apply_gradients([(tf.ones(()), v)])

    # like model.fit: Keras' own code is not converted by AutoGraph, so neither is the schedule
    step = tf.function(update, autograph=False) if traced else update
    seen, used = [], []
    for s in cfg.steps(3):
        try:
            seen.append(float(opt.learning_rate))
            step()
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - the learner's schedule may raise anything
            where = "inside tf.function (as model.fit runs it)" if traced else "eagerly"
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            first = (lines[-1] if lines else "").split(". ")[0]
            fail(
                f"The optimizer's update at step {s} failed {where} with your WarmupCosine: "
                f"{type(exc).__name__}: {first}{_where(exc, ctx.module)}. The step arrives as "
                "an integer tensor (optimizer.iterations): compute with keras.ops (cast to "
                "float32, ops.where for the two phases, ops.cos), not with a Python `if` or "
                "the math module."
            )
        used.append(-float(v.numpy()))
    return seen, used


def wiring(cfg: Schedule, traced: bool = False) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        if ctx.framework == "torch":
            seen, used = _torch_wiring(ctx, cfg)
            read, obj = "optimizer.param_groups[0]['lr']", "scheduler"
        else:
            seen, used = _keras_wiring(ctx, cfg, traced)
            read, obj = "optimizer.learning_rate", "schedule"
        steps = cfg.steps(3)
        ctx.details.update(lr_used=[round(u, 8) for u in used])
        for name, values in (("used by each update (the step a unit gradient makes)", used),
                             (f"read from {read} before each update", seen)):
            values = np.array(values)
            if not _matches(values, _ref(cfg, steps), cfg.tol):
                _fail_curve(f"The LR {name}, over {len(steps)} updates, is not warmup_cosine",
                            values, cfg, steps, wiring=True)
        mode = " inside tf.function" if traced else ""
        return (f"A real SGD{mode} used warmup_cosine(s) at every update s = 0..{steps[-1]}, "
                f"through your {obj}.")

    return run


def schedule_config(cfg: Schedule) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        import keras

        sched = _make_schedule(ctx, cfg)
        base = keras.optimizers.schedules.LearningRateSchedule
        if type(sched).get_config is base.get_config:
            fail("`WarmupCosine` has no get_config(): without it Keras cannot save an optimizer "
                 "that uses the schedule. Return the four constructor arguments as a dict.")
        try:
            copy = type(sched).from_config(sched.get_config())
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - the learner's code may raise anything
            fail(f"`WarmupCosine.get_config()` / `from_config` failed: {type(exc).__name__}: "
                 f"{exc}{_where(exc, ctx.module)}. Return the four constructor arguments as a dict.")
        steps = [0, cfg.warmup, cfg.total]

        def at(schedule: Any, s: int) -> float:
            return float(keras.ops.convert_to_numpy(schedule(keras.ops.convert_to_tensor(s, "int64"))))

        a, b = [at(sched, s) for s in steps], [at(copy, s) for s in steps]
        if not np.allclose(a, b, rtol=1e-6, atol=0):
            fail(f"A WarmupCosine rebuilt from its get_config() gives {b} at steps {steps}, the "
                 f"original {a}: the config must hold base_lr, total_steps, warmup_steps, min_lr.")
        return "get_config() round-trips (so a model saved with this optimizer reloads)."

    return run


@dataclass
class ScheduleSpec:
    main: Schedule  # key values, monotonicity, the boundary: warmup >= 2, total - warmup even
    no_warmup: Schedule  # warmup_steps=0
    curves: list[Schedule] = field(default_factory=list)  # every step compared
    wired: Schedule | None = None  # driven through a real optimizer


def schedule_checks(framework: str, spec: ScheduleSpec) -> list[Check]:
    wired = spec.wired or spec.main
    checks = [
        Check("api", "API: the names exist with the documented arguments", schedule_api(framework),
              gate=True),
        Check("key_values", "Step 0, end of warmup, decay midpoint, the end", key_values(spec.main)),
        Check("monotone", "Rises during warmup, falls after", monotone(spec.main)),
        Check("boundary", "Continuous at the warmup boundary", boundary(spec.main)),
        Check("no_warmup", "warmup_steps=0 works", no_warmup(spec.no_warmup)),
        Check("curve", "Every step of several schedules", whole_curve(spec.curves)),
    ]
    if framework == "torch":
        checks.append(Check("scheduler", "A torch optimizer sees the values, step by step",
                            wiring(wired)))
    else:
        checks += [
            Check("schedule", "A Keras optimizer sees the values, step by step", wiring(wired)),
            Check("traced", "The schedule works inside tf.function (model.fit)",
                  wiring(wired, traced=True), needs=("schedule",)),
            Check("config", "get_config round-trips", schedule_config(wired)),
        ]
    return checks
