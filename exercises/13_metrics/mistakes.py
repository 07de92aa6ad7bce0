"""The named wrong metrics (transposed matrix, swapped precision and recall, ...) and what they say.

Each `*_mistake` compares the learner's result with known wrong versions through
`name_mistake`, then falls back to saying where the result differs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from resnet_kata.checks import fmt_shape
from resnet_kata.checks.mistakes import name_mistake

from .references import agree, per_class, top_k_ref

Triple = tuple[Any, Any, Any]


def fmt(v: Any) -> str:
    """A number or a per-class array, to 4 significant digits."""
    arr = np.asarray(v, np.float64)
    if arr.ndim == 0:
        return f"{float(arr):.4g}"
    return "[" + ", ".join(f"{x:.4g}" for x in arr) + "]"


def cm_mistake(got: np.ndarray, want: np.ndarray) -> str:
    """What a wrong confusion matrix looks like, as sentences for the learner."""
    named = name_mistake(got, [
        ("Rows and columns are swapped (your matrix is the transpose). The convention, "
         "scikit-learn's, is rows = true class, columns = predicted class: entry [i, j] counts "
         "samples of true class i predicted as j, so index m[y_true, y_pred].",
         lambda: want.T),
        ("Every non-zero entry is 1: a repeated (true, predicted) pair was counted once. "
         "`m[y_true, y_pred] += 1` with arrays is buffered and adds 1 per distinct index; "
         "use np.add.at(m, (y_true, y_pred), 1) or np.bincount(y_true * K + y_pred, minlength=K*K).",
         lambda: (want > 0).astype(got.dtype)),
    ], same=np.array_equal)
    if named:
        return named
    if got.shape == want.shape and got.sum() != want.sum():
        return (f"The counts sum to {got.sum()}, but there are {want.sum()} samples: each sample "
                "adds exactly 1.")
    if got.shape == want.shape:
        i, j = np.argwhere(got != want)[0]
        return (f"Entry [{i}, {j}] (true class {i} predicted as {j}) is {got[i, j]}, expected "
                f"{want[i, j]}.")
    return f"Its shape is {fmt_shape(got.shape)}; expected {fmt_shape(want.shape)}."


def accuracy_mistake(got: float, y_true: np.ndarray, y_pred: np.ndarray) -> str:
    """What a wrong accuracy is instead ('' when it is none of the known ones)."""
    want = float(np.mean(y_true == y_pred))
    return name_mistake(got, [
        ("the number of correct predictions; accuracy is that count divided by the number of "
         "samples", lambda: float(np.sum(y_true == y_pred))),
        ("a percentage; return a fraction in [0, 1]", lambda: 100 * want),
        ("the error rate (1 - accuracy)", lambda: 1 - want),
    ], same=agree)


def _wrong_version(want: Triple) -> Callable[[Triple, dict[int, Any]], bool]:
    """`same` for a wrong version given as {slot: value}: the learner's result matches it in
    those slots, and it is not the right answer there (else it names nothing)."""

    def same(got: Triple, version: dict[int, Any]) -> bool:
        return (all(agree(got[i], v) for i, v in version.items())
                and not all(agree(v, want[i]) for i, v in version.items()))

    return same


PRECISION, RECALL, F1 = 0, 1, 2


def prf_mistake(got: Triple, want: Triple, m: np.ndarray, average: str | None) -> str:
    """Name the mistake a wrong (precision, recall, f1) looks like."""
    gp, gr, gf = got
    wp, wr, wf = want
    same = _wrong_version(want)
    swapped = name_mistake(got, [
        ("Precision and recall are swapped. Precision of class c = TP / (TP + FP): divide by "
         "how often c was PREDICTED (column sum). Recall = TP / (TP + FN): divide by how often "
         "c is TRUE (row sum, the support).", lambda: {PRECISION: wr, RECALL: wp}),
    ], same=same)
    if swapped:
        return swapped
    if not all(np.all(np.isfinite(np.asarray(g, np.float64))) for g in got):
        return ("A value is nan or inf: a 0/0 somewhere. The statement's convention (scikit-learn's "
                "zero_division=0) makes precision 0 for a class never predicted, recall 0 for a class "
                "absent from y_true, and F1 0 when precision + recall = 0: "
                "np.divide(num, den, out=np.zeros_like(num), where=den > 0).")
    p, r, _ = per_class(m)
    if average is None:
        named = name_mistake(got, [
            ("F1 is the arithmetic mean of precision and recall; it is the HARMONIC mean, "
             "2PR / (P + R).", lambda: {PRECISION: wp, RECALL: wr, F1: (p + r) / 2}),
        ], same=same)
        return named or _per_class_difference(got, want, m)
    support, predicted = m.sum(1), m.sum(0)
    k = len(m)
    present = (support + predicted) > 0
    versions: list[tuple[str, Callable[[], dict[int, Any]]]] = []
    if average == "macro":
        versions.append((
            "Your macro-F1 is the harmonic mean of macro precision and macro recall. "
            "Macro-F1 is the MEAN of the per-class F1 scores: compute F1 per class, then "
            "average (the classic trap; the two differ whenever classes differ).",
            lambda: {F1: _harmonic(float(p.mean()), float(r.mean()))}))
        if not present.all():
            versions.append((
                f"You averaged only over the classes that appear; macro averages over all "
                f"{k} classes 0..num_classes-1, a class absent from both arrays counting 0.",
                lambda: {PRECISION: p[present].mean()}))
        versions.append(("That is the WEIGHTED average; macro gives every class the same weight 1/K.",
                         lambda: {PRECISION: (p * support).sum() / support.sum()}))
    elif average == "weighted":
        by_predictions = ("Your weights are how often each class was PREDICTED (column sums); "
                          "weighted averaging uses the support: how often each class is TRUE (row sums).")
        versions += [
            ("Your weighted F1 is the harmonic mean of weighted precision and weighted recall. "
             "Weighted F1 is the support-weighted MEAN of the per-class F1 scores: F1 per class "
             "first, then the weighted average.",
             lambda: {F1: _harmonic(float(wp), float(wr))}),
            (by_predictions, lambda: {PRECISION: float((predicted / predicted.sum()) @ p)}),
            (by_predictions, lambda: {RECALL: float((predicted / predicted.sum()) @ r)}),
            ("The weighted sum is not divided by the total support (the number of samples).",
             lambda: {PRECISION: float(support @ p)}),
            ("That is the MACRO average; weighted weighs each class by its support / N.",
             lambda: {PRECISION: float(p.mean())}),
        ]
    else:  # micro
        versions += [
            ("That is the MACRO average. Micro pools the counts of every class before "
             "dividing: sum(TP) / sum(TP + FP); for single-label data every wrong "
             "prediction is one FP and one FN, so micro P = R = F1 = accuracy.",
             lambda: {PRECISION: float(p.mean())}),
            ("That is the WEIGHTED average. Micro pools the counts of every class: "
             "sum(TP) / sum(TP + FP), which equals accuracy for single-label data.",
             lambda: {PRECISION: float((p * support).sum() / support.sum())}),
        ]
    named = name_mistake(got, versions, same=same)
    if named:
        return named
    labels = ("precision", "recall", "f1")
    wrong = [f"{n} {fmt(g)} (expected {fmt(w)})" for n, g, w in zip(labels, got, want, strict=True)
             if not agree(g, w)]
    return "Wrong: " + ", ".join(wrong) + "."


def _harmonic(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _per_class_difference(got: Triple, want: Triple, m: np.ndarray) -> str:
    """With average=None: the first value and class that differ, and why a 0/0 class is 0."""
    wp, wr, _ = want
    for name, g, w in zip(("precision", "recall", "f1"), got, want, strict=True):
        if agree(g, w):
            continue
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


def top_k_mistake(got: float, labels: np.ndarray, scores: np.ndarray, k: int) -> str:
    """What a wrong top-k accuracy is instead ('' when it is none of the known ones)."""
    want = top_k_ref(labels, scores, k)
    c = scores.shape[1]
    versions: list[tuple[str, Callable[[], float]]] = []
    if k < c:
        versions.append((
            f"It is the top-{k + 1} accuracy: an off-by-one in k (rank < k with rank 0 for the best "
            "class, or the k largest scores, np.argsort(-scores, axis=1)[:, :k]).",
            lambda: top_k_ref(labels, scores, k + 1)))
    if k > 1:
        versions.append((
            f"It is the top-{k - 1} accuracy: an off-by-one in k (the best k classes, not k - 1).",
            lambda: top_k_ref(labels, scores, k - 1)))
    versions += [
        ("It is the top-k ERROR (1 - accuracy).", lambda: 1 - want),
        ("It is what the k LOWEST scores give: np.argsort sorts ascending, so take the last k "
         "columns, or sort -scores.", lambda: top_k_ref(labels, -scores, k)),
    ]
    return name_mistake(got, versions, same=lambda g, v: not agree(v, want) and agree(g, v))
