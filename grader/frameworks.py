"""Which frameworks are installed, their versions, and how to install a missing one.

Only package metadata is read here: nothing imports torch or tensorflow.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import sys
from dataclasses import dataclass

# The wheels the kit is tested with (also pinned in .ci/run): the CPU build of
# torch and tensorflow-cpu, so that no multi-GB CUDA download is needed.
PINS = {"torch": "torch==2.13.0", "tf": "tensorflow-cpu==2.21.0"}
LABELS = {"torch": "PyTorch", "tf": "TensorFlow/Keras", "numpy": "NumPy"}
_MODULES = {"torch": ("torch",), "tf": ("tensorflow", "keras"), "numpy": ("numpy",)}
_DISTS = {"torch": ("torch",), "tf": ("tensorflow-cpu", "tensorflow"), "numpy": ("numpy",)}


@dataclass(frozen=True)
class FrameworkInfo:
    name: str
    label: str
    installed: bool
    version: str

    @property
    def install_command(self) -> str:
        return install_command(self.name)


def install_command(framework: str) -> str:
    pin = PINS.get(framework, framework)
    return f"{sys.executable} -m pip install '{pin}'"


def _version(framework: str) -> str:
    for dist in _DISTS[framework]:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            continue
    return ""


def info(framework: str) -> FrameworkInfo:
    installed = all(importlib.util.find_spec(m) is not None for m in _MODULES[framework])
    return FrameworkInfo(framework, LABELS[framework], installed, _version(framework))


def is_installed(framework: str) -> bool:
    return info(framework).installed
