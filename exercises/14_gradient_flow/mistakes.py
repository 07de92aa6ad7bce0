"""The usual wrong versions in 14_gradient_flow, recomputed to name the learner's mistake."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from resnet_kata.checks.mistakes import name_mistake

from .references import linears, ref_grads, same


def block_variants(drv: Any, lin: Any, h: Any) -> dict[str, tuple[np.ndarray, str]]:
    """What a block computes on h, right (plain, residual) and wrong, with its description."""
    z = drv.affine(lin, h)
    return {
        "plain": (drv.np(drv.tanh(z)), "tanh(linear(x)), the PLAIN block"),
        "residual": (drv.np(h + drv.tanh(z)), "x + tanh(linear(x)), the RESIDUAL block"),
        "after_add": (drv.np(drv.tanh(h + z)), "tanh(x + linear(x)): the activation comes after the "
                      "add, so the shortcut goes through tanh and is no longer an identity"),
        "relu_res": (drv.np(h + drv.relu(z)), "x + relu(linear(x)): ReLU instead of tanh"),
        "relu_plain": (drv.np(drv.relu(z)), "relu(linear(x)): ReLU instead of tanh"),
        "linear_res": (drv.np(h + z), "x + linear(x): the activation is missing"),
        "linear": (drv.np(z), "linear(x): the activation is missing"),
    }


def block_mistake(got: np.ndarray, kind: str, variants: dict[str, tuple[np.ndarray, str]]) -> str:
    """Why a `kind` block's output `got` is wrong: the other kind of block, or a known wrong one."""
    want = variants[kind][0]
    other = "residual" if kind == "plain" else "plain"
    swapped = ("does not add its input: it computes tanh(linear(x)), the plain block. A residual "
               "block returns x + tanh(linear(x))" if kind == "residual" else
               "adds its input (x + tanh(linear(x))): the plain net must have NO skip, "
               "each block is tanh(linear(x))")
    candidates = [(swapped, lambda: variants[other][0])]
    candidates += [(f"computes {words}", lambda alt=alt: alt)
                   for key, (alt, words) in variants.items() if key not in (kind, other)]
    return (name_mistake(got, candidates, same=lambda a, b: same(a, b, 1e-5))
            or f"differs from {variants[kind][1]} (max difference {np.max(np.abs(got - want)):.3g})")


