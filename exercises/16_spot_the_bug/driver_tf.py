"""The Keras items of 16_spot_the_bug (1-D audio layers, clipping, the scheduler); Keras imported inside."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from resnet_kata.checks import Context, close, fail, fmt_shape, max_rel_diff
from resnet_kata.checks.blocks import shown

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

    case = f"({cfg.base:g}, warmup_epochs={cfg.warmup}, decay={cfg.decay:g})"
    fn = attempt(ctx, f"{name}{case}", ctx.get(name, "function"), cfg.base,
                 warmup_epochs=cfg.warmup, decay=cfg.decay, case="when making the schedule")
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
            text = f"{name}{case.args}"
            model = attempt(ctx, text, fn, *case.args, case="when building the model",
                            advice=_one_d_advice)
            if not isinstance(model, L.Layer):
                fail(f"`{text}` returned {type(model).__name__}; it must return a keras.Model.")
            x = A.tensor(ctx.rng().normal(0.0, 1.0, case.in_shape).astype(np.float32))
            out = attempt(ctx, "model(x)", lambda m=model, x=x: m(x, training=False),
                          case=f"for the model from `{text}` on a {shown(A, case.in_shape)} input",
                          advice=_one_d_advice)
            want = (case.in_shape[0], case.args[1])
            if tuple(out.shape) != want:
                fail(f"`{text}` maps a {shown(A, case.in_shape)} input to {fmt_shape(out.shape)}; "
                     f"expected {fmt_shape(want)} logits (input (batch, time, channels), any length).")
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
        return lesson

    return run


# -- clipping happens before the update -------------------------------------------------------


@dataclass(frozen=True)
class ClipRun:
    scale: float  # input scale: large scales make the gradients explode
    max_norm: float
    epochs: int
    what: str


@dataclass
class ClipSpec:
    name: str = "fit_clipped"
    features: int = 6
    hidden: int = 16
    classes: int = 4
    n: int = 32
    lr: float = 0.1
    runs: tuple[ClipRun, ...] = field(default_factory=tuple)


def clipping_item(spec: ClipSpec, lesson: str) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        import keras
        import tensorflow as tf

        L = keras.layers
        fn = ctx.get(spec.name, "function")

        def mlp() -> Any:
            return keras.Sequential([keras.Input((spec.features,)),
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
                w = update(w, grads(w, x, y), spec.lr, r.max_norm)
            return w

        def same(got: list[np.ndarray], want: list[np.ndarray]) -> bool:
            return all(close(a, b) for a, b in zip(got, want, strict=True))

        for salt, r in enumerate(spec.runs):
            rng = ctx.rng(10 + salt)
            x = (rng.normal(0.0, 1.0, (spec.n, spec.features)) * r.scale).astype(np.float32)
            y = (np.arange(spec.n) % spec.classes).astype(np.int64)
            model = mlp()
            w0 = [np.array(v.numpy()) for v in model.trainable_variables]
            norm0 = global_norm(grads(w0, x, y))
            call = (f"{spec.name}(model, x, y, max_norm={r.max_norm:g}, learning_rate={spec.lr:g}, "
                    f"epochs={r.epochs}, batch_size={spec.n})")
            attempt(ctx, call, fn, model, x, y, max_norm=r.max_norm, learning_rate=spec.lr,
                    epochs=r.epochs, batch_size=spec.n,
                    case=f"on {spec.n} points of {spec.features} features ({r.what.lower()})",
                    advice=lambda why: ("Keras 3 optimizers have no get_gradients, and a callback "
                                        "never sees the gradients." if "get_gradients" in why else ""))
            got = [np.array(v.numpy()) for v in model.trainable_variables]
            want = simulate(clipped_update, w0, x, y, r)
            if same(got, want):
                continue
            if same(got, w0):
                fail(f"After `{call}` the weights have not moved: train the model you are given.")
            named = clip_mistake(got, lambda u, w0=w0, x=x, y=y, r=r: simulate(u, w0, x, y, r), same)
            diff = max(max_rel_diff(a, b) for a, b in zip(got, want, strict=True))
            fail(f"{r.what} (gradient norm {norm0:.3g}, max_norm {r.max_norm:g}): after `{call}` "
                 f"the weights differ from {r.epochs} SGD step(s) on gradients clipped to a global "
                 f"norm of {r.max_norm:g} (max relative difference {diff:.2e})."
                 + (f" {named}" if named else " Check the loss (mean sparse categorical cross-entropy on "
                    "logits, from_logits=True) and the optimizer (plain SGD at learning_rate)."))
        return lesson

    return run
