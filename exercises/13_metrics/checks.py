"""Checks for 13_metrics: classification metrics in numpy, against their definitions.

The exercise is numpy-only: there is no framework adapter (`ctx.A` is None) and
nothing here imports torch or tensorflow. Every reference value comes from the
counts (`references.py`); when the learner's result differs, it is compared with
the named wrong versions in `mistakes.py` (rows and columns swapped, precision and
recall swapped, macro-F1 as the harmonic mean of macro precision and recall, ...)
so the message can say which mistake it looks like.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from resnet_kata.checks import Check, Context, fail, fmt_shape
from resnet_kata.checks.calls import call, invoke, require

from .mistakes import accuracy_mistake, cm_mistake, fmt, prf_mistake, top_k_mistake
from .references import (
    AVERAGES,
    agree,
    averaged,
    imbalanced,
    noisy_labels,
    reference_cm,
    top_k_ref,
)
from .timing import TooSlow, time_limit

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
DEFAULT_K = ("Without num_classes, K = max label + 1 over BOTH arrays (not over y_true alone, "
             "and not the number of distinct labels).")
CONVERT = "Convert the inputs first: y_true = np.asarray(y_true)."


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


def _cases_text(y_true: Any, y_pred: Any, extra: str = "") -> str:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.size <= 12:
        return f"for y_true={t.tolist()}, y_pred={p.tolist()}{extra}"
    return f"for {t.size} seeded labels{extra}"


# -- the checks --------------------------------------------------------------------------


def metrics_api(ctx: Context) -> str:
    for name, (example, args, kwargs) in SIGNATURES.items():
        require(ctx, name, "function", example, args, kwargs)
    found = _forbidden_imports(ctx.module)
    if found:
        fail(
            f"Your file uses {', '.join(found)}. This exercise is numpy-only: an interviewer asks "
            "for these metrics from their definitions (and the grader compares you with those "
            "definitions, not with a library). Use numpy alone."
        )
    return "the four functions exist with the documented arguments; numpy only"


def _check_cm(ctx: Context, y_true: Any, y_pred: Any, want: np.ndarray, extra: str = "",
              **kwargs: Any) -> np.ndarray:
    case = _cases_text(y_true, y_pred, extra)
    got = _array(call(ctx, "confusion_matrix", _copy(y_true), _copy(y_pred), case=case, **kwargs),
                 "confusion_matrix", "a (K, K) integer array")
    if got.shape != want.shape or not np.array_equal(got, want):
        fail(f"confusion_matrix is wrong {case}. {cm_mistake(got, want)}",
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
        (np.array([0, 1, 2]), np.array([0, 1, 2, 1]), {},
         "y_true of length 3 and y_pred of length 4"),
        (np.array([0, 1, 5]), np.array([0, 1, 1]), {"num_classes": 3},
         "a label 5 with num_classes=3 (every label >= num_classes, not only num_classes itself)"),
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
    # and labels that do lie in range are accepted, also when class 0 never occurs
    t, p = np.array([1, 2, 2, 1]), np.array([2, 2, 1, 1])
    try:
        fn(t, p, num_classes=3)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the learner's code may raise anything
        fail(f"confusion_matrix raised {type(exc).__name__}: {exc} {_cases_text(t, p, ', num_classes=3')}, "
             "where every label lies in [0, 3): only labels below 0 or >= num_classes are bad, "
             "and a class that never occurs (here 0) is fine.")
    return "labels outside [0, num_classes) and mismatched lengths raise ValueError"


def accuracy_values(ctx: Context) -> str:
    rng = ctx.rng(2)
    cases = [(np.array([0, 1, 2, 2, 1]), np.array([0, 2, 2, 2, 0]))]
    cases += [noisy_labels(rng, n, k) for n, k in ((50, 3), (333, 10))]
    for t, p in cases:
        want = float(np.mean(t == p))
        case = _cases_text(t, p)
        got = _scalar(call(ctx, "accuracy", _copy(t), _copy(p), case=case), "accuracy", "one float")
        if agree(got, want):
            continue
        why = accuracy_mistake(got, t, p)
        fail(f"accuracy returned {got:.6g} {case}; expected {want:.6g} (correct / total)."
             + (f" It is {why}." if why else ""))
    return "accuracy = correct / total"


def _fresh(text: str | None) -> str | None:
    """The same string as a new object, as a caller's would be that built it at run time:
    `average is "micro"` is then False, `average == "micro"` True."""
    return None if text is None else "".join(list(text))


def _check_prf(ctx: Context, y_true: Any, y_pred: Any, average: str | None, k: int | None = None,
               extra: str = "") -> tuple[Any, Any, Any]:
    m = reference_cm(y_true, y_pred, k)
    want = averaged(m, average)
    kwargs: dict[str, Any] = {"average": _fresh(average)}
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
    if not all(agree(g, w) for g, w in zip(got, want, strict=True)):
        fail(f"precision_recall_f1 is wrong {case}. {prf_mistake(got, want, m, average)}",
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
    if not all(agree(_scalar(g, "precision_recall_f1", "three floats"), w)
               for g, w in zip(default, results["macro"], strict=True)):
        fail(f"precision_recall_f1 {case} returned {tuple(map(fmt, default))}; the default average "
             f"is 'macro': {tuple(map(fmt, results['macro']))}.")
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


def _top_k_case(ctx: Context, labels: np.ndarray, scores: np.ndarray, k: int, what: str,
                advice: str = "") -> float:
    case = f"for {len(labels)} samples, {scores.shape[1]} classes, k={k}{what}"
    got = _scalar(call(ctx, "top_k_accuracy", _copy(labels), _copy(scores), k=k, case=case,
                       advice=advice), "top_k_accuracy", "one float")
    want = top_k_ref(labels, scores, k)
    if not agree(got, want):
        fail(f"top_k_accuracy returned {got:.6g} {case}; expected {want:.6g}. "
             + top_k_mistake(got, labels, scores, k))
    return got


def top_k(ctx: Context) -> str:
    rng = ctx.rng(5)
    n, c = 400, 10
    labels = rng.integers(0, c, n)
    scores = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[labels]  # informative, no ties
    argmax_acc = float(np.mean(scores.argmax(1) == labels))
    got1 = _top_k_case(ctx, labels, scores, 1, " (top-1)")
    if not agree(got1, argmax_acc):  # pragma: no cover - the reference guarantees it
        fail(f"top_k_accuracy(k=1) gave {got1:.6g}; the accuracy of the argmax is {argmax_acc:.6g}.")
    for k in (2, 3, 5):
        _top_k_case(ctx, labels, scores, k, "")
    _top_k_case(ctx, labels, scores, c, " (k = C: the true class is always among all C)")
    _top_k_case(ctx, labels, scores, c + 2, f" (k > C = {c})",
                advice="k may exceed the number of classes: every class is then among the top k, "
                       "so the result is 1.0 (np.argpartition(scores, kth) needs kth < C; the rank "
                       "rule (scores >= true_score[:, None]).sum(1) - 1 < k needs no special case).")
    probs = np.exp(scores[:5]) / np.exp(scores[:5]).sum(1, keepdims=True)
    _top_k_case(ctx, labels[:5], probs, 2, " (softmax probabilities)")
    default = _scalar(call(ctx, "top_k_accuracy", _copy(labels), _copy(scores),
                           case=f"for {n} samples, {c} classes, k left to its default"),
                      "top_k_accuracy", "one float")
    if not agree(default, top_k_ref(labels, scores, 5)):
        fail(f"top_k_accuracy(labels, scores) returned {default:.6g} with k left out; the "
             f"default is k=5: {top_k_ref(labels, scores, 5):.6g}.")
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
        if not agree(got, want):
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
            fail(f"confusion_matrix is wrong {case}: {cm_mistake(got, m)} {CONVERT}")
        acc = _scalar(call(ctx, "accuracy", conv(t), conv(p), case=case, advice=CONVERT),
                      "accuracy", "one float")
        if not agree(acc, np.mean(t == p)):
            note = (" Comparing two Python lists with == gives ONE bool (are the lists equal?), "
                    "not one per sample.") if form == "Python lists" else ""
            fail(f"accuracy returned {acc:.6g} {case}; expected {np.mean(t == p):.6g}.{note} {CONVERT}")
        for average in ("macro", None):
            got3 = _triple(call(ctx, "precision_recall_f1", conv(t), conv(p), average=average,
                                case=case, advice=CONVERT), "precision_recall_f1", case)
            if not all(agree(np.asarray(g, np.float64), w)
                       for g, w in zip(got3, averaged(m, average), strict=True)):
                fail(f"precision_recall_f1(average={average!r}) is wrong {case}. {CONVERT}")
        sc = scores.tolist() if form == "Python lists" else scores
        top = _scalar(call(ctx, "top_k_accuracy", conv(t), sc, k=2, case=case, advice=CONVERT),
                      "top_k_accuracy", "one float")
        if not agree(top, top_k_ref(t, scores, 2)):
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
    """The speed check's sizes and limits."""

    n: int = 100_000
    classes: int = 1000
    top_k_classes: int = 100
    top_k_n: int = 50_000
    limit: float = 1.0  # seconds per call
    stop: float = 4.0  # seconds after which the learner's code is interrupted