def norm_mistake(drv: Any, model: Any, x: Any, y: Any, got: np.ndarray, case: Any) -> str:
    """Why `layer_grad_norms` returned `got` for `case` (kind, depth, batch)."""
    res = case.kind == "residual"
    ref = ref_grads(drv, model, x, y, res)
    want = ref.norms()
    d = case.depth
    if len(got) != d:
        words = {
            d + 2: "it looks like the stem and the head were included: only the hidden blocks count",
            2 * d: "it looks like one number per parameter tensor (weights and biases): take only each "
                   "hidden layer's weight matrix",
            2 * d + 4: "it looks like one number per parameter tensor, stem and head included: take only "
                       "each hidden layer's weight matrix",
        }.get(len(got), "return exactly one number per hidden block, first hidden layer first")
        return f"you returned {len(got)} numbers for {d} hidden layers: {words}"

    def loss(kind: str) -> np.ndarray:
        return ref_grads(drv, model, x, y, res, kind).norms()

    found = name_mistake(got, [
        ("they are in reverse order: the first hidden layer (nearest the input) comes first",
         lambda: want[::-1]),
        ("they are SQUARED norms: take the square root (the L2 norm)", lambda: want**2),
        ("the bias gradient was included: measure each hidden layer's weight matrix only",
         lambda: np.sqrt(want**2 + np.array([np.sum(b**2) for b in ref.b]))),
        ("they are the norms of the weights themselves, not of their gradients",
         lambda: np.array([np.linalg.norm(drv.np(drv.kernel(lin))) for lin in linears(model, "the model")])),
        ("the loss was SUMMED over the batch: use the mean cross-entropy", lambda: want * case.batch),
        ("the loss applied softmax to the model's output and then cross-entropy, which applies it "
         "again: the model returns logits, pass them straight to the cross-entropy", lambda: loss("softmax")),
        ("the loss treated the logits as probabilities (from_logits=False, or log of the raw "
         "output): the model returns logits, use the cross-entropy from logits", lambda: loss("probs")),
        ("the loss is the MSE between logits and one-hot labels: use the cross-entropy from logits",
         lambda: loss("mse")),
        ("the loss is the MSE between probabilities and one-hot labels: use the cross-entropy from "
         "logits", lambda: loss("mse_probs")),
        ("they are L1 norms (sum of |g|): use the L2 norm, sqrt(sum g^2)",
         lambda: np.array([np.abs(g).sum() for g in ref.w])),
        ("they are SPECTRAL norms (the largest singular value: torch.linalg.norm(g, 2), "
         "keras.ops.norm(g, ord=2) or np.linalg.norm(g, 2) on a matrix): use the L2 norm of all "
         "entries, sqrt(sum g^2) (torch.linalg.vector_norm(g), tf.norm(g))",
         lambda: np.array([np.linalg.norm(g, 2) for g in ref.w])),
        ("they are root-mean-square values (divided by the number of entries): use the L2 norm, "
         "sqrt(sum g^2), not sqrt(mean g^2)",
         lambda: np.array([np.sqrt(np.mean(g**2)) for g in ref.w])),
        (f"they are in NAME order (hidden.10 sorts before hidden.2): with {d} hidden layers, "
         "sorting parameter names as strings scrambles the depth order; iterate model.hidden, "
         "or sort by the block index as a number",
         lambda: want[_name_order(d)]),
        ("they are the right norms in the wrong order: return them in depth order, hidden[0] "
         "(nearest the input) first, by iterating model.hidden",
         lambda: np.sort(want)[np.argsort(np.argsort(got))]),
    ], same=lambda a, b: same(a, b, 1e-3))
    if found:
        return found
    bad = int(np.argmax(np.abs(got - want) > 1e-4 * np.abs(want)))
    return (f"the first difference is at hidden layer {bad}: {got[bad]:.6g} instead of {want[bad]:.6g}. "
            "Use the mean cross-entropy of the logits, one backward pass, and the L2 norm of each "
            "hidden layer's weight gradient")


def _name_order(depth: int) -> np.ndarray:
    """The block indices as sorted by their names: 0, 1, 10, 11, 2, ..."""
    return np.array(sorted(range(depth), key=str))


def init_hint(framework: str, drv: Any, model: Any) -> str:
    """Why a plain net does not starve: the initialisation (zero biases, too large weights)."""
    lins = linears(model, "make_plain")
    width = drv.linear_shape(lins[0])[0]
    bound = 1 / math.sqrt(width)
    w = np.concatenate([drv.np(drv.kernel(lin)).ravel() for lin in lins])
    b = np.concatenate([drv.np(drv.bias(lin)).ravel() for lin in lins])
    if not np.any(b):
        default = ("Keras' default init (Glorot-uniform, zero biases)" if framework == "tf"
                   else "zero biases")
        return (f" Your hidden biases are all zero: with {default} a deep tanh net shrinks the forward "
                "signal as fast as the backward one, so the weight-gradient norms stay level even though "
                "the net is as good as dead. Use the statement's initialisation: PyTorch's nn.Linear "
                "default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases"
                + (" (keras.initializers.VarianceScaling(1/3, 'fan_in', 'uniform') for kernel AND bias)"
                   if framework == "tf" else ""))
    if np.max(np.abs(w)) > 1.001 * bound:
        return (f" Your hidden weights reach |w| = {np.max(np.abs(w)):.3g}, above 1/sqrt(width) = "
                f"{bound:.3g}: use the statement's initialisation (nn.Linear's default).")
    return " Check the initialisation (nn.Linear's default for every layer) and the activation (tanh)."

