"""PyTorch adapter: NCHW natively, so the canonical layout needs no transpose."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from . import DeviceUnavailable, LayerInfo

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


class _NoRandomFill(TorchFunctionMode):
    """In-place random fills (what nn.init draws from) return their tensor untouched."""

    FILLS = frozenset(getattr(torch.Tensor, name) for name in (
        "uniform_", "normal_", "random_", "bernoulli_", "exponential_", "geometric_",
        "cauchy_", "log_normal_"))

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.FILLS:
            return args[0]
        return func(*args, **(kwargs or {}))


def _adam(params: Iterable[Any], lr: float) -> Any:
    """torch.optim.Adam on the trainable tensors, fused where this torch has the kernel for
    the device (one call for every tensor: ResNet-18 at width 8, 3.3 ms a step in a loop per
    tensor, 1.1 ms fused). `lazy_dynamo` keeps its constructor from importing torch._dynamo
    (1.5 s here, more than a whole block check may take)."""
    from . import lazy_dynamo

    lazy_dynamo.install()
    params = [p for p in params if p.requires_grad]
    if not params:  # everything frozen: nothing moves, and the check says so
        return _NoStep()
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):  # a torch or device without the fused kernel
        return torch.optim.Adam(params, lr=lr)


class _NoStep:
    def zero_grad(self, set_to_none: bool = True) -> None:
        pass

    def step(self) -> None:
        pass


class Adapter:
    name = "torch"
    label = "PyTorch"
    channels_last = False
    reuse_builds = False  # building is cheap, and a module also holds modes and gradients
    module_base = "torch.nn.Module"

    def __init__(self, device: str = "auto"):
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise DeviceUnavailable(
                "--device cuda was asked for, but this PyTorch build sees no CUDA device "
                f"(torch {torch.__version__})."
            )
        self.device = torch.device(device)
        # The grader's models are small: a second CPU thread gains little, and on a busy
        # 2-core machine the threads' spinning costs several times the work itself.
        torch.set_num_threads(1)

    @property
    def device_name(self) -> str:
        if self.device.type == "cuda":
            return f"cuda ({torch.cuda.get_device_name(self.device)})"
        return "cpu"

    # -- global state --------------------------------------------------------
    def reset(self, seed: int = 0) -> None:
        """Undo what a learner's module or an earlier check may have changed."""
        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)
        # exact comparisons: no TF32 in convolutions or matmuls while grading
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    # -- tensors -------------------------------------------------------------
    def tensor(self, x: Any, dtype: Any = None) -> torch.Tensor:
        arr = np.asarray(x)
        if dtype is None and arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        return torch.as_tensor(arr, dtype=dtype).to(self.device)

    def numpy(self, t: Any) -> np.ndarray:
        if isinstance(t, torch.Tensor):
            return t.detach().float().cpu().numpy() if t.is_floating_point() else t.cpu().numpy()
        return np.asarray(t)

    def is_tensor(self, t: Any) -> bool:
        return isinstance(t, torch.Tensor)

    # -- modules -------------------------------------------------------------
    def is_model(self, obj: Any) -> bool:
        return isinstance(obj, nn.Module)

    def outline(self) -> Any:
        """A context in which a model is built with its shapes but no values: meta tensors,
        nothing allocated, random initialisers skipped (ResNet-50's 25.6M random weights
        take 0.3 s; on meta tensors they would import sympy)."""
        stack = contextlib.ExitStack()
        stack.enter_context(torch.device("meta"))
        stack.enter_context(_NoRandomFill())
        return stack

    def sketch(self, make: Callable[[], Any], in_shape: tuple[int, ...] | None = None) -> Any:
        """The model `make` returns, built as an outline (see `outline`)."""
        with self.outline():
            return make()

    def prepare(self, model: nn.Module, in_shape: tuple[int, ...] | None = None) -> nn.Module:
        """Move to the device. (Keras builds weights here; torch has them already.)"""
        return model.to(self.device)

    def get(self, obj: Any, path: str) -> Any:
        """`downsample.0`, `layer1.0.conv1`: attribute or index steps; None if absent."""
        cur = obj
        for step in path.split("."):
            if cur is None:
                return None
            if step.isdigit() and isinstance(cur, (nn.Sequential, nn.ModuleList, list, tuple)):
                idx = int(step)
                cur = cur[idx] if idx < len(cur) else None
            else:
                cur = getattr(cur, step, None)
        return cur

    def children(self, obj: Any) -> dict[str, Any]:
        return dict(obj.named_children()) if isinstance(obj, nn.Module) else {}

    def info(self, layer: Any) -> LayerInfo:
        if layer is None:
            return LayerInfo("missing")
        trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in layer.parameters() if not p.requires_grad)
        base = dict(type_name=type(layer).__name__, trainable=trainable, non_trainable=frozen)
        if isinstance(layer, _CONV):
            return LayerInfo(
                "conv",
                dims=len(layer.kernel_size),
                in_channels=layer.in_channels,
                out_channels=layer.out_channels,
                kernel=tuple(layer.kernel_size),
                stride=tuple(layer.stride),
                groups=layer.groups,
                bias=layer.bias is not None,
                padding=layer.padding,
                **base,
            )
        if isinstance(layer, _BN):
            return LayerInfo(
                "bn",
                dims={nn.BatchNorm1d: 1, nn.BatchNorm2d: 2}.get(type(layer), 3),
                in_channels=layer.num_features,
                out_channels=layer.num_features,
                bias=layer.affine,
                eps=layer.eps,
                momentum=layer.momentum,
                **base,
            )
        if isinstance(layer, nn.Linear):
            return LayerInfo(
                "linear",
                in_channels=layer.in_features,
                out_channels=layer.out_features,
                bias=layer.bias is not None,
                **base,
            )
        if isinstance(layer, (nn.Sequential, nn.ModuleList)):
            return LayerInfo("sequential", extra={"length": len(layer)}, **base)
        if isinstance(layer, nn.Module):
            return LayerInfo("other", **base)
        return LayerInfo("other", type_name=type(layer).__name__)

    def count(self, model: Any) -> tuple[int, int]:
        """(trainable, non-trainable) parameters; shared tensors count once."""
        params = list(model.parameters())
        return (
            sum(p.numel() for p in params if p.requires_grad),
            sum(p.numel() for p in params if not p.requires_grad),
        )

    def bn_layers(self, model: Any) -> list[tuple[str, Any]]:
        return [(n, m) for n, m in model.named_modules() if isinstance(m, _BN)]

    # -- running -------------------------------------------------------------
    def set_mode(self, model: Any, training: bool) -> None:
        model.train(training)

    def call(self, layer: Any, x: Any, training: bool) -> Any:
        """Call a sublayer; its mode was set on the whole model by `set_mode`."""
        return layer(x)

    def forward(self, model: Any, x: Any, training: bool) -> np.ndarray:
        self.set_mode(model, training)
        with torch.no_grad():
            return self.numpy(model(self.tensor(x)))

    relu = staticmethod(F.relu)
    sigmoid = staticmethod(torch.sigmoid)

    @staticmethod
    def spatial_mean(x: torch.Tensor) -> torch.Tensor:
        """Mean over every axis after the channel axis, kept for broadcasting."""
        return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)

    @staticmethod
    def spatial_max(x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=tuple(range(2, x.dim())), keepdim=True)

    @staticmethod
    def flatten(x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, 1)

    @staticmethod
    def concat_channels(xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, dim=1)

    # -- state ---------------------------------------------------------------
    def snapshot(self, model: Any) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}

    def restore(self, model: Any, snap: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for k, v in model.state_dict(keep_vars=True).items():
                v.copy_(snap[k])

    def set_bn(self, layer: Any, **values: Any) -> None:
        """Set any of gamma, beta, mean, var on one BN layer (scalars or arrays)."""
        targets = {
            "gamma": layer.weight,
            "beta": layer.bias,
            "mean": layer.running_mean,
            "var": layer.running_var,
        }
        with torch.no_grad():
            for key, value in values.items():
                t = targets[key]
                if t is None:
                    continue
                t.copy_(torch.as_tensor(np.broadcast_to(value, t.shape).astype(np.float32)))

    def randomize_bn(self, model: Any, rng: np.random.Generator) -> None:
        """Give every BN non-trivial gamma, beta and running statistics."""
        for _, bn in self.bn_layers(model):
            c = bn.num_features
            self.set_bn(
                bn,
                gamma=rng.uniform(0.5, 1.5, c),
                beta=rng.normal(0.0, 0.5, c),
                mean=rng.normal(0.0, 0.5, c),
                var=rng.uniform(0.5, 2.0, c),
            )

    def weights(self, model: Any) -> dict[str, np.ndarray]:
        """Every parameter and buffer, by name, as numpy (for bit-exact comparisons)."""
        return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}

    def bn_running(self, layer: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.numpy(layer.running_mean), self.numpy(layer.running_var)

    # -- gradients -----------------------------------------------------------
    def grads(
        self,
        model: Any,
        fn: Callable[[Any], Any],
        x: np.ndarray,
        weight: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Output, d(sum(out*weight))/dx and the same for every trainable parameter.

        The mode (train/eval) is whatever `set_mode` set last.
        """
        model.zero_grad(set_to_none=True)
        xt = self.tensor(x).requires_grad_(True)
        out = fn(xt)
        w = self.tensor(weight)
        if out.shape != w.shape:
            raise ValueError(f"output shape {tuple(out.shape)} but expected {tuple(w.shape)}")
        (out * w).sum().backward()
        dx = xt.grad if xt.grad is not None else torch.zeros_like(xt)
        pgrads = {}
        for name, p in model.named_parameters():
            if p.requires_grad:
                g = p.grad if p.grad is not None else torch.zeros_like(p)
                pgrads[name] = self.numpy(g)
        model.zero_grad(set_to_none=True)
        return self.numpy(out), self.numpy(dx), pgrads

    # -- training ------------------------------------------------------------
    def classifier(
        self, body: Iterable[Any], in_channels: int, stem: int, features: int, classes: int,
        dims: int = 2,
    ) -> nn.Module:
        """stem conv3x3-BN-ReLU -> the learner's layers -> global average pool -> linear."""
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        bn = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        pool = nn.AdaptiveAvgPool2d(1) if dims == 2 else nn.AdaptiveAvgPool1d(1)
        model = nn.Sequential(
            conv(in_channels, stem, 3, padding=1, bias=False),
            bn(stem),
            nn.ReLU(),
            *body,
            pool,
            nn.Flatten(),
            nn.Linear(features, classes),
        )
        return model.to(self.device)

    def fit(
        self,
        model: Any,
        x: np.ndarray,
        y: np.ndarray,
        steps: int,
        batch: int,
        lr: float,
        on_step: Callable[[int, float], None] | None = None,
        seed: int = 0,
        params: Iterable[Any] | None = None,
    ) -> list[float]:
        """Adam on cross-entropy over seeded mini-batches; returns the loss per step."""
        rng = np.random.default_rng(seed)
        xt, yt = self.tensor(x), self.tensor(y, dtype=torch.long)
        opt = _adam(params if params is not None else model.parameters(), lr=lr)
        model.train()
        losses = []
        for step in range(steps):
            idx = torch.as_tensor(rng.choice(len(x), size=min(batch, len(x)), replace=False))
            idx = idx.to(self.device)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            value = float(loss.detach())
            losses.append(value)
            if on_step:
                on_step(step + 1, value)
        return losses

    def recalibrate_bn(self, model: Any, x: np.ndarray) -> None:
        """Set every BN's running statistics to those of one large training batch."""
        bns = [bn for _, bn in self.bn_layers(model)]
        saved = [(bn.momentum, bn.training) for bn in bns]
        try:
            for bn in bns:
                bn.momentum = 1.0
                bn.train()
            with torch.no_grad():
                model(self.tensor(x))
        finally:
            for bn, (m, mode) in zip(bns, saved, strict=True):
                bn.momentum = m
                bn.train(mode)

    def predict(self, model: Any, x: np.ndarray, batch: int = 256) -> np.ndarray:
        model.eval()
        outs = []
        with torch.no_grad():
            for i in range(0, len(x), batch):
                outs.append(self.numpy(model(self.tensor(x[i : i + batch]))))
        return np.concatenate(outs)

    def accuracy(self, model: Any, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(model, x).argmax(axis=1) == np.asarray(y)).mean())
