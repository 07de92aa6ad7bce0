"""The two framework drivers: the learner's layer and the framework's own, fed canonical numpy arrays.

Each imports its framework inside, so a torch check never loads TensorFlow and the reverse.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from resnet_kata.checks import Context, fail, fmt_shape
from resnet_kata.checks.calls import invoke, watch_library

from .references import KERAS, TORCH


class TorchBN:
    """The learner's BatchNorm2d and nn.BatchNorm2d, driven with canonical numpy arrays."""

    conv = TORCH
    forbidden_base = "nn.BatchNorm2d (or any torch.nn.modules.batchnorm._BatchNorm)"

    def __init__(self, ctx: Context):
        import torch
        from torch import nn

        self.torch, self.nn, self.ctx, self.A = torch, nn, ctx, ctx.A

    def signature(self, c: int, eps: float | None, momentum: float | None) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        if eps is not None:
            kwargs["eps"] = eps
        if momentum is not None:
            kwargs["momentum"] = momentum
        args = ", ".join([str(c)] + [f"{k}={v}" for k, v in kwargs.items()])
        return f"BatchNorm2d({args})", kwargs

    def learner(self, c: int, eps: float | None = None, momentum: float | None = None) -> Any:
        text, kwargs = self.signature(c, eps, momentum)
        cls = self.ctx.get("BatchNorm2d")
        layer = invoke(self.ctx, "BatchNorm2d", cls, c, case=f"when constructed as `{text}`", **kwargs)
        if not isinstance(layer, self.nn.Module):
            fail(f"`{text}` is a {type(layer).__name__}; BatchNorm2d must subclass torch.nn.Module.")
        return layer.to(self.A.device)

    def reference(self, c: int, eps: float | None = None, momentum: float | None = None) -> Any:
        layer = self.nn.BatchNorm2d(c, eps=TORCH.eps if eps is None else eps,
                                    momentum=TORCH.momentum if momentum is None else momentum)
        return layer.to(self.A.device)

    def build(self, layer: Any, c: int) -> None:
        """torch layers have their tensors from the constructor."""

    def tensor(self, layer: Any, name: str) -> Any:
        t = getattr(layer, name, None)
        if not isinstance(t, self.torch.Tensor):
            fail(
                f"Your BatchNorm2d has no tensor attribute `{name}` (found "
                f"{type(t).__name__}). Use torch's names: weight, bias (nn.Parameter) and the "
                "buffers running_mean, running_var, num_batches_tracked (register_buffer)."
            )
        return t

    def set(self, layer: Any, **values: np.ndarray) -> None:
        names = {"g": "weight", "b": "bias", "rm": "running_mean", "rv": "running_var"}
        with self.torch.no_grad():
            for key, value in values.items():
                t = self.tensor(layer, names[key])
                t.copy_(self.torch.as_tensor(np.asarray(value, np.float32)).reshape(t.shape))

    def stats(self, layer: Any) -> tuple[np.ndarray, np.ndarray, int | None]:
        rm = self.A.numpy(self.tensor(layer, "running_mean")).astype(np.float64)
        rv = self.A.numpy(self.tensor(layer, "running_var")).astype(np.float64)
        n = getattr(layer, "num_batches_tracked", None)
        return rm, rv, (int(n) if isinstance(n, self.torch.Tensor) and n.numel() == 1 else None)

    def _check_out(self, out: Any, x: np.ndarray, where: str) -> None:
        if not isinstance(out, self.torch.Tensor):
            fail(f"`BatchNorm2d.forward` returned a {type(out).__name__} {where}; return a tensor.")
        if tuple(out.shape) != tuple(x.shape):
            fail(f"`BatchNorm2d.forward` returned shape {fmt_shape(out.shape)} {where}; "
                 f"BatchNorm keeps the input's shape {fmt_shape(x.shape)}.")

    def run(self, layer: Any, x: np.ndarray, training: bool | None, where: str = "",
            grad: bool = False) -> np.ndarray:
        """One forward pass; `grad`: with autograd on and an input that requires grad, as for a
        BatchNorm after a conv inside a net (a graph the running statistics must stay out of)."""
        layer.train(bool(training))
        xt = self.A.tensor(x)
        with contextlib.nullcontext() if grad else self.torch.no_grad():
            out = invoke(self.ctx, "BatchNorm2d.forward", layer, xt.requires_grad_(grad), case=where)
        self._check_out(out, x, where)
        return self.A.numpy(out).astype(np.float64)

    STATE = ("running_mean", "running_var", "num_batches_tracked")

    def held(self, layer: Any) -> dict[str, Any]:
        """The buffer objects themselves, as state_dict(keep_vars=True) or DDP hold them."""
        return {name: self.tensor(layer, name) for name in self.STATE}

    def state_problem(self, layer: Any, where: str) -> str:
        """What else than their values is wrong with the buffers after training calls, or ''."""
        torch = self.torch
        w = self.tensor(layer, "weight")
        buffers = dict(layer.named_buffers(recurse=False))
        params = dict(layer.named_parameters(recurse=False))
        update = ("Keep the buffer register_buffer made and update its values in place under "
                  "`with torch.no_grad():` (mul_/add_, lerp_ or copy_), which keeps its device, dtype "
                  "and shape")
        for name in self.STATE:
            t = self.tensor(layer, name)
            want_dtype, want_shape = (torch.long, ()) if name == "num_batches_tracked" else (
                w.dtype, tuple(w.shape))
            if name in params:
                return (f"{where}, `{name}` is an nn.Parameter, no longer a buffer: the optimizer "
                        f"would see it and named_buffers() no longer lists it. {update}.")
            if buffers.get(name) is not t:
                return (f"{where}, `{name}` is no longer the registered buffer (state_dict(), .to() "
                        f"and load_state_dict() no longer see the tensor the layer uses). {update}.")
            if t.device != w.device:
                return (f"{where}, `{name}` is on {t.device} while the layer's weight is on "
                        f"{w.device}: it was replaced by a tensor made on another device (torch.tensor"
                        f"(...) or torch.from_numpy(...) without device=). {update}.")
            if tuple(t.shape) != want_shape:
                return (f"{where}, `{name}` has shape {fmt_shape(t.shape)}; it must keep shape "
                        f"{fmt_shape(want_shape)} (a statistic kept with keepdim=True, or broadcast "
                        f"against one, changes it). {update}.")
            if t.dtype != want_dtype:
                how = ("`+ 1.0` or a float division turns the long counter into a float"
                       if name == "num_batches_tracked" else
                       "a numpy round trip or torch.tensor(...) of float64 values gives float64")
                return (f"{where}, `{name}` is {t.dtype}; nn.BatchNorm2d keeps it {want_dtype}: it was "
                        f"replaced by a tensor of another dtype ({how}). {update}.")
            if t.requires_grad or t.grad_fn is not None:
                history = (f"grad_fn={type(t.grad_fn).__name__}" if t.grad_fn is not None
                           else "requires_grad=True")
                return (f"{where} on inputs that require grad (as after a conv), `{name}` carries "
                        f"autograd history ({history}): it was updated from the batch statistics "
                        "outside torch.no_grad(), so every step chains onto the last step's graph "
                        "(memory grows; a later backward can reach old graphs). Update the running "
                        "statistics under `with torch.no_grad():` (or from mean.detach()).")
        return ""

    def rebound(self, layer: Any, held: dict[str, Any], where: str) -> str:
        """A buffer replaced by a new tensor instead of updated in place, or ''."""
        for name, before in held.items():
            if self.tensor(layer, name) is not before:
                return (f"{where}, `{name}` is a new tensor: it was rebound (`self.{name} = ...`) "
                        "instead of updated in place, so whatever holds the buffer "
                        "(state_dict(keep_vars=True), DistributedDataParallel's buffer broadcast) keeps "
                        f"the old tensor and never sees the update. Update it in place under "
                        f"torch.no_grad(): self.{name}.mul_(1 - m).add_(m * batch_stat), "
                        ".lerp_(batch_stat, m) or .copy_(...)"
                        + (" (the counter: self.num_batches_tracked += 1 or .add_(1))"
                           if name == "num_batches_tracked" else "") + ".")
        return ""

    def grads(self, layer: Any, x: np.ndarray, w: np.ndarray, where: str) -> dict[str, np.ndarray]:
        """Train mode: d sum(out * w) / d(x, gamma, beta)."""
        layer.train(True)
        xt = self.A.tensor(x).requires_grad_(True)
        g, b = self.tensor(layer, "weight"), self.tensor(layer, "bias")
        for p in (g, b):
            p.grad = None
        out = invoke(self.ctx, "BatchNorm2d.forward", layer, xt, case=where)
        self._check_out(out, x, where)
        if not out.requires_grad:
            return {"out": self.A.numpy(out), "x": np.zeros_like(x), "g": np.zeros(g.shape),
                    "b": np.zeros(b.shape)}
        (out * self.A.tensor(w)).sum().backward()

        def grad(t: Any) -> np.ndarray:
            return np.zeros(tuple(t.shape)) if t.grad is None else self.A.numpy(t.grad).astype(np.float64)

        found = {"out": self.A.numpy(out), "x": grad(xt), "g": grad(g), "b": grad(b)}
        for p in (g, b):
            p.grad = None
        return found

    def is_framework_bn(self, layer: Any) -> bool:
        return isinstance(layer, self.nn.modules.batchnorm._NormBase)

    @contextlib.contextmanager
    def watched(self) -> Iterator[list[str]]:
        import torch.nn.functional as F

        torch = self.torch
        library = {f"torch.nn.functional.{n}": getattr(F, n)
                   for n in ("batch_norm", "instance_norm", "layer_norm", "group_norm")}
        library.update({f"torch.{n}": getattr(torch, n)
                        for n in ("batch_norm", "instance_norm", "layer_norm", "group_norm",
                                  "native_batch_norm", "native_layer_norm", "native_group_norm")
                        if hasattr(torch, n)})
        with watch_library(library, [F, torch, self.ctx.module]) as calls:
            yield calls


