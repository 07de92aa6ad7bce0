"""13_metrics (NumPy): classification metrics from their definitions.

Conventions (scikit-learn's): confusion matrix rows are true classes, columns
predicted; a ratio whose denominator is 0 is 0 (zero_division=0); every class
0..num_classes-1 counts in a macro average, present or not.
"""

import numpy as np


def _labels(y_true, y_pred, num_classes=None):
    """Both label vectors as int arrays, checked, and the number of classes."""
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels, y_pred {y_pred.size}")
    if y_true.size == 0:
        raise ValueError("no samples")
    if num_classes is None:
        num_classes = int(max(y_true.max(), y_pred.max())) + 1
    low = min(y_true.min(), y_pred.min())
    high = max(y_true.max(), y_pred.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}); found {low}..{high}")
    return y_true.astype(np.int64), y_pred.astype(np.int64), int(num_classes)


def confusion_matrix(y_true, y_pred, num_classes=None) -> np.ndarray:
    """(K, K) int counts: entry [i, j] = samples of true class i predicted as j."""
    y_true, y_pred, k = _labels(y_true, y_pred, num_classes)
    # one bin per (true, predicted) pair: bincount does the counting in C
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def accuracy(y_true, y_pred) -> float:
    y_true, y_pred, _ = _labels(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, with 0 where den is 0 (scikit-learn's zero_division=0)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def precision_recall_f1(y_true, y_pred, num_classes=None, average="macro"):
    """(precision, recall, f1): floats, or per-class arrays when average is None."""
    if average not in ("macro", "weighted", "micro", None):
        raise ValueError(f"average must be 'macro', 'weighted', 'micro' or None, not {average!r}")
    m = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(m)
    predicted, support = m.sum(axis=0), m.sum(axis=1)
    if average == "micro":  # pool the counts of all classes: every sample is one TP or one FP
        p = r = float(tp.sum() / m.sum())
        return p, r, p
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)  # per class, then averaged
    if average is None:
        return precision, recall, f1
    weights = support / support.sum() if average == "weighted" else np.full(len(m), 1 / len(m))
    return tuple(float(np.sum(weights * v)) for v in (precision, recall, f1))


def top_k_accuracy(labels, scores, k=5) -> float:
    """Share of samples whose true class ranks in the top k; ties count against it."""
    labels = np.asarray(labels).ravel()
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != labels.size:
        raise ValueError(f"scores must be (N, C) with N = {labels.size}; got {scores.shape}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    true_score = scores[np.arange(labels.size), labels]
    # rank = how many other classes score at least as high as the true one
    rank = np.sum(scores >= true_score[:, None], axis=1) - 1
    return float(np.mean(rank < k))
