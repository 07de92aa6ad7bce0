"""The metrics' definitions in numpy, the seeded labels the checks feed them, and how they compare."""

from __future__ import annotations

from typing import Any

import numpy as np

AVERAGES = ("macro", "weighted", "micro")


def reference_cm(y_true: Any, y_pred: Any, k: int | None = None) -> np.ndarray:
    t, p = np.asarray(y_true, np.int64).ravel(), np.asarray(y_pred, np.int64).ravel()
    k = int(max(t.max(), p.max())) + 1 if k is None else k
    m = np.zeros((k, k), np.int64)
    np.add.at(m, (t, p), 1)  # unbuffered: a repeated (true, predicted) pair counts every time
    return m


def ratio(num: Any, den: Any) -> np.ndarray:
    """num / den, 0 where den is 0 (scikit-learn's zero_division=0)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def per_class(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 of every class from a confusion matrix (0 where 0/0)."""
    tp = np.diag(m).astype(np.float64)
    precision, recall = ratio(tp, m.sum(0)), ratio(tp, m.sum(1))
    return precision, recall, ratio(2 * precision * recall, precision + recall)


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


def agree(a: Any, b: Any, tol: float = 1e-9) -> bool:
    """The learner's value `a` equals the definition's `b` (same shape, up to rounding)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tol * (1 + np.abs(b))))


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
