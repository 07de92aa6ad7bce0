"""The framework code of 14_gradient_flow: one small driver per framework, each importing it inside."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np

from resnet_kata.checks import Context
from resnet_kata.checks.calls import invoke


class Torch:
    weight_attr = "weight"

    def __init__(self, ctx: Context):
        import torch
        import torch.nn.functional as F

        self.torch, self.F, self.A = torch, F, ctx.A

    def x(self, arr: np.ndarray) -> Any:
        return self.A.tensor(arr)

    def y(self, arr: np.ndarray) -> Any:
        return self.A.tensor(np.asarray(arr, np.int64), dtype=self.torch.long)

    def run(self, layer: Any, h: Any) -> Any:
        return layer(h)

    def affine(self, lin: Any, h: Any) -> Any:
        return self.F.linear(h, lin.weight, lin.bias)

    def kernel(self, lin: Any) -> Any:
        return lin.weight

    def bias(self, lin: Any) -> Any:
        return getattr(lin, "bias", None)

    def np(self, t: Any) -> np.ndarray:
        return np.asarray(t.detach().cpu().numpy(), np.float64)

    def tanh(self, t: Any) -> Any:
        return self.torch.tanh(t)

    def relu(self, t: Any) -> Any:
        return self.torch.relu(t)

    def softmax(self, t: Any) -> Any:
        return self.torch.softmax(t, dim=-1)

    def no_grad(self) -> Any:
        return self.torch.no_grad()

    def loss(self, kind: str, logits: Any, y: Any) -> Any:
        F, classes = self.F, logits.shape[-1]
        onehot = F.one_hot(y, classes).to(logits.dtype)
        return {
            "ce": lambda: F.cross_entropy(logits, y),
            "sum": lambda: F.cross_entropy(logits, y, reduction="sum"),
            "softmax": lambda: F.cross_entropy(F.softmax(logits, dim=-1), y),
            "probs": lambda: F.nll_loss(self.torch.log(F.softmax(logits, -1).clamp_min(1e-7)), y),
            "mse": lambda: F.mse_loss(logits, onehot),
            "mse_probs": lambda: F.mse_loss(F.softmax(logits, dim=-1), onehot),
        }[kind]()

    def grads(self, loss_fn: Callable[[], Any], tensors: list[Any]) -> list[np.ndarray]:
        loss = loss_fn()
        found = self.torch.autograd.grad(loss, tensors, allow_unused=True)
        return [np.zeros(t.shape) if g is None else self.np(g) for t, g in zip(tensors, found, strict=True)]

    def params(self, model: Any) -> list[np.ndarray]:
        return [self.np(p) for p in model.parameters()]

    def assign(self, param: Any, value: np.ndarray) -> None:
        with self.torch.no_grad():
            param.copy_(self.torch.as_tensor(value, dtype=param.dtype))

    def leftover_grads(self, model: Any) -> list[str]:
        return [n for n, p in model.named_parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)]

    def step_and_keep_grads(self, model: Any, rng: np.random.Generator) -> None:
        """Mid-training: every .grad holds a gradient and a small SGD step was taken with it,
        as after optimizer.step() and before the next zero_grad()."""
        with self.torch.no_grad():
            for p in model.parameters():
                p.grad = self.A.tensor(rng.normal(0, 1.0, tuple(p.shape))).to(p.dtype)
                p.sub_(0.01 * p.grad)

    def count(self, model: Any) -> int:
        return sum(p.numel() for p in model.parameters())

    def linear_shape(self, lin: Any) -> tuple[int, int] | None:
        w = getattr(lin, "weight", None)
        if w is None or getattr(w, "ndim", 0) != 2:
            return None
        return int(w.shape[1]), int(w.shape[0])

    def build(self, model: Any, in_features: int) -> Any:
        return self.A.prepare(model)


class Keras:
    weight_attr = "kernel"

    def __init__(self, ctx: Context):
        import keras
        import tensorflow as tf

        self.tf, self.keras, self.A, self.ctx = tf, keras, ctx.A, ctx

    def x(self, arr: np.ndarray) -> Any:
        return self.tf.constant(np.asarray(arr, np.float32))

    def y(self, arr: np.ndarray) -> Any:
        return self.tf.constant(np.asarray(arr, np.int64))

    def run(self, layer: Any, h: Any) -> Any:
        return layer(h, training=False)

    def affine(self, lin: Any, h: Any) -> Any:
        out = self.tf.matmul(h, lin.kernel)
        return out if lin.bias is None else out + lin.bias

    def kernel(self, lin: Any) -> Any:
        return lin.kernel

    def bias(self, lin: Any) -> Any:
        return getattr(lin, "bias", None)

    def np(self, t: Any) -> np.ndarray:
        return np.asarray(self.tf.convert_to_tensor(t).numpy(), np.float64)

    def tanh(self, t: Any) -> Any:
        return self.tf.tanh(t)

    def relu(self, t: Any) -> Any:
        return self.tf.nn.relu(t)

    def softmax(self, t: Any) -> Any:
        return self.tf.nn.softmax(t, axis=-1)

    def no_grad(self) -> Any:
        return contextlib.nullcontext()

    def loss(self, kind: str, logits: Any, y: Any) -> Any:
        tf, sce = self.tf, self.keras.losses.sparse_categorical_crossentropy
        onehot = tf.one_hot(y, logits.shape[-1], dtype=logits.dtype)
        return {
            "ce": lambda: tf.reduce_mean(sce(y, logits, from_logits=True)),
            "sum": lambda: tf.reduce_sum(sce(y, logits, from_logits=True)),
            "softmax": lambda: tf.reduce_mean(sce(y, tf.nn.softmax(logits), from_logits=True)),
            "probs": lambda: tf.reduce_mean(sce(y, logits, from_logits=False)),
            "mse": lambda: tf.reduce_mean(tf.square(logits - onehot)),
            "mse_probs": lambda: tf.reduce_mean(tf.square(tf.nn.softmax(logits) - onehot)),
        }[kind]()

    def grads(self, loss_fn: Callable[[], Any], tensors: list[Any]) -> list[np.ndarray]:
        with self.tf.GradientTape() as tape:
            loss = loss_fn()
        found = tape.gradient(loss, tensors)
        return [np.zeros(t.shape) if g is None else self.np(g) for t, g in zip(tensors, found, strict=True)]

    def params(self, model: Any) -> list[np.ndarray]:
        return [np.array(v.numpy(), np.float64) for v in model.weights]

    def assign(self, var: Any, value: np.ndarray) -> None:
        var.assign(value.astype(np.float32))

    def leftover_grads(self, model: Any) -> list[str]:
        return []

    def count(self, model: Any) -> int:
        return int(sum(np.prod(v.shape) for v in model.trainable_weights))

    def linear_shape(self, lin: Any) -> tuple[int, int] | None:
        k = getattr(lin, "kernel", None)
        if k is None or len(k.shape) != 2:
            return None
        return int(k.shape[0]), int(k.shape[1])

    def build(self, model: Any, in_features: int) -> Any:
        invoke(self.ctx, "model(x)", model, self.x(np.zeros((2, in_features))), training=False,
               case=f"for x = zeros of shape (2, {in_features}), the first call, which creates the "
                    "Keras weights")
        return model


def driver(ctx: Context) -> Torch | Keras:
    return Torch(ctx) if ctx.framework == "torch" else Keras(ctx)
