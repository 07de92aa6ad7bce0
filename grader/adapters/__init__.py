"""Framework adapters: the few operations the check battery needs, per framework.

Arrays cross the adapter as numpy in the *canonical* layout, channels first
(N, C, H, W) or (N, C, L), whatever the framework's own layout is; the adapter
converts. Only the adapter for the framework being graded is ever imported.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


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


_MODULES = {"torch": "resnet_kata.adapters.torch_adapter", "tf": "resnet_kata.adapters.tf_adapter"}


def get_adapter(framework: str, device: str = "auto") -> Any:
    """Import and set up the adapter for `framework` ("torch" or "tf")."""
    module = importlib.import_module(_MODULES[framework])
    return module.Adapter(device)