class KerasBN:
    """The learner's BatchNorm and keras BatchNormalization, driven with canonical numpy arrays."""

    conv = KERAS
    forbidden_base = "keras.layers.BatchNormalization"

    def __init__(self, ctx: Context):
        import keras
        import tensorflow as tf

        self.keras, self.tf, self.ctx, self.A = keras, tf, ctx, ctx.A

    def signature(self, c: int, eps: float | None, momentum: float | None) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        if momentum is not None:
            kwargs["momentum"] = momentum
        if eps is not None:
            kwargs["epsilon"] = eps
        return f"BatchNorm({', '.join(f'{k}={v}' for k, v in kwargs.items())})", kwargs

    def learner(self, c: int, eps: float | None = None, momentum: float | None = None) -> Any:
        text, kwargs = self.signature(c, eps, momentum)
        cls = self.ctx.get("BatchNorm")
        layer = invoke(self.ctx, "BatchNorm", cls, case=f"when constructed as `{text}`", **kwargs)
        if not isinstance(layer, self.keras.layers.Layer):
            fail(f"`{text}` is a {type(layer).__name__}; BatchNorm must subclass keras.layers.Layer.")
        self.build(layer, c)
        return layer

    def reference(self, c: int, eps: float | None = None, momentum: float | None = None) -> Any:
        layer = self.keras.layers.BatchNormalization(
            momentum=KERAS.momentum if momentum is None else momentum,
            epsilon=KERAS.eps if eps is None else eps,
        )
        layer.build((None, 4, 4, c))
        return layer

    def build(self, layer: Any, c: int) -> None:
        """Create the weights without a call, so no statistic moves before the check sets them."""
        if not layer.built:
            invoke(self.ctx, "BatchNorm.build", layer.build, (2, 4, 4, c),
                   case=f"for an input shape (2, 4, 4, {c})")

    def tensor(self, layer: Any, name: str) -> Any:
        v = getattr(layer, name, None)
        if not isinstance(v, self.keras.Variable) and self.tf.is_tensor(v) and layer.weights:
            fail(
                f"`self.{name}` is now a plain tensor ({type(v).__name__}), not the weight "
                f"build() created with add_weight: it was rebound with `=` (`self.{name} = ...`), "
                "which replaces the attribute and leaves the layer's weight behind "
                "(layer.weights, get_weights() and a saved model keep the old value). Update the weight with "
                f"`self.{name}.assign(...)` instead."
            )
        if not isinstance(v, self.keras.Variable):
            fail(
                f"Your BatchNorm has no weight `{name}` after build (found {type(v).__name__}). "
                "Create gamma and beta (trainable) and moving_mean, moving_variance "
                "(trainable=False) with self.add_weight in build(), under exactly these names."
            )
        return v

    def set(self, layer: Any, **values: np.ndarray) -> None:
        names = {"g": "gamma", "b": "beta", "rm": "moving_mean", "rv": "moving_variance"}
        for key, value in values.items():
            v = self.tensor(layer, names[key])
            v.assign(np.asarray(value, np.float32).reshape(v.shape))

    STATE = ("moving_mean", "moving_variance")

    def held(self, layer: Any) -> dict[str, Any]:
        """The weight objects themselves, as layer.weights and a saved model hold them."""
        return {name: self.tensor(layer, name) for name in self.STATE}

    def state_problem(self, layer: Any, where: str) -> str:
        """A moving statistic that is no longer one of the layer's weights, or ''."""
        for name in self.STATE:
            v = self.tensor(layer, name)
            if not any(w is v for w in layer.weights):
                return (f"{where}, `self.{name}` is a variable the layer does not track (not in "
                        "layer.weights): create it once in build() with add_weight and update it "
                        f"with `self.{name}.assign(...)`.")
        return ""

    def rebound(self, layer: Any, held: dict[str, Any], where: str) -> str:
        for name, before in held.items():
            if self.tensor(layer, name) is not before:
                return (f"{where}, `self.{name}` is a different variable from the one build() "
                        "created: the layer's saved weights keep the old one. Update it with "
                        f"`self.{name}.assign(...)` instead of creating a new one.")
        return ""

    def stats(self, layer: Any) -> tuple[np.ndarray, np.ndarray, int | None]:
        rm = np.asarray(self.tensor(layer, "moving_mean").numpy(), np.float64)
        rv = np.asarray(self.tensor(layer, "moving_variance").numpy(), np.float64)
        return rm, rv, None

    def _check_out(self, out: Any, x: np.ndarray, where: str) -> None:
        if not self.tf.is_tensor(out):
            fail(f"`BatchNorm.call` returned a {type(out).__name__} {where}; return a tensor.")
        want = (x.shape[0], *x.shape[2:], x.shape[1])
        if tuple(out.shape) != want:
            fail(f"`BatchNorm.call` returned shape {fmt_shape(out.shape)} {where}; BatchNorm "
                 f"keeps the input's shape {fmt_shape(want)}.")

    def run(self, layer: Any, x: np.ndarray, training: bool | None, where: str = "",
            grad: bool = False) -> np.ndarray:
        xt = self.A.tensor(x)
        if training is None:
            out = invoke(self.ctx, "BatchNorm.call", layer, xt, case=where)
        else:
            out = invoke(self.ctx, "BatchNorm.call", layer, xt, training=training, case=where)
        self._check_out(out, x, where)
        return self.A.numpy(out).astype(np.float64)

    def grads(self, layer: Any, x: np.ndarray, w: np.ndarray, where: str) -> dict[str, np.ndarray]:
        tf = self.tf
        xt = self.A.tensor(x)
        g, b = self.tensor(layer, "gamma"), self.tensor(layer, "beta")
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = invoke(self.ctx, "BatchNorm.call", layer, xt, training=True, case=where)
            self._check_out(out, x, where)
            loss = tf.reduce_sum(out * self.A.tensor(w))
        found = tape.gradient(loss, [xt, g, b])

        def grad(t: Any, shape: tuple[int, ...]) -> np.ndarray:
            if t is None:
                return np.zeros(shape)
            return self.A.numpy(tf.convert_to_tensor(t)).astype(np.float64)

        return {"out": self.A.numpy(out), "x": grad(found[0], x.shape),
                "g": grad(found[1], tuple(g.shape)), "b": grad(found[2], tuple(b.shape))}

    def is_framework_bn(self, layer: Any) -> bool:
        return isinstance(layer, self.keras.layers.BatchNormalization)

    @contextlib.contextmanager
    def watched(self) -> Iterator[list[str]]:
        import keras.src.backend.tensorflow.nn as backend_nn
        import keras.src.ops as kops
        import keras.src.ops.nn as kops_nn

        keras, tf = self.keras, self.tf
        # the same function can sit under several names: the public name, listed last, wins
        candidates = {
            "keras' backend batch_normalization": backend_nn.batch_normalization,
            "tf.compat.v1.nn.batch_normalization": tf.compat.v1.nn.batch_normalization,
            "tf.compat.v1.nn.fused_batch_norm": tf.compat.v1.nn.fused_batch_norm,
            "tf.nn.fused_batch_norm": getattr(tf.nn, "fused_batch_norm", None),
            "tf.nn.batch_normalization": tf.nn.batch_normalization,
            "keras.ops.batch_normalization": kops_nn.batch_normalization,
        }
        for op in ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"):
            candidates[f"tf.raw_ops.{op}"] = getattr(tf.raw_ops, op, None)
        library = {k: v for k, v in candidates.items() if v is not None}
        modules = [keras.ops, kops, kops_nn, backend_nn, tf.nn, tf.compat.v1.nn, tf.raw_ops,
                   self.ctx.module]
        with watch_library(library, modules) as calls:
            yield calls


def driver(ctx: Context) -> Any:
    """The check's driver for its framework, made once per grading run."""
    if "bn_driver" not in ctx.store:
        ctx.store["bn_driver"] = TorchBN(ctx) if ctx.framework == "torch" else KerasBN(ctx)
    return ctx.store["bn_driver"]
