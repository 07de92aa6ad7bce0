"""Checks for 13_metrics: confusion matrix, accuracy, precision/recall/F1, top-k (numpy only)."""

from resnet_kata.checks.metrics import Scale, metrics_checks

# The speed bar: one call on 100,000 labels and 1,000 classes in under a second. A
# vectorised count takes milliseconds; a Python loop over the samples about 0.1 s.
SCALE = Scale(n=100_000, classes=1000, top_k_n=50_000, top_k_classes=100, limit=1.0, stop=4.0)


def checks(framework: str):
    return metrics_checks(SCALE)
