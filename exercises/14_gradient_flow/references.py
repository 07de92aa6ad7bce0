"""The grader's recomputation for 14_gradient_flow: the learner's layers read, logits and gradients redone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_kata.checks import fail


def sequence(obj: Any) -> list[Any] | None:
    """The blocks in `hidden`: a list, tuple, nn.ModuleList/Sequential or keras.Sequential."""
    if obj is None:
        return None
    layers = getattr(obj, "layers", None)
    if isinstance(layers, (list, tuple)) and not isinstance(obj, (list, tuple)):
        return list(layers)
    try:
        return list(obj)
    except TypeError:
        return None


def blocks(model: Any, name: str) -> list[Any]:
    found = sequence(getattr(model, "hidden", None))
    if found is None:
        fail(f"The model from `{name}` has no attribute `hidden` holding the hidden blocks (a list, "
             "nn.ModuleList / nn.Sequential, or keras.Sequential): the grader reads the i-th hidden "
             "layer as model.hidden[i].linear.")
    return found


def linears(model: Any, name: str) -> list[Any]:
    out = []
    for i, block in enumerate(blocks(model, name)):
        lin = getattr(block, "linear", None)
        if lin is None:
            fail(f"`hidden[{i}]` of the model from `{name}` ({type(block).__name__}) has no attribute "
                 "`linear`: each hidden block keeps its Linear/Dense layer as `.linear`.")
        out.append(lin)
    return out


def ref_logits(drv: Any, model: Any, x: Any, residual: bool) -> Any:
    """The network's data flow, recomputed from the weights of the learner's layers
    (W x + b computed here, so a Keras Dense may carry the tanh as its activation)."""
    h = drv.affine(model.stem, x)
    for lin in linears(model, "the model"):
        a = drv.tanh(drv.affine(lin, h))
        h = h + a if residual else a
    return drv.affine(model.head, h)


@dataclass
class Grads:
    w: list[np.ndarray]
    b: list[np.ndarray]

    def norms(self) -> np.ndarray:
        return np.array([np.linalg.norm(g) for g in self.w])


def ref_grads(drv: Any, model: Any, x: Any, y: Any, residual: bool, loss: str = "ce") -> Grads:
    """The gradients of every hidden weight and bias for `loss` ("ce": the mean cross-entropy)."""
    lins = linears(model, "the model")
    weights = [drv.kernel(lin) for lin in lins]
    biases = [drv.bias(lin) for lin in lins]
    present = [b for b in biases if b is not None]
    found = drv.grads(lambda: drv.loss(loss, ref_logits(drv, model, x, residual), y), weights + present)
    gw, rest = found[: len(weights)], iter(found[len(weights):])
    gb = [np.zeros(1) if b is None else next(rest) for b in biases]
    return Grads(gw, gb)


def same(a: np.ndarray, b: np.ndarray, rtol: float = 1e-4) -> bool:
    """Equal elementwise to `rtol` of b (the norms span eleven orders of magnitude)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or not np.all(np.isfinite(a)):
        return False
    return bool(np.all(np.abs(a - b) <= rtol * np.abs(b) + 1e-30))


def mean_ce(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())