# The speed bar: one call on 100,000 labels and 1,000 classes in under a second. A
# vectorised count takes milliseconds; a Python loop over the samples about 0.1 s.
SCALE = Scale(n=100_000, classes=1000, top_k_n=50_000, top_k_classes=100, limit=1.0, stop=4.0)


def _timed(ctx: Context, spec: Scale, name: str, what: str, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    fn = ctx.get(name, "function")
    best = float("inf")
    out = None
    for _attempt in range(2):  # a busy machine gets a second try
        start = time.perf_counter()
        try:
            with time_limit(spec.stop):
                out = invoke(ctx, name, fn, *args, case=f"on {what}", **kwargs)
        except TooSlow:
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
            fail(f"confusion_matrix is wrong on {what}. {cm_mistake(got, want)}")
        out, t_prf = _timed(ctx, spec, "precision_recall_f1", what, t.copy(), p.copy(),
                            num_classes=spec.classes, average="macro")
        out = _triple(out, "precision_recall_f1", f"on {what}")
        if not all(agree(g, w) for g, w in zip(out, averaged(want, "macro"), strict=True)):
            fail(f"precision_recall_f1(average='macro') is wrong on {what}.")
        labels = rng.integers(0, spec.top_k_classes, spec.top_k_n)
        scores = rng.random((spec.top_k_n, spec.top_k_classes), dtype=np.float32)
        what_k = f"scores of shape ({spec.top_k_n:,}, {spec.top_k_classes})"
        top, t_top = _timed(ctx, spec, "top_k_accuracy", what_k, labels.copy(), scores.copy(), k=5)
        if not agree(_scalar(top, "top_k_accuracy", "one float"), top_k_ref(labels, scores, 5)):
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
    if not agree(acc, want_acc):
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


def checks(framework: str) -> list[Check]:
    """The battery (numpy only: `framework` is always "numpy")."""
    spec = SCALE
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
