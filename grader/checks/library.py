"""Reading what learner code returned, the same way for any exercise and framework.

A function the learner writes may return a 0-dim tensor (torch or TensorFlow), a
numpy scalar or a Python number; the checks want a float, or a failure that says
what came back instead. Nothing here imports a framework: tensors are read
through their own `.detach()` / `.numpy()`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import fail, fmt_shape


def returned_number(value: Any, fn: str, what: str) -> float:
    """A returned scalar (a 0-dim tensor, a numpy or Python number) as a float.

    `fn` names the learner's function and `what` the value it must return, for the failure.
    """
    if value is None:
        fail(f"`{fn}` returned None; it must return {what}.")
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy"):
        value = value.numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"`{fn}` returned a {type(value).__name__}; it must return {what}.")
    if arr.size != 1:
        fail(
            f"`{fn}` returned {arr.size} numbers (shape {fmt_shape(arr.shape)}); it must "
            f"return one: {what}."
        )
    return float(arr.reshape(()))
