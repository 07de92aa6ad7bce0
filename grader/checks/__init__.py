"""The check framework: named checks, a context, and learner-facing failures.

An exercise's `checks.py` defines `checks(framework) -> list[Check]`, mostly by
calling the shared battery (`blocks`, `training`, ...) with its own numbers.
A check returns a short success message or raises `CheckFailed` with a message
that says what was expected, what was found, and the likely mistake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..i18n import N_, _

# the words `Context.get` may name a definition with, for the catalog
KINDS = (N_("class"), N_("function"), N_("builder"))

if TYPE_CHECKING:
    from ..adapters import FrameworkAdapter


class CheckFailed(Exception):
    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details


def fail(message: str, **details: Any) -> None:
    raise CheckFailed(message, **details)


@dataclass
class Check:
    name: str
    title: str
    run: Callable[[Context], str | None]
    # a failed gate skips every later check (nothing sensible can run after it)
    gate: bool = False
    # checks that must have passed for this one to mean anything
    needs: tuple[str, ...] = ()


@dataclass
class Context:
    framework: str
    A: FrameworkAdapter | None  # the framework adapter (None for a numpy exercise)
    module: ModuleType
    exercise: str
    progress: Callable[..., None] = lambda *a, **k: None
    store: dict[str, Any] = field(default_factory=dict)
    # blocks built for one check, kept for the next that builds the same (checks.blocks.build)
    built: dict[tuple, tuple[Any, Any]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def rng(self, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng(1234 + salt)

    def get(self, name: str, what: str = "class") -> Any:
        """A name the learner's file must define, or a failure saying so."""
        if not hasattr(self.module, name):
            defined = sorted(
                n for n, v in vars(self.module).items() if not n.startswith("_") and callable(v)
            )
            listing = " " + _("It defines: {names}.").format(names=", ".join(defined)) if defined else ""
            fail(_("Your file defines no {what} named `{name}`.").format(what=_(what), name=name) + listing)
        return getattr(self.module, name)


def fmt_shape(shape: Any) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def close(a: np.ndarray, b: np.ndarray, tol: float = 1e-4) -> bool:
    """Equal up to float32 rounding, relative to the reference's scale."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or not np.all(np.isfinite(a)):
        return False
    scale = 1.0 + float(np.max(np.abs(b))) if b.size else 1.0
    return bool(np.max(np.abs(a - b), initial=0.0) <= tol * scale)


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    scale = 1.0 + float(np.max(np.abs(b))) if b.size else 1.0
    return float(np.max(np.abs(a - b), initial=0.0) / scale)
