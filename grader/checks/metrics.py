"""Checks for 13_metrics: classification metrics in numpy, against their definitions.

The exercise is numpy-only: there is no framework adapter (`ctx.A` is None) and
nothing here imports torch or tensorflow. Every reference value is computed in
this module from the counts (`reference_cm`, `per_class`); when the learner's
result differs, it is compared with named wrong variants (rows and columns
swapped, precision and recall swapped, macro-F1 as the harmonic mean of macro
precision and recall, ...) so the message can say which mistake it looks like.
"""

from __future__ import annotations

import contextlib
import inspect
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from . import Check, Context, fail, fmt_shape
from .calls import call, invoke

FORBIDDEN = ("sklearn", "torch", "tensorflow", "keras", "scipy")
SIGNATURES = {
    "confusion_matrix": ("confusion_matrix(y_true, y_pred, num_classes=3)", ([0], [0]), {"num_classes": 3}),
    "accuracy": ("accuracy(y_true, y_pred)", ([0], [0]), {}),
    "precision_recall_f1": (
        "precision_recall_f1(y_true, y_pred, num_classes=3, average='macro')",
        ([0], [0]), {"num_classes": 3, "average": "macro"},
    ),
    "top_k_accuracy": ("top_k_accuracy(labels, scores, k=5)", ([0], [[0.0]]), {"k": 5}),
}
AVERAGES = ("macro", "weighted", "micro")
DEFAULT_K = ("Without num_classes, K = max label + 1 over BOTH arrays (not over y_true alone, "
             "and not the number of distinct labels).")
CONVERT = "Convert the inputs first: y_true = np.asarray(y_true)."


# -- the definitions ------------------------------------------------------------------


def reference_cm(y_true: Any, y_pred: Any, k: int | None = None) -> np.ndarray:
    t, p = np.asarray(y_true, np.int64).ravel(), np.asarray(y_pred, np.int64).ravel()
    k = int(max(t.max(), p.max())) + 1 if k is None else k
    m = np.zeros((k, k), np.int64)
    np.add.at(m, (t, p), 1)  # unbuffered: a repeated (true, predicted) pair counts every time
    return m


def _ratio(num: Any, den: Any) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def per_class(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 of every class from a confusion matrix (0 where 0/0)."""
    tp = np.diag(m).astype(np.float64)
    precision, recall = _ratio(tp, m.sum(0)), _ratio(tp, m.sum(1))
    return precision, recall, _ratio(2 * precision * recall, precision + recall)


def averaged(m: np.ndarray, average: str | None) -> tuple[Any, Any, Any]:
    if average == "micro":
        acc = float(np.trace(m) / m.sum())
        return acc, acc, acc
    p, r, f = per_class(m)
    if average is None:
        return p, r, f
    w = m.sum(1) / m.sum() if average == "weighted" else np.full(len(m), 1.0 / len(m))
    return float(w @ p), float(w @ r), float(w @ f)


def top_k_ref(labels: Any, scores: Any, k: int) -> float:
    """Correct when fewer than k other classes score at least as high as the true one."""
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    true = scores[np.arange(len(labels)), labels]
    rank = (scores >= true[:, None]).sum(1) - 1
    return float(np.mean(rank < k))


# -- data ------------------------------------------------------------------------------


def noisy_labels(rng: np.random.Generator, n: int, k: int, right: float = 0.6,
                 priors: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Seeded labels and predictions: the truth with probability `right`, else a random class."""
    y_true = rng.choice(k, size=n, p=priors)
    keep = rng.random(n) < right
    y_pred = np.where(keep, y_true, rng.integers(0, k, n))
    return y_true, y_pred


def imbalanced(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A classifier on 900/60/40 samples that mostly answers the majority class."""
    y_true = np.repeat([0, 1, 2], [900, 60, 40])
    hit = rng.random(y_true.size) < np.array([0.98, 0.30, 0.10])[y_true]
    y_pred = np.where(hit, y_true, np.where(y_true == 0, rng.integers(1, 3, y_true.size), 0))
    order = rng.permutation(y_true.size)
    return y_true[order], y_pred[order]


# -- calling the learner's code and reading its results ---------------------------------


def _forbidden_imports(module: ModuleType) -> list[str]:
    found = set()
    for value in vars(module).values():
        name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", "")
        root = (name or "").split(".")[0]
        if root in FORBIDDEN:
            found.add(root)
    return sorted(found)


def _array(value: Any, fn: str, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - whatever the learner returned
        fail(f"`{fn}` returned a {type(value).__name__}; it must return {what}.")
    if arr.dtype == object:
        fail(f"`{fn}` returned a {type(value).__name__} that is not numeric; it must return {what}.")
    return arr


def _scalar(value: Any, fn: str, what: str) -> float:
    if value is None:
        fail(f"`{fn}` returned None; it must return {what}.")
    arr = _array(value, fn, what)
    if arr.size != 1:
        fail(f"`{fn}` returned {arr.size} numbers (shape {fmt_shape(arr.shape)}); it must return {what}.")
    return float(arr.reshape(()))


def _triple(value: Any, fn: str, case: str) -> tuple[Any, Any, Any]:
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        kind = f"a {type(value).__name__}" + (f" of {len(value)}" if isinstance(value, (tuple, list)) else "")
        fail(f"`{fn}` returned {kind} {case}; it must return three values: (precision, recall, f1).")
    return tuple(value)


def _copy(a: Any) -> Any:
    """What the learner gets: a copy, so a function that writes into its input cannot change
    the grader's data (`no_mutation` reports that mistake by name)."""
    return a.copy() if isinstance(a, np.ndarray) else list(a) if isinstance(a, list) else a


def _eq(a: Any, b: Any, tol: float = 1e-9) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tol * (1 + np.abs(b))))


