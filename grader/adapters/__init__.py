"""Framework adapters: the few operations the check battery needs, per framework.

Arrays cross the adapter as numpy in the *canonical* layout, channels first
(N, C, H, W) or (N, C, L), whatever the framework's own layout is; the adapter
converts. Only the adapter for the framework being graded is ever imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


class DeviceUnavailable(RuntimeError):
    """The requested device (e.g. cuda) is not usable with this framework."""


@dataclass
class LayerInfo:
    """What the grader reads off one layer, the same fields in both frameworks."""

    kind: str  # conv | bn | linear | sequential | missing | other
    type_name: str = ""
    dims: int = 0  # spatial dims of a conv / bn (1 or 2); 0 when it does not apply
    in_channels: int | None = None
    out_channels: int | None = None
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    groups: int = 1
    bias: bool = False
    padding: Any = None
    trainable: int = 0
    non_trainable: int = 0
    eps: float | None = None
    momentum: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class FrameworkAdapter(Protocol):
    """The one contract between the checks and a framework: checks call only this.

    Tensors are the framework's own; arrays (`np.ndarray`) are canonical, channels first.
    What differs per exercise and framework beyond this lives in the exercise's folder.
    """

    name: str            # "torch" | "tf"
    label: str           # "PyTorch" | "TensorFlow/Keras"
    channels_last: bool  # the framework's own layout (Keras: True)
    # a built block is kept for the next check that builds the same one, its values put back
    # (Keras: building costs more than restoring; a torch module also carries modes and grads)
    reuse_builds: bool
    module_base: str     # what a learner's layer subclasses, for messages
    device: Any          # the framework's device (torch.device, or a TF device string)

    @property
    def device_name(self) -> str: ...

    # global state
    def reset(self, seed: int = 0) -> None: ...

    # tensors
    def tensor(self, x: Any, dtype: Any = None) -> Any: ...
    def numpy(self, t: Any) -> np.ndarray: ...
    def is_tensor(self, t: Any) -> bool: ...
    def relu(self, x: Any) -> Any: ...
    def sigmoid(self, x: Any) -> Any: ...
    def spatial_mean(self, x: Any) -> Any: ...
    def spatial_max(self, x: Any) -> Any: ...
    def flatten(self, x: Any) -> Any: ...
    def concat_channels(self, xs: list[Any]) -> Any: ...

    # models and layers
    def is_model(self, obj: Any) -> bool: ...
    def prepare(self, model: Any, in_shape: tuple[int, ...] | None = None) -> Any: ...
    # a model built with its layers and weight shapes but no values, for checks that only
    # read it (counts, names, layer settings): torch on the meta device, Keras with constants
    def sketch(self, make: Callable[[], Any], in_shape: tuple[int, ...] | None = None) -> Any: ...
    def get(self, obj: Any, path: str) -> Any: ...
    def children(self, obj: Any) -> dict[str, Any]: ...
    def info(self, layer: Any) -> LayerInfo: ...
    def count(self, model: Any) -> tuple[int, int]: ...
    def bn_layers(self, model: Any) -> list[tuple[str, Any]]: ...
    def set_mode(self, model: Any, training: bool) -> None: ...
    def call(self, layer: Any, x: Any, training: bool) -> Any: ...
    def forward(self, model: Any, x: Any, training: bool) -> np.ndarray: ...

    # state
    def snapshot(self, model: Any) -> Any: ...
    def restore(self, model: Any, snap: Any) -> None: ...
    def set_bn(self, layer: Any, **values: Any) -> None: ...
    def randomize_bn(self, model: Any, rng: np.random.Generator) -> None: ...
    def weights(self, model: Any) -> dict[str, np.ndarray]: ...
    def bn_running(self, layer: Any) -> tuple[np.ndarray, np.ndarray]: ...

    # gradients and training
    def grads(self, model: Any, fn: Callable[[Any], Any], x: np.ndarray, weight: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]: ...
    def classifier(self, body: Iterable[Any], in_channels: int, stem: int, features: int,
                   classes: int, dims: int = 2) -> Any: ...
    def fit(self, model: Any, x: np.ndarray, y: np.ndarray, steps: int, batch: int, lr: float,
            on_step: Callable[[int, float], None] | None = None, seed: int = 0,
            params: Iterable[Any] | None = None) -> list[float]: ...
    def recalibrate_bn(self, model: Any, x: np.ndarray) -> None: ...
    def predict(self, model: Any, x: np.ndarray, batch: int = 256) -> np.ndarray: ...
    def accuracy(self, model: Any, x: np.ndarray, y: np.ndarray) -> float: ...


ADAPTER_MODULES = {"torch": "resnet_kata.adapters.torch_adapter", "tf": "resnet_kata.adapters.tf_adapter"}


def get_adapter(framework: str, device: str = "auto") -> FrameworkAdapter:
    """Import and set up the adapter for `framework` ("torch" or "tf")."""
    module = importlib.import_module(ADAPTER_MODULES[framework])
    return module.Adapter(device)
