"""CBAM's data flows (channel, spatial, both), recomputed from the learner's own fc1/fc2 and conv."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resnet_kata.checks.probes import pooled_mlp


def mlp_logits(A: Any, ca: Any, x: Any, squeeze: Callable[[Any], Any] | None = None,
               hidden: Callable[[Any], Any] | None = None) -> Any:
    """fc2(relu(fc1(squeeze(x)))), the shared MLP on one pooled descriptor (the average by default)."""
    return pooled_mlp(A, ca, x, squeeze=squeeze, hidden=hidden)


def ca_logits(A: Any, ca: Any, x: Any, hidden: Callable[[Any], Any] | None = None) -> Any:
    """MLP(avgpool(x)) + MLP(maxpool(x)) with the learner's fc1/fc2, broadcast shape."""
    return (mlp_logits(A, ca, x, hidden=hidden)
            + mlp_logits(A, ca, x, squeeze=A.spatial_max, hidden=hidden))


def ca_gate(A: Any, ca: Any, x: Any) -> Any:
    return A.sigmoid(ca_logits(A, ca, x))


def ca_scale(A: Any, ca: Any, x: Any) -> Any:
    return x * ca_gate(A, ca, x)


def channel_pool(A: Any, x: Any, how: str) -> Any:
    """Mean or max ACROSS channels at every position, the channel axis kept (size 1)."""
    if A.channels_last:
        import keras  # only on the Keras side: a torch check never imports tensorflow

        return getattr(keras.ops, how)(x, axis=-1, keepdims=True)
    return x.mean(dim=1, keepdim=True) if how == "mean" else x.amax(dim=1, keepdim=True)


def sa_logits(A: Any, sa: Any, x: Any, order: tuple[str, str] = ("mean", "max")) -> Any:
    """conv([mean_c(x), max_c(x)]) with the learner's conv, before the sigmoid."""
    conv = A.get(sa, "conv")
    if conv is None:
        raise AttributeError("missing conv")
    fused = getattr(conv, "activation", None)  # a Keras conv built with activation="sigmoid"
    if fused is not None:
        conv.activation = None
    try:
        return A.call(conv, A.concat_channels([channel_pool(A, x, h) for h in order]), False)
    finally:
        if fused is not None:
            conv.activation = fused


def sa_gate(A: Any, sa: Any, x: Any) -> Any:
    return A.sigmoid(sa_logits(A, sa, x))


def sa_scale(A: Any, sa: Any, x: Any) -> Any:
    return x * sa_gate(A, sa, x)


def cbam_scale(A: Any, cbam: Any, x: Any) -> Any:
    """Channel attention first, spatial attention on its output."""
    return sa_scale(A, cbam.spatial, ca_scale(A, cbam.channel, x))