def _fmt(v: Any) -> str:
    arr = np.asarray(v, np.float64)
    if arr.ndim == 0:
        return f"{float(arr):.4g}"
    return "[" + ", ".join(f"{x:.4g}" for x in arr) + "]"


def _cases_text(y_true: Any, y_pred: Any, extra: str = "") -> str:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.size <= 12:
        return f"for y_true={t.tolist()}, y_pred={p.tolist()}{extra}"
    return f"for {t.size} seeded labels{extra}"


class _TooSlow(BaseException):
    """Raised by the timer inside the learner's code (BaseException: `except Exception` cannot eat it)."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the learner's code after `seconds` where a POSIX timer is available."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _TooSlow

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- the checks --------------------------------------------------------------------------


def metrics_api(ctx: Context) -> str:
    for name, (example, args, kwargs) in SIGNATURES.items():
        fn = ctx.get(name, "function")
        if not callable(fn):
            fail(f"`{name}` must be a function; it is a {type(fn).__name__}.")
        with contextlib.suppress(TypeError, ValueError):
            sig = inspect.signature(fn)
            try:
                sig.bind(*args, **kwargs)
            except TypeError as exc:
                fail(f"`{name}{sig}` cannot be called as `{example}`: {exc}.")
    found = _forbidden_imports(ctx.module)
    if found:
        fail(
            f"Your file uses {', '.join(found)}. This exercise is numpy-only: an interviewer asks "
            "for these metrics from their definitions (and the grader compares you with those "
            "definitions, not with a library). Use numpy alone."
        )
    return "the four functions exist with the documented arguments; numpy only"


def _cm_mistake(got: np.ndarray, want: np.ndarray) -> str:
    if got.shape == want.shape and np.array_equal(got, want.T):
        return (
            "Rows and columns are swapped (your matrix is the transpose). The convention, "
            "scikit-learn's, is rows = true class, columns = predicted class: entry [i, j] counts "
            "samples of true class i predicted as j, so index m[y_true, y_pred]."
        )
    if got.shape == want.shape and np.array_equal(got, (want > 0).astype(got.dtype)):
        return (
            "Every non-zero entry is 1: a repeated (true, predicted) pair was counted once. "
            "`m[y_true, y_pred] += 1` with arrays is buffered and adds 1 per distinct index; "
            "use np.add.at(m, (y_true, y_pred), 1) or np.bincount(y_true * K + y_pred, minlength=K*K)."
        )
    if got.shape == want.shape and got.sum() != want.sum():
        return (f"The counts sum to {got.sum()}, but there are {want.sum()} samples: each sample "
                "adds exactly 1.")
    if got.shape == want.shape:
        i, j = np.argwhere(got != want)[0]
        return (f"Entry [{i}, {j}] (true class {i} predicted as {j}) is {got[i, j]}, expected "
                f"{want[i, j]}.")
    return f"Its shape is {fmt_shape(got.shape)}; expected {fmt_shape(want.shape)}."


def _check_cm(ctx: Context, y_true: Any, y_pred: Any, want: np.ndarray, extra: str = "",
              **kwargs: Any) -> np.ndarray:
    case = _cases_text(y_true, y_pred, extra)
    got = _array(call(ctx, "confusion_matrix", _copy(y_true), _copy(y_pred), case=case, **kwargs),
                 "confusion_matrix", "a (K, K) integer array")
    if got.shape != want.shape or not np.array_equal(got, want):
        fail(f"confusion_matrix is wrong {case}. {_cm_mistake(got, want)}",
             expected=want.tolist() if want.size <= 36 else None)
    if not np.issubdtype(got.dtype, np.integer):
        fail(f"confusion_matrix returned {got.dtype} counts {case}; counts are integers: return an "
             "integer array (np.zeros((K, K), dtype=np.int64), or np.bincount, which counts in int).")
    return got


def cm_values(ctx: Context) -> str:
    t, p = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2]
    _check_cm(ctx, np.array(t), np.array(p), reference_cm(t, p))
    rng = ctx.rng(1)
    for n, k in ((60, 4), (500, 7)):
        y_true, y_pred = noisy_labels(rng, n, k)
        _check_cm(ctx, y_true, y_pred, reference_cm(y_true, y_pred, k), num_classes=k)
    return "rows are the true class, columns the predicted one; every sample counted once"


def cm_num_classes(ctx: Context) -> str:
    t, p = np.array([0, 1, 2, 1]), np.array([0, 2, 2, 1])
    got = _array(call(ctx, "confusion_matrix", t, p, num_classes=5,
                      case=_cases_text(t, p, ", num_classes=5")), "confusion_matrix", "a (5, 5) array")
    if got.shape != (5, 5):
        fail(f"confusion_matrix(..., num_classes=5) returned shape {fmt_shape(got.shape)} for labels "
             "0..2; num_classes=5 was ignored. Classes 3 and 4 are absent from the data but still "
             "have a row and a column of zeros (5 x 5).")
    _check_cm(ctx, t, p, reference_cm(t, p, 5), ", num_classes=5", num_classes=5)
    for t, p in (([0, 1, 2, 2], [0, 1, 3, 2]), ([0, 4, 4, 0], [0, 4, 0, 4])):
        want = reference_cm(t, p)
        case = _cases_text(t, p, " (no num_classes)")
        got = _array(call(ctx, "confusion_matrix", np.array(t), np.array(p), case=case,
                          advice="These labels are valid. " + DEFAULT_K),
                     "confusion_matrix", "a (K, K) array")
        k = len(want)
        if got.shape != want.shape:
            why = f"{DEFAULT_K} Here K = {k}."
            if got.shape == (max(t) + 1,) * 2:
                why += " Yours looks at y_true only: a prediction of a larger class must fit too."
            elif got.shape == (len(set(t) | set(p)),) * 2:
                why += (" Yours counts the distinct labels (np.unique): classes are 0..K-1 and a "
                        "class that appears in neither array still has its row.")
            fail(f"confusion_matrix returned shape {fmt_shape(got.shape)} {case}. {why}")
        _check_cm(ctx, np.array(t), np.array(p), want, " (no num_classes)")
    return "num_classes is honoured (absent classes get zero rows and columns); default max label + 1"


def cm_bad_labels(ctx: Context) -> str:
    fn = ctx.get("confusion_matrix", "function")
    cases = [
        (np.array([0, 1, -1, 2]), np.array([0, 1, 1, 2]), {},
         "a label of -1 (numpy indexing would silently count it as the last class)"),
        (np.array([0, 1, 2, 3]), np.array([0, 1, 2, 2]), {"num_classes": 3},
         "a label 3 with num_classes=3 (labels must lie in [0, num_classes))"),
        (np.array([0, 1, 2]), np.array([0, 3, 1]), {"num_classes": 3},
         "a predicted label 3 with num_classes=3"),
        (np.array([0, 1, 2, 1]), np.array([0, 1, 2]), {},
         "y_true of length 4 and y_pred of length 3 (zip would silently drop a sample)"),
    ]
    for t, p, kwargs, what in cases:
        extra = "".join(f", {k}={v}" for k, v in kwargs.items())
        try:
            out = fn(t, p, **kwargs)
        except NotImplementedError:
            raise
        except ValueError:
            continue
        except Exception as exc:  # noqa: BLE001 - the learner's code may raise anything
            fail(f"confusion_matrix raised {type(exc).__name__}: {exc} {_cases_text(t, p, extra)}: "
                 f"{what}. The statement asks for a ValueError: check the labels yourself and "
                 "`raise ValueError(...)` before counting.")
        shape = fmt_shape(np.shape(out)) if out is not None else "None"
        fail(f"confusion_matrix accepted {what} and returned shape {shape} "
             f"{_cases_text(t, p, extra)}. It must raise ValueError: a bad label is a bug upstream "
             "that a metric must not hide.")
    return "labels outside [0, num_classes) and mismatched lengths raise ValueError"


def accuracy_values(ctx: Context) -> str:
    rng = ctx.rng(2)
    cases = [(np.array([0, 1, 2, 2, 1]), np.array([0, 2, 2, 2, 0]))]
    cases += [noisy_labels(rng, n, k) for n, k in ((50, 3), (333, 10))]
    for t, p in cases:
        want = float(np.mean(t == p))
        case = _cases_text(t, p)
        got = _scalar(call(ctx, "accuracy", _copy(t), _copy(p), case=case), "accuracy", "one float")
        if _eq(got, want):
            continue
        named = {
            float(np.sum(t == p)): "the number of correct predictions; accuracy is that count "
                                   "divided by the number of samples",
            100 * want: "a percentage; return a fraction in [0, 1]",
            1 - want: "the error rate (1 - accuracy)",
        }
        why = next((w for v, w in named.items() if _eq(got, v)), "")
        fail(f"accuracy returned {got:.6g} {case}; expected {want:.6g} (correct / total)."
             + (f" It is {why}." if why else ""))
    return "accuracy = correct / total"


def _prf_mistake(got: tuple[Any, Any, Any], want: tuple[Any, Any, Any], m: np.ndarray,
                 average: str | None) -> str:
    """Name the mistake a wrong (precision, recall, f1) looks like."""
    gp, gr, gf = got
    wp, wr, wf = want
    if not _eq(wp, wr) and _eq(gp, wr) and _eq(gr, wp):
        return ("Precision and recall are swapped. Precision of class c = TP / (TP + FP): divide by "
                "how often c was PREDICTED (column sum). Recall = TP / (TP + FN): divide by how often "
                "c is TRUE (row sum, the support).")
    if not all(np.all(np.isfinite(np.asarray(g, np.float64))) for g in got):
        return ("A value is nan or inf: a 0/0 somewhere. The statement's convention (scikit-learn's "
                "zero_division=0) makes precision 0 for a class never predicted, recall 0 for a class "
                "absent from y_true, and F1 0 when precision + recall = 0: "
                "np.divide(num, den, out=np.zeros_like(num), where=den > 0).")
    if average is None:
        p, r, _ = per_class(m)
        if _eq(gp, wp) and _eq(gr, wr) and _eq(gf, (p + r) / 2):
            return ("F1 is the arithmetic mean of precision and recall; it is the HARMONIC mean, "
                    "2PR / (P + R).")
        for name, g, w in (("precision", gp, wp), ("recall", gr, wr), ("f1", gf, wf)):
            if not _eq(g, w):
                g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
                if g.shape != w.shape:
                    return (f"{name} has shape {fmt_shape(g.shape)}; with average=None each value is "
                            f"an array with one entry per class, shape {fmt_shape(w.shape)}.")
                c = int(np.argmax(np.abs(g - w)))
                note = ""
                if m[:, c].sum() == 0 and name == "precision":
                    note = (f" Class {c} is never predicted (TP + FP = 0): the convention is 0 "
                            "(scikit-learn's zero_division=0).")
                elif m[c].sum() == 0 and name == "recall":
                    note = (f" Class {c} is absent from y_true (TP + FN = 0): the convention is 0 "
                            "(scikit-learn's zero_division=0).")
                elif name == "f1" and wp[c] + wr[c] == 0:
                    note = f" Precision and recall of class {c} are both 0, so its F1 is 0."
                return f"{name} of class {c} is {g[c]:.4g}, expected {w[c]:.4g}.{note}"
        return ""
    p, r, f = per_class(m)
    support, predicted = m.sum(1), m.sum(0)
    k = len(m)
    present = (support + predicted) > 0
    named: list[tuple[str, Any, str]] = []
    if average == "macro":
        hp, hr = float(p.mean()), float(r.mean())
        harmonic = 2 * hp * hr / (hp + hr) if hp + hr > 0 else 0.0
        named.append(("f1", harmonic,
                      "Your macro-F1 is the harmonic mean of macro precision and macro recall. "
                      "Macro-F1 is the MEAN of the per-class F1 scores: compute F1 per class, then "
                      "average (the classic trap; the two differ whenever classes differ)."))
        if not present.all():
            named.append(("precision", p[present].mean(),
                          f"You averaged only over the classes that appear; macro averages over all "
                          f"{k} classes 0..num_classes-1, a class absent from both arrays counting 0."))
        named.append(("precision", (p * support).sum() / support.sum(),
                      "That is the WEIGHTED average; macro gives every class the same weight 1/K."))
    elif average == "weighted":
        wpred = predicted / predicted.sum()
        named.append(("precision", float(wpred @ p),
                      "Your weights are how often each class was PREDICTED (column sums); weighted "
                      "averaging uses the support: how often each class is TRUE (row sums)."))
        named.append(("recall", float(wpred @ r),
                      "Your weights are how often each class was PREDICTED (column sums); weighted "
                      "averaging uses the support: how often each class is TRUE (row sums)."))
        named.append(("precision", float(support @ p),
                      "The weighted sum is not divided by the total support (the number of samples)."))
        named.append(("precision", float(p.mean()),
                      "That is the MACRO average; weighted weighs each class by its support / N."))
    else:  # micro
        named.append(("precision", float(p.mean()),
                      "That is the MACRO average. Micro pools the counts of every class before "
                      "dividing: sum(TP) / sum(TP + FP); for single-label data every wrong "
                      "prediction is one FP and one FN, so micro P = R = F1 = accuracy."))
        named.append(("precision", float((p * support).sum() / support.sum()),
                      "That is the WEIGHTED average. Micro pools the counts of every class: "
                      "sum(TP) / sum(TP + FP), which equals accuracy for single-label data."))
    index = {"precision": 0, "recall": 1, "f1": 2}
    for which, value, words in named:
        i = index[which]
        if not _eq(value, want[i]) and _eq(got[i], value):
            return words
    labels = ("precision", "recall", "f1")
    wrong = [f"{n} {_fmt(g)} (expected {_fmt(w)})" for n, g, w in zip(labels, got, want, strict=True)
             if not _eq(g, w)]
    return "Wrong: " + ", ".join(wrong) + "."


def _check_prf(ctx: Context, y_true: Any, y_pred: Any, average: str | None, k: int | None = None,
               extra: str = "") -> tuple[Any, Any, Any]:
    m = reference_cm(y_true, y_pred, k)
    want = averaged(m, average)
    kwargs: dict[str, Any] = {"average": average}
    if k is not None:
        kwargs["num_classes"] = k
    shown = extra + "".join(f", {a}={b!r}" for a, b in kwargs.items())
    case = _cases_text(y_true, y_pred, shown)
    got = _triple(call(ctx, "precision_recall_f1", _copy(y_true), _copy(y_pred), case=case, **kwargs),
                  "precision_recall_f1", case)
    if average is None:
        got = tuple(_array(g, "precision_recall_f1", "per-class arrays with average=None") for g in got)
    else:
        got = tuple(_scalar(g, "precision_recall_f1", f"three floats with average={average!r}")
                    for g in got)
    if not all(_eq(g, w) for g, w in zip(got, want, strict=True)):
        fail(f"precision_recall_f1 is wrong {case}. {_prf_mistake(got, want, m, average)}",
             expected=[np.asarray(w).tolist() for w in want])
    return got


def per_class_values(ctx: Context) -> str:
    rng = ctx.rng(3)
    _check_prf(ctx, np.array([0, 0, 0, 1, 1, 2]), np.array([0, 0, 1, 1, 2, 2]), None)
    for n, k in ((80, 4), (400, 6)):
        y_true, y_pred = noisy_labels(rng, n, k, right=0.5)
        _check_prf(ctx, y_true, y_pred, None, k)
    return "per class: precision = TP / column sum, recall = TP / row sum, F1 their harmonic mean"


def edge_cases(ctx: Context) -> str:
    cases = [
        ([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1], None, " (class 2 never predicted)"),
        ([0, 0, 1, 1], [0, 2, 1, 1], None, " (class 2 absent from y_true)"),
        ([0, 1, 1, 0], [1, 0, 0, 1], None, " (nothing right: every F1 is 0/0)"),
        ([0, 0, 0], [0, 0, 0], None, " (a single class)"),
        ([0, 1, 2, 3, 1], [0, 1, 2, 3, 1], None, " (all correct)"),
        ([0, 1, 1, 0], [0, 1, 1, 0], 4, " (classes 2, 3 absent from both)"),
    ]
    for t, p, k, why in cases:
        _check_prf(ctx, np.array(t), np.array(p), None, k, why)
    for t, p, k, why in cases:
        for average in AVERAGES:
            _check_prf(ctx, np.array(t), np.array(p), average, k, why)
    return ("0/0 gives 0 (zero_division=0): a class never predicted has precision 0, a class "
            "absent from y_true recall 0; one class or all correct gives 1")


def averages(ctx: Context) -> str:
    rng = ctx.rng(4)
    y_true, y_pred = noisy_labels(rng, 300, 5, right=0.55, priors=[0.5, 0.25, 0.15, 0.07, 0.03])
    results = {a: _check_prf(ctx, y_true, y_pred, a, 5) for a in AVERAGES}
    t, p = np.array([0, 0, 0, 1, 1, 2, 0, 1]), np.array([0, 0, 1, 1, 1, 0, 0, 2])
    for a in AVERAGES:
        _check_prf(ctx, t, p, a, 5, " (classes 3, 4 absent)")
    case = _cases_text(y_true, y_pred, ", num_classes=5 (average left to its default)")
    default = _triple(call(ctx, "precision_recall_f1", y_true, y_pred, num_classes=5, case=case),
                      "precision_recall_f1", case)
    if not all(_eq(_scalar(g, "precision_recall_f1", "three floats"), w)
               for g, w in zip(default, results["macro"], strict=True)):
        fail(f"precision_recall_f1 {case} returned {tuple(map(_fmt, default))}; the default average "
             f"is 'macro': {tuple(map(_fmt, results['macro']))}.")
    fn = ctx.get("precision_recall_f1", "function")
    try:
        out = fn(t, p, average="samples")
    except NotImplementedError:
        raise
    except ValueError:
        pass
    except Exception as exc:  # noqa: BLE001
        fail(f"precision_recall_f1(..., average='samples') raised {type(exc).__name__}: {exc}; an "
             "unknown average must raise ValueError (say which ones exist).")
    else:
        fail(f"precision_recall_f1(..., average='samples') returned {out!r}; an unknown average "
             "must raise ValueError, not fall back silently to another one.")
    acc = float(np.mean(y_true == y_pred))
    mp, mr, mf = results["macro"]
    return (f"macro-F1 {mf:.3f} is the mean of per-class F1 (not 2PR/(P+R) of macro P {mp:.3f} and "
            f"R {mr:.3f}); weighted uses the support; micro = accuracy = {acc:.3f}")


def _top_k_mistake(ctx: Context, got: float, labels: np.ndarray, scores: np.ndarray, k: int) -> str:
    want = top_k_ref(labels, scores, k)
    c = scores.shape[1]
    named = [
        (top_k_ref(labels, scores, k + 1) if k < c else None,
         f"It is the top-{k + 1} accuracy: an off-by-one in k (rank < k with rank 0 for the best "
         "class, or the k largest scores, np.argsort(-scores, axis=1)[:, :k])."),
        (top_k_ref(labels, scores, k - 1) if k > 1 else None,
         f"It is the top-{k - 1} accuracy: an off-by-one in k (the best k classes, not k - 1)."),
        (1 - want, "It is the top-k ERROR (1 - accuracy)."),
        (top_k_ref(labels, -scores, k),
         "It is what the k LOWEST scores give: np.argsort sorts ascending, so take the last k "
         "columns, or sort -scores."),
    ]
    for value, words in named:
        if value is not None and not _eq(value, want) and _eq(got, value):
            return words
    return ""


def _top_k_case(ctx: Context, labels: np.ndarray, scores: np.ndarray, k: int, what: str) -> float:
    case = f"for {len(labels)} samples, {scores.shape[1]} classes, k={k}{what}"
    got = _scalar(call(ctx, "top_k_accuracy", _copy(labels), _copy(scores), k=k, case=case),
                  "top_k_accuracy", "one float")
    want = top_k_ref(labels, scores, k)
    if not _eq(got, want):
        fail(f"top_k_accuracy returned {got:.6g} {case}; expected {want:.6g}. "
             + _top_k_mistake(ctx, got, labels, scores, k))
    return got


def top_k(ctx: Context) -> str:
    rng = ctx.rng(5)
    n, c = 400, 10
    labels = rng.integers(0, c, n)
    scores = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[labels]  # informative, no ties
    argmax_acc = float(np.mean(scores.argmax(1) == labels))
    got1 = _top_k_case(ctx, labels, scores, 1, " (top-1)")
    if not _eq(got1, argmax_acc):  # pragma: no cover - the reference guarantees it
        fail(f"top_k_accuracy(k=1) gave {got1:.6g}; the accuracy of the argmax is {argmax_acc:.6g}.")
    for k in (2, 3, 5):
        _top_k_case(ctx, labels, scores, k, "")
    _top_k_case(ctx, labels, scores, c, " (k = C: the true class is always among all C)")
    probs = np.exp(scores[:5]) / np.exp(scores[:5]).sum(1, keepdims=True)
    _top_k_case(ctx, labels[:5], probs, 2, " (softmax probabilities)")
    got5 = top_k_ref(labels, scores, 5)
    return f"top-1 {argmax_acc:.3f} = argmax accuracy, top-5 {got5:.3f}, top-{c} = 1"


def top_k_ties(ctx: Context) -> str:
    labels = np.array([0, 1, 2, 3])
    scores = np.array([
        [0.5, 0.5, 0.0, 0.0],   # the true class ties with class 1 for the top
        [0.2, 0.2, 0.2, 0.2],   # every class ties
        [0.1, 0.3, 0.3, 0.3],   # the true class ties with two others for the top
        [0.9, 0.0, 0.0, 0.0],   # the true class is below one class and tied with two
    ])  # ranks counting ties against the true class: 1, 3, 2, 3
    for k, want in ((1, 0.0), (2, 0.25), (3, 0.5), (4, 1.0)):
        case = f"for scores with ties {scores.tolist()}, labels {labels.tolist()}, k={k}"
        got = _scalar(call(ctx, "top_k_accuracy", labels, scores.copy(), k=k, case=case),
                      "top_k_accuracy", "one float")
        if not _eq(got, want):
            fail(f"top_k_accuracy returned {got:.4g} {case}; expected {want:.4g}. The statement's "
                 "tie rule: a sample counts when FEWER than k other classes score at least as high "
                 "as the true class (ties count against it, so constant scores never look right). "
                 "A sort (np.argsort, argpartition) breaks ties by position instead; count "
                 "(scores >= true_score[:, None]).sum(1) - 1 < k.")
    return "ties count against the true class: constant scores give top-1 = 0"


def inputs(ctx: Context) -> str:
    rng = ctx.rng(6)
    t, p = noisy_labels(rng, 40, 4)
    m = reference_cm(t, p)
    scores = rng.normal(size=(40, 4)) + np.eye(4)[t]
    forms: list[tuple[str, Callable[[np.ndarray], Any]]] = [
        ("Python lists", lambda a: a.tolist()),
        ("int32 arrays", lambda a: a.astype(np.int32)),
        ("int64 arrays", lambda a: a.astype(np.int64)),
    ]
    for form, conv in forms:
        case = f"with inputs given as {form}"
        got = _array(call(ctx, "confusion_matrix", conv(t), conv(p), case=case, advice=CONVERT),
                     "confusion_matrix", "a (K, K) array")
        if not np.array_equal(got, m):
            fail(f"confusion_matrix is wrong {case}: {_cm_mistake(got, m)} {CONVERT}")
        acc = _scalar(call(ctx, "accuracy", conv(t), conv(p), case=case, advice=CONVERT),
                      "accuracy", "one float")
        if not _eq(acc, np.mean(t == p)):
            note = (" Comparing two Python lists with == gives ONE bool (are the lists equal?), "
                    "not one per sample.") if form == "Python lists" else ""
            fail(f"accuracy returned {acc:.6g} {case}; expected {np.mean(t == p):.6g}.{note} {CONVERT}")
        for average in ("macro", None):
            got3 = _triple(call(ctx, "precision_recall_f1", conv(t), conv(p), average=average,
                                case=case, advice=CONVERT), "precision_recall_f1", case)
            if not all(_eq(np.asarray(g, np.float64), w)
                       for g, w in zip(got3, averaged(m, average), strict=True)):
                fail(f"precision_recall_f1(average={average!r}) is wrong {case}. {CONVERT}")
        sc = scores.tolist() if form == "Python lists" else scores
        top = _scalar(call(ctx, "top_k_accuracy", conv(t), sc, k=2, case=case, advice=CONVERT),
                      "top_k_accuracy", "one float")
        if not _eq(top, top_k_ref(t, scores, 2)):
            fail(f"top_k_accuracy is wrong {case}. {CONVERT}")
    return "Python lists, int32 and int64 arrays give the same results"


def no_mutation(ctx: Context) -> str:
    rng = ctx.rng(7)
    t, p = noisy_labels(rng, 50, 5)
    scores = rng.normal(size=(50, 5))
    calls = [
        ("confusion_matrix", (t, p), {}),
        ("accuracy", (t, p), {}),
        ("precision_recall_f1", (t, p), {"average": None}),
        ("precision_recall_f1", (t, p), {"average": "weighted"}),
        ("top_k_accuracy", (t, scores), {"k": 3}),
    ]
    names = {"confusion_matrix": ("y_true", "y_pred"), "accuracy": ("y_true", "y_pred"),
             "precision_recall_f1": ("y_true", "y_pred"), "top_k_accuracy": ("labels", "scores")}
    for name, args, kwargs in calls:
        copies = [a.copy() for a in args]
        call(ctx, name, *copies, **kwargs, case="on seeded arrays")
        for arg_name, before, after in zip(names[name], args, copies, strict=True):
            if not np.array_equal(before, after):
                fail(f"`{name}` changed its argument `{arg_name}` in place (an in-place sort, or "
                     "writing into it, e.g. scores[rows, labels] = ...). A metric must leave the "
                     "caller's arrays as they were: work on a copy.")
    return "the inputs are left unchanged"


@dataclass
class Scale:
    n: int = 100_000
    classes: int = 1000
    top_k_classes: int = 100
    top_k_n: int = 50_000
    limit: float = 1.0  # seconds per call
    stop: float = 4.0  # seconds after which the learner's code is interrupted


def _timed(ctx: Context, spec: Scale, name: str, what: str, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    fn = ctx.get(name, "function")
    best = float("inf")
    out = None
    for _attempt in range(2):  # a busy machine gets a second try
        start = time.perf_counter()
        try:
            with _time_limit(spec.stop):
                out = invoke(ctx, name, fn, *args, case=f"on {what}", **kwargs)
        except _TooSlow:
            fail(f"`{name}` on {what} was still running after {spec.stop:g} s (stopped); it must "
                 f"take well under {spec.limit:g} s. Count without a Python loop over classes or "
                 "class pairs: np.bincount(y_true * K + y_pred, minlength=K * K).reshape(K, K) or "
                 "np.add.at(m, (y_true, y_pred), 1) count every sample in one call.")
        best = min(best, time.perf_counter() - start)
        if best < spec.limit:
            break
    if best >= spec.limit:
        fail(f"`{name}` on {what} took {best:.2f} s; it must take under {spec.limit:g} s. Count with "
             "np.bincount(y_true * K + y_pred, minlength=K * K) or np.add.at(m, (y_true, y_pred), 1) "
             "instead of a Python loop, and compare whole arrays at once.")
    return out, best


def scale(spec: Scale) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        rng = ctx.rng(8)
        t, p = noisy_labels(rng, spec.n, spec.classes)
        what = f"N = {spec.n:,} labels and num_classes = {spec.classes}"
        got, t_cm = _timed(ctx, spec, "confusion_matrix", what, t.copy(), p.copy(),
                           num_classes=spec.classes)
        want = reference_cm(t, p, spec.classes)
        got = _array(got, "confusion_matrix", "a (K, K) integer array")
        if not np.array_equal(got, want):
            fail(f"confusion_matrix is wrong on {what}. {_cm_mistake(got, want)}")
        out, t_prf = _timed(ctx, spec, "precision_recall_f1", what, t.copy(), p.copy(),
                            num_classes=spec.classes, average="macro")
        out = _triple(out, "precision_recall_f1", f"on {what}")
        if not all(_eq(g, w) for g, w in zip(out, averaged(want, "macro"), strict=True)):
            fail(f"precision_recall_f1(average='macro') is wrong on {what}.")
        labels = rng.integers(0, spec.top_k_classes, spec.top_k_n)
        scores = rng.random((spec.top_k_n, spec.top_k_classes), dtype=np.float32)
        what_k = f"scores of shape ({spec.top_k_n:,}, {spec.top_k_classes})"
        top, t_top = _timed(ctx, spec, "top_k_accuracy", what_k, labels.copy(), scores.copy(), k=5)
        if not _eq(_scalar(top, "top_k_accuracy", "one float"), top_k_ref(labels, scores, 5)):
            fail(f"top_k_accuracy(k=5) is wrong on {what_k}.")
        ctx.details.update(seconds={"confusion_matrix": round(t_cm, 4),
                                    "precision_recall_f1": round(t_prf, 4),
                                    "top_k_accuracy": round(t_top, 4)})
        return (f"N = {spec.n:,}, K = {spec.classes}: confusion_matrix {t_cm * 1000:.0f} ms, "
                f"precision_recall_f1 {t_prf * 1000:.0f} ms; top_k_accuracy {t_top * 1000:.0f} ms")

    return run


def interview(ctx: Context) -> str:
    y_true, y_pred = imbalanced(ctx.rng(9))
    m = reference_cm(y_true, y_pred, 3)
    case = "on the imbalanced test set (900 / 60 / 40 samples of classes 0 / 1 / 2)"
    acc = _scalar(call(ctx, "accuracy", _copy(y_true), _copy(y_pred), case=case), "accuracy", "one float")
    want_acc = float(np.trace(m) / m.sum())
    if not _eq(acc, want_acc):
        fail(f"accuracy returned {acc:.4g} {case}; expected {want_acc:.4g}.")
    got = {a: _check_prf(ctx, y_true, y_pred, a, 3, " (imbalanced 900/60/40)")
           for a in ("macro", "weighted", None)}
    macro_f1, weighted_f1 = got["macro"][2], got["weighted"][2]
    recall = np.asarray(got[None][1], np.float64)
    ctx.details.update(accuracy=round(acc, 4), macro_f1=round(float(macro_f1), 4),
                       weighted_f1=round(float(weighted_f1), 4), recall=np.round(recall, 4).tolist())
    return (f"accuracy {acc:.1%} looks fine, yet macro-F1 is {macro_f1:.2f}: recall of class 1 is "
            f"{recall[1]:.0%} and of class 2 {recall[2]:.0%}. A model that mostly answers the "
            f"majority class scores high accuracy (and weighted-F1 {weighted_f1:.2f}) on imbalanced "
            "data; report per-class recall and macro-F1 with the confusion matrix")


def metrics_checks(spec: Scale | None = None) -> list[Check]:
    spec = spec or Scale()
    return [
        Check("api", "The four functions and their arguments", metrics_api, gate=True),
        Check("confusion_matrix", "Confusion matrix: orientation and counts", cm_values),
        Check("num_classes", "Confusion matrix: num_classes and its default", cm_num_classes,
              needs=("confusion_matrix",)),
        Check("bad_labels", "Confusion matrix: bad labels raise ValueError", cm_bad_labels),
        Check("accuracy", "Accuracy", accuracy_values),
        Check("per_class", "Per-class precision, recall, F1", per_class_values),
        Check("averages", "Macro, weighted and micro averages", averages, needs=("per_class",)),
        Check("edge_cases", "Zero division and edge cases", edge_cases, needs=("per_class",)),
        Check("top_k", "Top-k accuracy", top_k),
        Check("top_k_ties", "Top-k accuracy with tied scores", top_k_ties, needs=("top_k",)),
        Check("inputs", "Python lists, int32 and int64 arrays", inputs),
        Check("no_mutation", "Inputs left unchanged", no_mutation),
        Check("scale", "Fast at N = 100,000, K = 1,000", scale(spec), needs=("confusion_matrix",)),
        Check("interview", "The interview question: accuracy on imbalanced data", interview,
              needs=("accuracy", "averages")),
    ]
