"""The fine-tuning setup: the grader's numbers, the pretraining task and the target task."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from resnet_kata import data as D


def source_task(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The pretraining task: four pattern classes (stripes in three orientations, blob)."""
    return D.patterns(n, 16, 3, seed=seed)


def target_task(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The fine-tuning task: three classes (horizontal, vertical stripes, blob) with
    more noise and shifted contrast, so the input statistics differ from pretraining."""
    x, y = D.patterns(n * 4 // 3 + 16, 16, 3, seed=seed, noise=0.9)
    keep = y != 2
    x, y = x[keep][:n], y[keep][:n]
    return (0.8 * x + 0.2).astype(np.float32), np.where(y == 3, 2, y)


@dataclass
class FinetuneSpec:
    old_classes: int = 4
    num_classes: int = 3
    features: int = 32
    stage: str = "layer4"
    steps: int = 60
    head_lr: float = 1e-2
    backbone_lr: float = 1e-3
    stage_steps: int = 40
    stage_head_lr: float = 1e-3
    stage_backbone_lr: float = 1e-4
    batch: int = 64
    target: float = 0.9
    tolerance: float = 0.02  # accuracy the unfrozen stage may lose (validation noise)
    n_train: int = 600
    n_val: int = 300


def split(spec: FinetuneSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_val, y_val) of the target task."""
    x, y = target_task(spec.n_train + spec.n_val, seed=202)
    return x[: spec.n_train], y[: spec.n_train], x[spec.n_train :], y[spec.n_train :]
