"""The SE module's data flow, recomputed from the learner's fc1/fc2, and its named wrong versions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from resnet_kata.checks.blocks import Flow
from resnet_kata.checks.probes import numpy_gate, pooled_mlp, softmax_over


def se_logits(A: Any, se: Any, x: Any, squeeze: Callable[[Any], Any] | None = None,
              hidden: Callable[[Any], Any] | None = None) -> Any:
    """fc2(relu(fc1(avgpool(x)))), before the gate's sigmoid, in broadcast shape."""
    return pooled_mlp(A, se, x, squeeze=squeeze, hidden=hidden)


def se_gate(A: Any, se: Any, x: Any) -> Any:
    return A.sigmoid(se_logits(A, se, x))


def se_scale(A: Any, se: Any, x: Any) -> Any:
    """What an SE module returns: x times its per-channel gate."""
    return x * se_gate(A, se, x)


def _per_position(A: Any, se: Any, x: Any, training: bool) -> Any:
    """fc1/fc2 applied at every position: no squeeze, one gate per pixel."""
    xn = A.numpy(x)
    n, c = xn.shape[:2]
    pixels = np.moveaxis(xn, 1, -1).reshape(-1, c)[:, :, None, None]
    z = A.numpy(se_logits(A, se, A.tensor(pixels), squeeze=lambda t: t))[:, :, 0, 0]
    g = np.moveaxis(z.reshape(n, *xn.shape[2:], c), -1, 1)
    return x * A.tensor((1.0 / (1.0 + np.exp(-g))).astype(np.float32))


def _batch_squeeze(A: Any, se: Any, x: Any, training: bool) -> Any:
    """The squeeze averaged over the batch too: every sample gets the same gates."""
    xn = A.numpy(x)
    pooled = np.broadcast_to(xn.mean(axis=0, keepdims=True), xn.shape).astype(np.float32)
    return x * A.sigmoid(se_logits(A, se, A.tensor(np.ascontiguousarray(pooled))))


SE_WRONG_FLOWS: dict[str, Flow] = {
    "the squeeze takes the global maximum; SE squeezes with the global AVERAGE pool":
        lambda A, se, x, t: x * A.sigmoid(se_logits(A, se, x, squeeze=A.spatial_max)),
    "the gate is a ReLU instead of a sigmoid":
        lambda A, se, x, t: x * A.relu(se_logits(A, se, x)),
    "the gate is a softmax over the channels instead of a sigmoid per channel":
        numpy_gate(se_logits, softmax_over((1,))),
    "the gate is a hard sigmoid (ReLU6(z + 3) / 6); SE uses the logistic sigmoid":
        numpy_gate(se_logits, lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0)),
    "fc2's output multiplies x without any sigmoid":
        lambda A, se, x, t: x * se_logits(A, se, x),
    "the ReLU between fc1 and fc2 is missing":
        lambda A, se, x, t: x * A.sigmoid(se_logits(A, se, x, hidden=lambda h: h)),
    "the gate is added to x; SE multiplies x by it":
        lambda A, se, x, t: x + se_gate(A, se, x),
    "the squeeze also averaged over the batch, so every sample got the same gates: average "
    "over height and width only (torch dim=(2, 3), Keras axis=(1, 2))":
        _batch_squeeze,
    "the gate is computed at every position (no squeeze): fc1 and fc2 must act on the "
    "globally pooled features, one gate per channel":
        _per_position,
}
