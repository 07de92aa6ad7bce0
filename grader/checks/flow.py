"""Checks for 14_gradient_flow: per-layer gradient norms of a deep plain MLP and a
residual one.

The learner builds both nets (a `stem` Linear/Dense, `hidden` blocks each holding a
`.linear`, a `head`) and writes `layer_grad_norms` and `starvation_ratio`. The grader
never trusts the learner's numbers: it recomputes every block, every forward pass and
every gradient norm itself, from the learner's own layers, and when the learner's
norms differ it recomputes the usual wrong versions (reversed, squared, bias included,
MSE, softmax twice, ...) to name the mistake. The two small drivers below hold all the
framework code; each imports its framework inside, so a torch check never loads
TensorFlow and the reverse.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import Check, Context, fail
from .calls import call, invoke
from .training import curve as _curve
from .training import sparkline


@dataclass
class FlowSpec:
    # the phenomenon: deep nets, thresholds on last/first with margin to spare
    deep: int = 50
    width: int = 64
    in_features: int = 16
    classes: int = 4
    batch: int = 64
    seeds: tuple[int, ...] = (0, 1)
    plain_min: float = 1e3  # measured 1e11 in both frameworks
    residual_max: float = 10.0  # measured 0.3 to 0.45
    # the training race
    train_depth: int = 20
    train_steps: int = 60
    train_batch: int = 64
    train_lr: float = 1e-3
    train_n: int = 512
    train_margin: float = 0.5  # residual's final loss at most this fraction of plain's


# -- the framework drivers ------------------------------------------------------------


def _sequence(obj: Any) -> list[Any] | None:
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


class _Torch:
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

    def count(self, model: Any) -> int:
        return sum(p.numel() for p in model.parameters())

    def linear_shape(self, lin: Any) -> tuple[int, int] | None:
        w = getattr(lin, "weight", None)
        if w is None or getattr(w, "ndim", 0) != 2:
            return None
        return int(w.shape[1]), int(w.shape[0])

    def build(self, model: Any, in_features: int) -> Any:
        return self.A.prepare(model)


class _Keras:
    weight_attr = "kernel"

    def __init__(self, ctx: Context):
        import keras
        import tensorflow as tf

        self.tf, self.keras, self.A = tf, keras, ctx.A

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
        try:
            model(self.x(np.zeros((2, in_features))), training=False)
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - the learner's code may raise anything
            fail(f"Calling your model once on zeros of shape (2, {in_features}) (Keras creates the "
                 f"weights on the first call) raised {type(exc).__name__}: {exc}")
        return model


def _driver(ctx: Context) -> Any:
    return _Torch(ctx) if ctx.framework == "torch" else _Keras(ctx)


# -- building and reading the learner's models -----------------------------------------

KINDS = {"plain": "make_plain", "residual": "make_residual"}


def _make(ctx: Context, drv: Any, kind: str, depth: int, width: int, in_features: int, classes: int,
          seed: int = 0) -> Any:
    name = KINDS[kind]
    ctx.A.reset(seed)
    model = call(ctx, name, depth, width, in_features, classes,
                 case=f"for {name}({depth}, {width}, {in_features}, {classes})")
    if not ctx.A.is_model(model):
        base = "nn.Module" if ctx.framework == "torch" else "keras.Model"
        fail(f"`{name}` returned {type(model).__name__}; it must return the model (a {base}).")
    return drv.build(model, in_features)


def _blocks(model: Any, name: str) -> list[Any]:
    found = _sequence(getattr(model, "hidden", None))
    if found is None:
        fail(f"The model from `{name}` has no attribute `hidden` holding the hidden blocks (a list, "
             "nn.ModuleList / nn.Sequential, or keras.Sequential): the grader reads the i-th hidden "
             "layer as model.hidden[i].linear.")
    return found


def _linears(model: Any, name: str) -> list[Any]:
    out = []
    for i, block in enumerate(_blocks(model, name)):
        lin = getattr(block, "linear", None)
        if lin is None:
            fail(f"`hidden[{i}]` of the model from `{name}` ({type(block).__name__}) has no attribute "
                 "`linear`: each hidden block keeps its Linear/Dense layer as `.linear`.")
        out.append(lin)
    return out


def _ref_logits(drv: Any, model: Any, x: Any, residual: bool) -> Any:
    """The network's data flow, recomputed from the weights of the learner's layers
    (W x + b computed here, so a Keras Dense may carry the tanh as its activation)."""
    h = drv.affine(model.stem, x)
    for lin in _linears(model, "the model"):
        a = drv.tanh(drv.affine(lin, h))
        h = h + a if residual else a
    return drv.affine(model.head, h)


@dataclass
class _Grads:
    w: list[np.ndarray]
    b: list[np.ndarray]

    def norms(self) -> np.ndarray:
        return np.array([np.linalg.norm(g) for g in self.w])


def _ref_grads(drv: Any, model: Any, x: Any, y: Any, residual: bool, loss: str = "ce") -> _Grads:
    lins = _linears(model, "the model")
    weights = [drv.kernel(lin) for lin in lins]
    biases = [drv.bias(lin) for lin in lins]
    present = [b for b in biases if b is not None]
    found = drv.grads(lambda: drv.loss(loss, _ref_logits(drv, model, x, residual), y), weights + present)
    gw, rest = found[: len(weights)], iter(found[len(weights):])
    gb = [np.zeros(1) if b is None else next(rest) for b in biases]
    return _Grads(gw, gb)


def _floats(value: Any, fn: str, what: str) -> np.ndarray:
    """A returned sequence of numbers (floats, 0-dim tensors, a 1-D tensor) as float64."""
    if value is None:
        fail(f"`{fn}` returned None; it must return {what}.")
    items: Any = value
    if hasattr(value, "detach"):
        items = value.detach().cpu().numpy()
    elif hasattr(value, "numpy") and not isinstance(value, (list, tuple)):
        items = value.numpy()
    try:
        seq = list(items) if not isinstance(items, np.ndarray) else list(items.reshape(-1))
        out = []
        for v in seq:
            if hasattr(v, "detach"):
                v = v.detach().cpu().numpy()
            elif hasattr(v, "numpy"):
                v = v.numpy()
            out.append(float(np.asarray(v, np.float64).reshape(())))
    except (TypeError, ValueError):
        fail(f"`{fn}` returned a {type(value).__name__}; it must return {what}.")
    return np.array(out, np.float64)


def _same(a: np.ndarray, b: np.ndarray, rtol: float = 1e-4) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or not np.all(np.isfinite(a)):
        return False
    return bool(np.all(np.abs(a - b) <= rtol * np.abs(b) + 1e-30))


def _show(values: Sequence[float], n: int = 3) -> str:
    vals = [f"{v:.4g}" for v in values]
    if len(vals) <= 2 * n:
        return "[" + ", ".join(vals) + "]"
    return "[" + ", ".join(vals[:n]) + ", ..., " + ", ".join(vals[-n:]) + "]"


# -- checks --------------------------------------------------------------------------


def _require(ctx: Context, name: str, example: str, args: tuple[Any, ...]) -> None:
    fn = ctx.get(name, "function")
    if not callable(fn):
        fail(f"`{name}` must be a function; it is a {type(fn).__name__}.")
    with contextlib.suppress(TypeError, ValueError):
        sig = inspect.signature(fn)
        try:
            sig.bind(*args)
        except TypeError as exc:
            fail(f"`{name}{sig}` cannot be called as `{example}`: {exc}.")


def flow_api(ctx: Context) -> str:
    for name in KINDS.values():
        _require(ctx, name, f"{name}(depth, width, in_features, num_classes)", (1, 2, 3, 4))
    _require(ctx, "layer_grad_norms", "layer_grad_norms(model, x, y)", (None, None, None))
    _require(ctx, "starvation_ratio", "starvation_ratio(norms)", ([1.0],))
    drv = _driver(ctx)
    for kind in KINDS:
        model = _make(ctx, drv, kind, 2, 8, 5, 3)
        for attr in ("stem", "hidden", "head"):
            if getattr(model, attr, None) is None:
                fail(f"The model from `{KINDS[kind]}` has no attribute `{attr}`; the statement names "
                     "three: `stem` (in_features -> width), `hidden` (the blocks), `head` (width -> "
                     "num_classes).")
    return ("make_plain, make_residual, layer_grad_norms, starvation_ratio exist; models have stem, "
            "hidden, head.")


def structure(ctx: Context) -> str:
    """Depth, widths, one `.linear` per block; parameter counts (skips add none)."""
    drv = _driver(ctx)
    width, fin, classes = 8, 5, 3
    for kind, name in KINDS.items():
        for depth in (1, 4):
            model = _make(ctx, drv, kind, depth, width, fin, classes)
            blocks = _blocks(model, name)
            if len(blocks) != depth:
                fail(f"`{name}({depth}, {width}, {fin}, {classes})` has {len(blocks)} hidden blocks in "
                     f"`hidden`; expected {depth}. depth counts the width -> width hidden layers only "
                     "(the stem and the head come on top of them).")
            layers = [("stem", model.stem, (fin, width))]
            layers += [(f"hidden[{i}].linear", lin, (width, width))
                       for i, lin in enumerate(_linears(model, name))]
            layers.append(("head", model.head, (width, classes)))
            for where, lin, want in layers:
                got = drv.linear_shape(lin)
                if got is None:
                    fail(f"`{where}` of `{name}` is a {type(lin).__name__}, not a Linear/Dense layer with "
                         f"a 2-D `{drv.weight_attr}`.")
                if got != want:
                    fail(f"`{where}` of `{name}({depth}, {width}, {fin}, {classes})` maps {got[0]} -> "
                         f"{got[1]} features; expected {want[0]} -> {want[1]}.")
                if drv.bias(lin) is None:
                    fail(f"`{where}` of `{name}` has no bias; every layer here keeps its bias (no "
                         "BatchNorm follows it).")
            want_count = (fin + 1) * width + depth * (width + 1) * width + (width + 1) * classes
            count = drv.count(model)
            if count != want_count:
                extra = (" A skip connection adds NO parameters: y = x + F(x) only adds tensors, so "
                         "the residual net must have exactly the plain net's count."
                         if kind == "residual" and count > want_count else "")
                fail(f"`{name}({depth}, {width}, {fin}, {classes})` has {count:,} trainable parameters; "
                     f"expected (in+1)*width + depth*(width+1)*width + (width+1)*classes = "
                     f"{want_count:,}.{extra}")
    return ("depth hidden blocks, widths stem in->w, hidden w->w, head w->classes; plain and residual have "
            "the same parameter count (the skip adds none).")


def _block_variants(drv: Any, lin: Any, h: Any) -> dict[str, tuple[np.ndarray, str]]:
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


def blocks_function(ctx: Context) -> str:
    """Each block computes x + tanh(linear(x)) (residual) or tanh(linear(x)) (plain);
    each model is stem -> blocks -> head, logits out."""
    drv = _driver(ctx)
    width, fin, classes, depth = 8, 5, 3, 3
    rng = ctx.rng(3)
    for kind, name in KINDS.items():
        model = _make(ctx, drv, kind, depth, width, fin, classes)
        h = drv.x(rng.normal(0, 1.5, (6, width)))
        for i, block in enumerate(_blocks(model, name)):
            lin = block.linear
            with drv.no_grad():
                got = drv.np(invoke(ctx, f"hidden[{i}]", drv.run, block, h,
                                    case=f"on a ({6}, {width}) input"))
                variants = _block_variants(drv, lin, h)
            want, _ = variants[kind]
            if _same(got, want, 1e-5):
                continue
            other = "residual" if kind == "plain" else "plain"
            if _same(got, variants[other][0], 1e-5):
                why = ("does not add its input: it computes tanh(linear(x)), the plain block. A residual "
                       "block returns x + tanh(linear(x))" if kind == "residual" else
                       "adds its input (x + tanh(linear(x))): the plain net must have NO skip, "
                       "each block is tanh(linear(x))")
            else:
                why = next((f"computes {words}" for key, (alt, words) in variants.items()
                            if key not in (kind, other) and _same(got, alt, 1e-5)),
                           f"differs from {variants[kind][1]} (max difference "
                           f"{np.max(np.abs(got - want)):.3g})")
            fail(f"Block hidden[{i}] of `{name}` {why}.")
        x = drv.x(rng.normal(0, 1.0, (5, fin)))
        with drv.no_grad():
            got = drv.np(invoke(ctx, name, drv.run, model, x, case=f"on a (5, {fin}) input"))
            ref = _ref_logits(drv, model, x, kind == "residual")
            want = drv.np(ref)
            soft = drv.np(drv.softmax(ref))
        if got.shape != want.shape:
            fail(f"The model from `{name}` returns shape {got.shape} for a (5, {fin}) input; expected "
                 f"{want.shape}: (N, num_classes) logits.")
        if not _same(got, want, 1e-5):
            why = ("it returns softmax probabilities: return the head's raw logits (the loss applies the "
                   "softmax)" if _same(got, soft, 1e-5) else
                   "the model must compute head(blocks(stem(x))): no activation after the stem or the head, "
                   "every block in order, nothing else")
            fail(f"The output of `{name}` differs from stem -> hidden[0..{depth - 1}] -> head recomputed "
                 f"from your layers: {why}.")
    return ("residual blocks compute x + tanh(linear(x)), plain ones tanh(linear(x)); both nets return "
            "head(blocks(stem(x))) as logits.")


@dataclass
class _Case:
    kind: str
    depth: int = 8
    width: int = 32
    in_features: int = 12
    classes: int = 5
    batch: int = 32

    def text(self) -> str:
        return (f"on {KINDS[self.kind]}({self.depth}, {self.width}, {self.in_features}, {self.classes}) "
                f"with a batch of {self.batch}")


def _data(ctx: Context, drv: Any, case: _Case, salt: int) -> tuple[Any, Any]:
    rng = ctx.rng(salt)
    x = rng.normal(0, 1.0, (case.batch, case.in_features))
    y = rng.integers(0, case.classes, case.batch)
    return drv.x(x), drv.y(y)


def _learner_norms(ctx: Context, model: Any, x: Any, y: Any, case: _Case) -> np.ndarray:
    out = call(ctx, "layer_grad_norms", model, x, y, case=case.text())
    return _floats(out, "layer_grad_norms", "a list of floats, one per hidden layer")


def _norm_mistake(drv: Any, model: Any, x: Any, y: Any, got: np.ndarray, case: _Case) -> str:
    res = case.kind == "residual"
    ref = _ref_grads(drv, model, x, y, res)
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
    options: list[tuple[Callable[[], np.ndarray], str]] = [
        (lambda: want[::-1], "they are in reverse order: the first hidden layer (nearest the input) "
                             "comes first"),
        (lambda: want**2, "they are SQUARED norms: take the square root (the L2 norm)"),
        (lambda: np.sqrt(want**2 + np.array([np.sum(b**2) for b in ref.b])),
         "the bias gradient was included: measure each hidden layer's weight matrix only"),
        (lambda: np.array([np.linalg.norm(p) for p in
                           [drv.np(drv.kernel(lin)) for lin in _linears(model, "the model")]]),
         "they are the norms of the weights themselves, not of their gradients"),
        (lambda: want * case.batch, "the loss was SUMMED over the batch: use the mean cross-entropy"),
        (lambda: _ref_grads(drv, model, x, y, res, "softmax").norms(),
         "the loss applied softmax to the model's output and then cross-entropy, which applies it "
         "again: the model returns logits, pass them straight to the cross-entropy"),
        (lambda: _ref_grads(drv, model, x, y, res, "probs").norms(),
         "the loss treated the logits as probabilities (from_logits=False, or log of the raw "
         "output): the model returns logits, use the cross-entropy from logits"),
        (lambda: _ref_grads(drv, model, x, y, res, "mse").norms(),
         "the loss is the MSE between logits and one-hot labels: use the cross-entropy from logits"),
        (lambda: _ref_grads(drv, model, x, y, res, "mse_probs").norms(),
         "the loss is the MSE between probabilities and one-hot labels: use the cross-entropy from "
         "logits"),
        (lambda: np.array([np.abs(g).sum() for g in ref.w]), "they are L1 norms (sum of |g|): use the L2 "
                                                              "norm, sqrt(sum g^2)"),
    ]
    for alt, words in options:
        if _same(got, alt(), 1e-3):
            return words
    bad = int(np.argmax(np.abs(got - want) > 1e-4 * np.abs(want)))
    return (f"the first difference is at hidden layer {bad}: {got[bad]:.6g} instead of {want[bad]:.6g}. "
            "Use the mean cross-entropy of the logits, one backward pass, and the L2 norm of each "
            "hidden layer's weight gradient")


def norms(ctx: Context) -> str:
    """The learner's norms equal the grader's recomputation, in depth order."""
    drv = _driver(ctx)
    seen = {}
    for salt, case in enumerate((_Case("plain"), _Case("residual", depth=6, width=24))):
        model = _make(ctx, drv, case.kind, case.depth, case.width, case.in_features, case.classes, salt)
        x, y = _data(ctx, drv, case, 10 + salt)
        want = _ref_grads(drv, model, x, y, case.kind == "residual").norms()  # before the learner runs
        got = _learner_norms(ctx, model, x, y, case)
        if not _same(got, want):
            fail(f"`layer_grad_norms` {case.text()} returned {_show(got)}; the grader's recomputation "
                 f"gives {_show(want)}: {_norm_mistake(drv, model, x, y, got, case)}.",
                 returned=[float(v) for v in got], expected=[float(v) for v in want])
        seen[case.kind] = want
    p = seen["plain"]
    return (f"equal to the grader's recomputation to 1e-4, first hidden layer first (plain depth 8: "
            f"{p[0]:.3g} ... {p[-1]:.3g}).")


def side_effects(ctx: Context) -> str:
    """Weights unchanged, no gradient left behind (torch), same numbers on a second call."""
    drv = _driver(ctx)
    case = _Case("plain", depth=6, width=24)
    model = _make(ctx, drv, case.kind, case.depth, case.width, case.in_features, case.classes, 5)
    x, y = _data(ctx, drv, case, 20)
    before = drv.params(model)
    first = _learner_norms(ctx, model, x, y, case)
    after = drv.params(model)
    if any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True)):
        fail(f"`layer_grad_norms` changed the weights themselves {case.text()}: it measures, it must "
             "not train (no optimizer step, no in-place update).")
    second = _learner_norms(ctx, model, x, y, case)
    if len(second) == len(first) and not _same(second, first, 1e-5):
        ratio = np.median(second / np.where(first == 0, np.nan, first))
        why = ("the second call returned twice the first: gradients ACCUMULATE in .grad across "
               "backward() calls. Zero them before the backward pass (model.zero_grad()) and leave them "
               "zeroed or None afterwards, or use torch.autograd.grad, which never touches .grad"
               if ctx.framework == "torch" and abs(ratio - 2) < 1e-3 else
               "the result depends on what ran before: nothing may carry over from one call to the next")
        fail(f"Calling `layer_grad_norms` twice on the same model and batch gave {_show(first)} and then "
             f"{_show(second)}: {why}.")
    left = drv.leftover_grads(model)
    if left:
        fail(f"After `layer_grad_norms` {case.text()}, .grad still holds gradients for "
             f"{', '.join(left[:3])}{' ...' if len(left) > 3 else ''}: the function left gradients "
             "behind, and the learner's next optimizer step would use them. The rule: every .grad is "
             "None or zero afterwards (model.zero_grad(set_to_none=True) after reading the norms), or "
             "use torch.autograd.grad, which never writes .grad.")
    rule = "no .grad left behind, " if ctx.framework == "torch" else ""
    return f"weights unchanged, {rule}the same numbers on a second call."


def ratio(ctx: Context) -> str:
    """starvation_ratio = last / first."""
    for values in ([2.0e-9, 3.0e-5, 0.5, 4.0], [0.8, 0.4, 0.2], [5.0, 5.0]):
        got = call(ctx, "starvation_ratio", list(values), case=f"for norms {values}")
        try:
            got = float(np.asarray(got.numpy() if hasattr(got, "numpy") else got, np.float64).reshape(()))
        except (TypeError, ValueError, AttributeError):
            fail(f"`starvation_ratio` returned {type(got).__name__}; it must return a float.")
        want = values[-1] / values[0]
        if not math.isclose(got, want, rel_tol=1e-6):
            why = ("that is first / last. The ratio is the LAST hidden layer's norm over the FIRST's, so "
                   "starvation of the early layers shows as a large number"
                   if math.isclose(got, values[0] / values[-1], rel_tol=1e-6) else
                   "it should be norms[-1] / norms[0]")
            fail(f"`starvation_ratio({values})` returned {got:.6g}; expected {want:.6g}: {why}.")
    return "norms[-1] / norms[0]: large when the first layer starves."


def _init_hint(ctx: Context, drv: Any, model: Any) -> str:
    lins = _linears(model, "make_plain")
    width = drv.linear_shape(lins[0])[0]
    bound = 1 / math.sqrt(width)
    w = np.concatenate([drv.np(drv.kernel(lin)).ravel() for lin in lins])
    b = np.concatenate([drv.np(drv.bias(lin)).ravel() for lin in lins])
    if not np.any(b):
        default = ("Keras' default init (Glorot-uniform, zero biases)" if ctx.framework == "tf"
                   else "zero biases")
        return (f" Your hidden biases are all zero: with {default} a deep tanh net shrinks the forward "
                "signal as fast as the backward one, so the weight-gradient norms stay level even though "
                "the net is as good as dead. Use the statement's initialisation: PyTorch's nn.Linear "
                "default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases"
                + (" (keras.initializers.VarianceScaling(1/3, 'fan_in', 'uniform') for kernel AND bias)"
                   if ctx.framework == "tf" else ""))
    if np.max(np.abs(w)) > 1.001 * bound:
        return (f" Your hidden weights reach |w| = {np.max(np.abs(w)):.3g}, above 1/sqrt(width) = "
                f"{bound:.3g}: use the statement's initialisation (nn.Linear's default).")
    return " Check the initialisation (nn.Linear's default for every layer) and the activation (tanh)."


def starvation(ctx: Context, spec: FlowSpec) -> str:
    """At depth 50 the plain net's first layer starves, the residual net's does not.

    Each net is built once (a 52-layer Keras model takes a second to build); every
    further draw shuffles its hidden layers (weight and bias together), a fresh sample
    of the learner's own initialisation, and uses a fresh batch.
    """
    drv = _driver(ctx)
    found: dict[str, list[float]] = {"plain": [], "residual": []}
    case = _Case("plain", spec.deep, spec.width, spec.in_features, spec.classes, spec.batch)
    for kind in KINDS:
        model = _make(ctx, drv, kind, spec.deep, spec.width, spec.in_features, spec.classes)
        lins = _linears(model, KINDS[kind])
        layers = [(drv.np(drv.kernel(lin)), drv.np(drv.bias(lin))) for lin in lins]
        for draw, seed in enumerate(spec.seeds):
            if draw:
                order = ctx.rng(60 + seed).permutation(len(lins))
                for lin, i in zip(lins, order, strict=True):
                    drv.assign(drv.kernel(lin), layers[i][0])
                    drv.assign(drv.bias(lin), layers[i][1])
            x, y = _data(ctx, drv, case, 40 + seed)
            n = _ref_grads(drv, model, x, y, kind == "residual").norms()
            r = float(n[-1] / n[0]) if n[0] > 0 else math.inf
            found[kind].append(r)
            ctx.details[f"{kind}_ratio_draw{draw}"] = r
            where = (f"`{KINDS[kind]}({spec.deep}, {spec.width}, {spec.in_features}, {spec.classes})` "
                     f"(draw {draw + 1} of {len(spec.seeds)})")
            if kind == "plain" and not r >= spec.plain_min:
                fail(f"In {where}, the last hidden layer's gradient norm is only {r:.3g} x the first's; "
                     f"a deep tanh net without skips should starve its first layer (ratio >= "
                     f"{spec.plain_min:g}; the reference gives about 1e11).{_init_hint(ctx, drv, model)}")
            if kind == "residual" and not r <= spec.residual_max:
                fail(f"In {where}, the last hidden layer's gradient norm is {r:.3g} x the first's; with "
                     f"identity skips the first layer should get a comparable gradient (ratio <= "
                     f"{spec.residual_max:g}; the reference gives about 0.4). Check that every block adds "
                     "its input unchanged: y = x + tanh(linear(x)).")
    p, r = found["plain"], found["residual"]
    return (f"depth {spec.deep}, last/first gradient norm over {len(spec.seeds)} draws: plain "
            f"{', '.join(f'{v:.2g}' for v in p)}; residual {', '.join(f'{v:.2g}' for v in r)}.")


def _task(ctx: Context, spec: FlowSpec) -> tuple[np.ndarray, np.ndarray]:
    """Points in R^in labelled by the argmax of a random linear teacher."""
    rng = ctx.rng(77)
    x = rng.normal(0, 1.0, (spec.train_n, spec.in_features)).astype(np.float32)
    teacher = rng.normal(0, 1.0, (spec.in_features, spec.classes))
    return x, (x @ teacher).argmax(axis=1).astype(np.int64)


def _mean_ce(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def training(ctx: Context, spec: FlowSpec) -> str:
    """Same step budget and learning rate: the residual net learns, the plain one barely moves."""
    drv = _driver(ctx)
    x, y = _task(ctx, spec)
    total = 2 * spec.train_steps
    final: dict[str, float] = {}
    for k, kind in enumerate(KINDS):
        model = _make(ctx, drv, kind, spec.train_depth, spec.width, spec.in_features, spec.classes, 3)

        def on_step(step: int, loss: float, k: int = k) -> None:
            ctx.progress(step=k * spec.train_steps + step, total=total, loss=loss)

        losses = ctx.A.fit(model, x, y, spec.train_steps, spec.train_batch, spec.train_lr,
                           on_step=on_step, seed=3)
        final[kind] = _mean_ce(np.asarray(ctx.A.predict(model, x), np.float64), y)
        ctx.details[f"{kind}_loss_curve"] = _curve(losses)
        ctx.details[f"{kind}_sparkline"] = sparkline(losses)
        if not math.isfinite(final[kind]):
            fail(f"Training `{KINDS[kind]}` gave a loss of {final[kind]} (Adam, lr {spec.train_lr}).")
    ctx.details["loss_curve"] = ctx.details["residual_loss_curve"]
    p, r = final["plain"], final["residual"]
    setup = (f"depth {spec.train_depth}, width {spec.width}, {spec.train_steps} Adam steps at lr "
             f"{spec.train_lr}, batch {spec.train_batch}, on {spec.train_n} points of a "
             f"{spec.classes}-class task")
    if not r <= spec.train_margin * p:
        fail(f"After the same training ({setup}) the residual net's loss is {r:.3f} and the plain net's "
             f"{p:.3f}; the residual net should end at most {spec.train_margin:g} x the plain one's (the "
             "reference: about 0.05 against 1.2). Check the skip in make_residual and the initialisation.")
    return f"{setup}: final loss plain {p:.3f}, residual {r:.3f}."


def flow_checks(framework: str, spec: FlowSpec | None = None) -> list[Check]:
    spec = spec or FlowSpec()
    return [
        Check("api", "API: the four functions, models with stem, hidden, head", flow_api, gate=True),
        Check("structure", "Depth, widths, equal parameter counts (skips add none)", structure),
        Check("blocks", "Each block and each model computes what the statement says", blocks_function,
              needs=("structure",)),
        Check("norms", "Gradient norms equal the grader's, first hidden layer first", norms,
              needs=("structure",)),
        Check("side_effects", "No side effects: weights, .grad, a second call", side_effects,
              needs=("norms",)),
        Check("ratio", "starvation_ratio is last / first", ratio),
        Check("starvation", f"Depth {spec.deep}: the plain net starves its first layer, the residual "
              "net does not", lambda ctx: starvation(ctx, spec), needs=("blocks",)),
        Check("training", "Same budget: the residual net learns, the plain net barely moves",
              lambda ctx: training(ctx, spec), needs=("blocks",)),
    ]
