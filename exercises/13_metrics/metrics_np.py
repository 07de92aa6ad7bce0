"""13_metrics (NumPy only). Statement: `resnet-kata start 13_metrics`.

Classification metrics from their definitions: confusion matrix, accuracy,
precision / recall / F1 (macro, weighted, micro, per class) and top-k accuracy.
No scikit-learn, torch or tensorflow. Check with `resnet-kata check`.
"""

import numpy as np  # noqa: F401


def confusion_matrix(y_true, y_pred, num_classes=None) -> np.ndarray:
    # TODO: a (K, K) integer array; entry [i, j] counts samples of TRUE class i that were
    # PREDICTED as class j (rows = true, columns = predicted, scikit-learn's convention).
    # K = num_classes, or max label + 1 over both arrays when it is None.
    # Raise ValueError for a label outside [0, K) or arrays of different lengths.
    raise NotImplementedError("confusion_matrix")


def accuracy(y_true, y_pred) -> float:
    # TODO: the fraction of samples whose prediction equals the label, as a float.
    raise NotImplementedError("accuracy")


def precision_recall_f1(y_true, y_pred, num_classes=None, average="macro"):
    # TODO: return (precision, recall, f1).
    #   per class c: precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2PR / (P + R);
    #   a 0/0 is 0 (scikit-learn's zero_division=0).
    #   average=None: three arrays of length K; "macro": the plain mean over the K classes
    #   (macro-F1 = mean of the per-class F1); "weighted": weights = support / N;
    #   "micro": pool the counts (equals accuracy). Anything else: ValueError.
    raise NotImplementedError("precision_recall_f1")


def top_k_accuracy(labels, scores, k=5) -> float:
    # TODO: scores is (N, C). A sample counts when fewer than k OTHER classes have a score
    # >= the true class's score (ties count against the true class). Return the fraction.
    raise NotImplementedError("top_k_accuracy")
