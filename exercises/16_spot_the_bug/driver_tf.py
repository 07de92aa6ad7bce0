"""The Keras items of 16_spot_the_bug (1-D audio layers, clipping, the scheduler); Keras imported inside."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from resnet_kata.checks import Context, close, fail, fmt_shape, max_rel_diff
from resnet_kata.checks.blocks import shown
from resnet_kata.checks.mistakes import name_mistake

from .calling import attempt
from .mistakes import Update, clip_mistake
from .references import Warmup, clipped_update, global_norm

# -- the per-epoch warmup, through a real LearningRateScheduler -----------------------------


def _call_schedule(fn: Callable[..., Any], epoch: int, lr: float) -> Any:
    """As keras.callbacks.LearningRateScheduler calls it: (epoch, lr), else (epoch)."""
    try:
        return fn(epoch, lr)
    except TypeError:
        return fn(epoch)


def keras_warmup(ctx: Context, name: str, cfg: Warmup) -> tuple[list[float], list[float]]:
    """The learner's schedule through a real LearningRateScheduler on a Keras SGD (the lr
    each epoch starts with), and called directly, last epoch first, with an unrelated lr."""
    import keras

    case = (f"({cfg.base:g})" if cfg.defaults else
            f"({cfg.base:g}, warmup_epochs={cfg.warmup}, decay={cfg.decay:g})")
    fn = attempt(ctx, f"{name}{case}", ctx.get(name, "function"), cfg.base, **cfg.kwargs(),
                 case="when making the schedule")
    if not callable(fn):
        fail(f"`{name}{case}` returned {type(fn).__name__}; it must return the function "
             "`schedule(epoch, lr)` that keras.callbacks.LearningRateScheduler calls.")
    holder = SimpleNamespace(optimizer=keras.optimizers.SGD(learning_rate=cfg.base))
    callback = keras.callbacks.LearningRateScheduler(fn)
    callback.set_model(holder)
    driven = []
    for epoch in range(cfg.epochs):
        attempt(ctx, "LearningRateScheduler(schedule).on_epoch_begin", callback.on_epoch_begin,
                epoch, case=f"at epoch {epoch} with {name}{case}",
                advice=lambda why: "The schedule must return a Python float." if "float" in why else "")
        driven.append(float(keras.ops.convert_to_numpy(holder.optimizer.learning_rate)))
    direct = [0.0] * cfg.epochs
    for epoch in reversed(range(cfg.epochs)):
        value = attempt(ctx, "schedule", _call_schedule, fn, epoch, 3.7 * cfg.base,
                        case=f"called directly for epoch {epoch}")
        direct[epoch] = float(value)
    return driven, direct


# -- 1-D layers take 1-D sizes ----------------------------------------------------------------


@dataclass
class AudioCase:
    args: tuple[int, int]  # (in_channels, num_classes)
    in_shape: tuple[int, int, int]  # canonical (N, C, L)
    counts: tuple[int, int]  # (trainable, non-trainable)
    defaults: bool = False  # called with no argument: args are the statement's defaults


def _one_d_advice(why: str) -> str:
    if "must be a tuple of 1 integer" in why:
        return ("A 1-D layer takes 1-D sizes: Conv1D's kernel_size and strides and "
                "MaxPooling1D's pool_size are one integer each (or a 1-tuple). (3, 3), (1, 1) "
                "and (2, 2) are the arguments of Conv2D and MaxPooling2D.")
    if "shape" in why.lower():
        return ("The residual add needs both inputs the same length: the convolutions keep the "
                "length (stride 1, padding=\"same\").")
    return ""


def audio_item(name: str, cases: Sequence[AudioCase], kernel: int, pool: int,
               lesson: str) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        import keras

        L = keras.layers
        A = ctx.A
        fn = ctx.get(name, "function")
        for case in cases:
            text = f"{name}()" if case.defaults else f"{name}{case.args}"
            model = attempt(ctx, text, fn, *(() if case.defaults else case.args),
                            case="when building the model", advice=_one_d_advice)
            if not isinstance(model, L.Layer):
                fail(f"`{text}` returned {type(model).__name__}; it must return a keras.Model.")
            x = A.tensor(ctx.rng().normal(0.0, 1.0, case.in_shape).astype(np.float32))
            def advice(why: str, case: AudioCase = case) -> str:
                if case.defaults and "expected axis -1 of input shape" in why:
                    return (f"`{name}()` must take {case.args[0]}-channel clips: its defaults are "
                            f"in_channels={case.args[0]}, num_classes={case.args[1]}.")
                return _one_d_advice(why)

            out = attempt(ctx, "model(x)", lambda m=model, x=x: m(x, training=False),
                          case=f"for the model from `{text}` on a {shown(A, case.in_shape)} input",
                          advice=advice)
            want = (case.in_shape[0], case.args[1])
            if tuple(out.shape) != want:
                fail(f"`{text}` maps a {shown(A, case.in_shape)} input to {fmt_shape(out.shape)}; "
                     f"expected {fmt_shape(want)} logits (input (batch, time, channels), any length)."
                     + (f" Its defaults are in_channels={case.args[0]}, num_classes={case.args[1]}."
                        if case.defaults else ""))
            found = list(model._flatten_layers(include_self=False, recursive=True))
            two_d = [layer for layer in found
                     if isinstance(layer, (L.Conv2D, L.MaxPooling2D, L.AveragePooling2D))]
            if two_d:
                fail(f"`{text}` contains {type(two_d[0]).__name__}: an audio clip has one axis "
                     "(time), so every conv and pool is 1-D.")
            convs = [layer for layer in found if isinstance(layer, L.Conv1D)]
            bad = [c for c in convs if tuple(c.kernel_size) != (kernel,) or tuple(c.strides) != (1,)]
            if bad:
                fail(f"`{text}` has a Conv1D with kernel {tuple(bad[0].kernel_size)} and stride "
                     f"{tuple(bad[0].strides)}; every conv has kernel {kernel}, stride 1.")
            pools = [layer for layer in found if isinstance(layer, L.MaxPooling1D)]
            if len(pools) != 1 or tuple(pools[0].pool_size) != (pool,) or tuple(pools[0].strides) != (pool,):
                got = ", ".join(f"pool {tuple(p.pool_size)} stride {tuple(p.strides)}" for p in pools)
                fail(f"`{text}` should have one MaxPooling1D with pool {pool} (stride {pool}); "
                     f"found {got or 'none'}.")
            counts = A.count(model)
            if counts != case.counts:
                fail(f"`{text}` has {counts[0]:,} trainable + {counts[1]:,} non-trainable "
                     f"parameters; expected {case.counts[0]:,} + {case.counts[1]:,}. Compare "
                     "the layers with the statement's list (convs without bias, three BNs).")
            audio_function(ctx, model, found, text, case.in_shape)
        return lesson

    return run


# the named wrong forwards of the audio model: a sentence -> the flags of `audio_reference`
AUDIO_MISTAKES: dict[str, frozenset[str]] = {
    "a ReLU after the block's second BN, before the add: the only ReLU after it comes after the "
    "add, relu(bn(conv(.)) + x)": frozenset({"relu_before_add"}),
    "a ReLU after the block's second BN and none after the add: the block ends with "
    "relu(bn(conv(.)) + x)": frozenset({"relu_before_add", "no_final_relu"}),
    "the ReLU after the add is missing: the block ends with relu(bn(conv(.)) + x)":
        frozenset({"no_final_relu"}),
    "the skip connection is never added: the block returns relu(bn(conv(.)) + x), x being the "
    "block's input": frozenset({"no_skip"}),
    "the skip adds the output of the block's first conv-BN-ReLU instead of the block's input "
    "(the pooled features)": frozenset({"skip_from_first"}),
    **{"a ReLU comes before its BatchNormalization (conv - ReLU - BN): each conv is followed by "
       f"its BN, then the ReLU{where}": frozenset(flags) for where, flags in (
        ("", {"relu_before_bn0", "relu_before_bn1"}), (" (after the first conv)", {"relu_before_bn0"}),
        (" (in the block)", {"relu_before_bn1"}))},
    "the max pool comes after the residual block: it follows the first conv-BN-ReLU, before "
    "the block": frozenset({"pool_after_block"}),
    "the first conv's BN is not followed by a ReLU": frozenset({"stem_without_relu"}),
    "the features are max-pooled over time (GlobalMaxPooling1D): the model averages them "
    "(GlobalAveragePooling1D) before the Dense": frozenset({"global_max_pool"}),
    "a softmax is applied to the output (Dense(..., activation=\"softmax\") or a Softmax "
    "layer): the model returns logits, the Dense's output as it is": frozenset({"softmax"}),
    "a softmax is applied twice to the output: the model returns logits, the Dense's output "
    "as it is": frozenset({"softmax", "softmax_again"}),
}


def _np_conv1d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """A 1-D convolution, stride 1, padding "same", on (N, L, C) with a Keras (k, C, O) kernel."""
    k, length = kernel.shape[0], x.shape[1]
    left = (k - 1) // 2
    xp = np.pad(x, ((0, 0), (left, k - 1 - left), (0, 0)))
    out = sum(xp[:, i:i + length, :] @ kernel[i] for i in range(k))
    return out if bias is None else out + bias


def _np_bn(x: np.ndarray, layer: Any, training: bool) -> np.ndarray:
    c = x.shape[-1]

    def value(v: Any, default: float) -> np.ndarray:
        return np.full(c, default) if v is None else np.asarray(v.numpy(), np.float64)

    if training:
        mean, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))
    else:
        mean, var = value(layer.moving_mean, 0.0), value(layer.moving_variance, 1.0)
    return (x - mean) / np.sqrt(var + layer.epsilon) * value(layer.gamma, 1.0) + value(layer.beta, 0.0)


def _np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def audio_reference(convs: Sequence[Any], bns: Sequence[Any], dense: Any, x: np.ndarray,
                    training: bool, wrong: frozenset[str] = frozenset()) -> np.ndarray:
    """The statement's audio model on (N, L, C) from the model's own layers, in numpy
    (float64): conv-BN-ReLU, max pool 2, a residual block, global average pool, Dense."""
    relu = lambda t: np.maximum(t, 0.0)  # noqa: E731

    def conv(i: int, t: np.ndarray) -> np.ndarray:
        layer = convs[i]
        bias = None if layer.bias is None else np.asarray(layer.bias.numpy(), np.float64)
        return _np_conv1d(t, np.asarray(layer.kernel.numpy(), np.float64), bias)

    def conv_bn_relu(i: int, t: np.ndarray) -> np.ndarray:
        if f"relu_before_bn{i}" in wrong:
            return _np_bn(relu(conv(i, t)), bns[i], training)
        return relu(_np_bn(conv(i, t), bns[i], training))

    def pool(t: np.ndarray) -> np.ndarray:
        n = t.shape[1] // 2
        return t[:, : 2 * n].reshape(t.shape[0], n, 2, t.shape[2]).max(axis=2)

    t = x.astype(np.float64)
    if "stem_without_relu" in wrong:
        t = _np_bn(conv(0, t), bns[0], training)
    else:
        t = conv_bn_relu(0, t)
    if "pool_after_block" not in wrong:
        t = pool(t)
    h = conv_bn_relu(1, t)
    y = _np_bn(conv(2, h), bns[2], training)
    if "relu_before_add" in wrong:
        y = relu(y)
    skip = h if "skip_from_first" in wrong else t
    t = y if "no_skip" in wrong else y + skip
    t = t if "no_final_relu" in wrong and "no_skip" not in wrong else relu(t)
    if "pool_after_block" in wrong:
        t = pool(t)
    t = t.max(axis=1) if "global_max_pool" in wrong else t.mean(axis=1)
    bias = 0.0 if dense.bias is None else np.asarray(dense.bias.numpy(), np.float64)
    t = t @ np.asarray(dense.kernel.numpy(), np.float64) + bias
    if "softmax" in wrong:
        t = _np_softmax(t)
    if "softmax_again" in wrong:
        t = _np_softmax(t)
    return t


def _orders(convs: list[Any], bns: list[Any], in_channels: int) -> list[tuple[list[Any], list[Any]]]:
    """The layers in the order the model lists them (the conv that reads the input first),
    then every other assignment of its convs and BNs to the statement's places: a model may
    create its layers in any order."""
    import itertools

    first = sorted(convs, key=lambda c: int(c.kernel.shape[1]) != in_channels)
    out = [(first, bns)]
    for cs in itertools.permutations(convs):
        for bs in itertools.permutations(bns):
            if (list(cs), list(bs)) != (first, bns):
                out.append((list(cs), list(bs)))
    return out


def _matches(got: np.ndarray, reference: Callable[[], np.ndarray]) -> bool:
    try:
        return close(got, reference())
    except ValueError:  # layers assigned to places whose shapes they do not fit
        return False


def audio_function(ctx: Context, model: Any, found: list[Any], text: str, in_shape: tuple[int, ...]) -> None:
    """The model computes the statement's forward from its own layers, eval and train mode,
    after random BN statistics; a known wrong forward is named."""
    import keras

    L = keras.layers
    A = ctx.A
    convs = [layer for layer in found if isinstance(layer, L.Conv1D)]
    bns = [layer for layer in found if isinstance(layer, L.BatchNormalization)]
    dense = [layer for layer in found if isinstance(layer, L.Dense)]
    if (len(convs), len(bns), len(dense)) != (3, 3, 1):
        fail(f"`{text}` has {len(convs)} Conv1D, {len(bns)} BatchNormalization and {len(dense)} "
             "Dense layers; the statement's model has 3, 3 and 1.")
    A.randomize_bn(model, ctx.rng(3))
    snap = A.snapshot(model)
    x_np = ctx.rng(4).normal(0.0, 1.0, in_shape).astype(np.float32)
    x_nlc = np.transpose(x_np, (0, 2, 1))
    orders = _orders(convs, bns, in_shape[1])
    for training in (False, True):
        A.restore(model, snap)
        out = attempt(ctx, "model(x)", lambda t=training: model(A.tensor(x_np), training=t),
                      case=f"for the model from `{text}` on a {shown(A, in_shape)} input")
        got = A.numpy(out)
        A.restore(model, snap)
        if any(_matches(got, lambda c=cs, b=bs, t=training: audio_reference(c, b, dense[0], x_nlc, t))
               for cs, bs in orders):
            continue
        want = audio_reference(*orders[0], dense[0], x_nlc, training)
        mode = "train" if training else "eval"
        named = name_mistake(got, [
            *((sentence, lambda w=flags, t=training: audio_reference(*orders[0], dense[0], x_nlc, t, w))
              for sentence, flags in AUDIO_MISTAKES.items()),
            (f"BatchNormalization ran in {'eval' if training else 'train'} mode while the model was "
             f"called in {mode} mode: pass `training=training` to it (or leave it to the model)",
             lambda t=training: audio_reference(*orders[0], dense[0], x_nlc, not t)),
        ])
        fail(f"In {mode} mode, the model from `{text}` on a {shown(A, in_shape)} input does not "
             f"compute the statement's forward from its own layers (max relative difference "
             f"{max_rel_diff(got, want):.2e}). "
             + (f"It matches: {named}." if named else
                "Compare with the statement: conv - BN - ReLU, max pool, then the block relu(bn(conv("
                "relu(bn(conv(x))))) + x), global average pool over time, Dense."))
    A.restore(model, snap)


# -- clipping happens before the update -------------------------------------------------------


DEFAULT_LR, DEFAULT_BATCH = 0.01, 32  # fit_clipped's defaults in the statement
DEFAULTS_HINT = ("With learning_rate, epochs and batch_size left out, the call trains one epoch "
                 "at learning_rate 0.01 in batches of 32: the signature's defaults.")


@dataclass(frozen=True)
class ClipRun:
    scale: float  # input scale: large scales make the gradients explode
    max_norm: float
    epochs: int
    what: str
    defaults: bool = False  # learning_rate, epochs and batch_size left out: 0.01, 1 and 32
    n: int | None = None  # points (default: the spec's); above 32 points, with the default
    # batch size, only the size of the batches is checked (fit shuffles them)


@dataclass
class ClipSpec:
    name: str = "fit_clipped"
    features: int = 6
    hidden: int = 16
    classes: int = 4
    n: int = 40
    lr: float = 0.1
    runs: tuple[ClipRun, ...] = field(default_factory=tuple)


def clipping_item(spec: ClipSpec, lesson: str) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        import keras
        import tensorflow as tf

        L = keras.layers
        fn = ctx.get(spec.name, "function")

        class LargestBatch(L.Layer):
            """Passes x on and keeps the largest batch it has seen (in fit's compiled step too)."""

            def build(self, input_shape: Any) -> None:
                self.largest = self.add_weight(shape=(), initializer="zeros", dtype="int32",
                                               trainable=False, name="largest_batch")

            def call(self, x: Any) -> Any:
                self.largest.assign(tf.maximum(self.largest, tf.shape(x)[0]))
                return x

        def mlp() -> Any:
            return keras.Sequential([keras.Input((spec.features,)), LargestBatch(),
                                     L.Dense(spec.hidden, activation="relu"), L.Dense(spec.classes)])

        probe = mlp()

        def grads(ws: list[np.ndarray], x: Any, y: Any) -> list[np.ndarray]:
            for v, w in zip(probe.trainable_variables, ws, strict=True):
                v.assign(w)
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
                    y, probe(x, training=True), from_logits=True))
            return [np.asarray(g, np.float64) for g in tape.gradient(loss, probe.trainable_variables)]

        def simulate(update: Update, w0: list[np.ndarray], x: Any, y: Any, r: ClipRun) -> list[np.ndarray]:
            w = [np.asarray(t, np.float64) for t in w0]
            for _ in range(r.epochs):
                w = update(w, grads(w, x, y), DEFAULT_LR if r.defaults else spec.lr, r.max_norm)
            return w

        def same(got: list[np.ndarray], want: list[np.ndarray]) -> bool:
            return all(close(a, b) for a, b in zip(got, want, strict=True))

        for salt, r in enumerate(spec.runs):
            n = r.n or spec.n
            rng = ctx.rng(10 + salt)
            x = (rng.normal(0.0, 1.0, (n, spec.features)) * r.scale).astype(np.float32)
            y = (np.arange(n) % spec.classes).astype(np.int64)
            model = mlp()
            seen = model.layers[0]  # LargestBatch, held before the learner gets the model
            w0 = [np.array(v.numpy()) for v in model.trainable_variables]
            norm0 = global_norm(grads(w0, x, y))
            kwargs = {} if r.defaults else {"learning_rate": spec.lr, "epochs": r.epochs,
                                            "batch_size": n}
            call = f"{spec.name}(model, x, y, max_norm={r.max_norm:g}" + "".join(
                f", {k}={v:g}" for k, v in kwargs.items()) + ")"
            attempt(ctx, call, fn, model, x, y, max_norm=r.max_norm, **kwargs,
                    case=f"on {n} points of {spec.features} features ({r.what.lower()})",
                    advice=lambda why: ("Keras 3 optimizers have no get_gradients, and a callback "
                                        "never sees the gradients." if "get_gradients" in why else ""))
            largest = int(seen.largest.numpy())
            want_batch = min(n, DEFAULT_BATCH if r.defaults else n)
            if largest == 0:
                fail(f"After `{call}` the model was never called on a batch: train the model you "
                     "are given" + (" (epochs defaults to 1)." if r.defaults else "."))
            if largest != want_batch:
                fail(f"After `{call}` on {n} points, the largest batch the model saw had {largest} "
                     f"points; expected {want_batch}"
                     + (f": batch_size defaults to {DEFAULT_BATCH}, as fit's own." if r.defaults
                        else f": the batch size is `batch_size` ({n} here)."))
            if want_batch < n:
                continue  # fit shuffles the batches: only their size is checked
            got = [np.array(v.numpy()) for v in model.trainable_variables]
            want = simulate(clipped_update, w0, x, y, r)
            if same(got, want):
                continue
            if same(got, w0):
                fail(f"After `{call}` the weights have not moved: train the model you are given"
                     + (" (epochs defaults to 1)." if r.defaults else "."))
            named = clip_mistake(got, lambda u, w0=w0, x=x, y=y, r=r: simulate(u, w0, x, y, r), same)
            diff = max(max_rel_diff(a, b) for a, b in zip(got, want, strict=True))
            fail(f"{r.what} (gradient norm {norm0:.3g}, max_norm {r.max_norm:g}): after `{call}` "
                 f"the weights differ from {r.epochs} SGD step(s) on gradients clipped to a global "
                 f"norm of {r.max_norm:g} (max relative difference {diff:.2e})."
                 + (f" {named}" if named else f" {DEFAULTS_HINT}" if r.defaults else " Check the "
                    "loss (mean sparse categorical cross-entropy on logits, from_logits=True) and "
                    "the optimizer (plain SGD at learning_rate)."))
        return lesson

    return run
