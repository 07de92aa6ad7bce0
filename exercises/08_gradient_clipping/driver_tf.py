"""The TensorFlow side of 08: the learner's clip_by_global_norm on real tensors next to
tf.clip_by_global_norm, their train_step on a small Keras model, and the exploding run.

TensorFlow and Keras are imported inside the functions, so importing this module loads
no framework.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_kata.checks import Context, fail
from resnet_kata.checks.calls import call, returned_number, watch_library

from .mistakes import clip_mistake
from .references import Case, Explode, Grads, Outcome, same, total_norm


class TfClip:
    """clip_by_global_norm(grads, max_norm) returns (clipped, norm)."""

    fn = "clip_by_global_norm"
    unchanged_note = ""

    def __init__(self, ctx: Context):
        import tensorflow as tf

        self.tf, self.ctx = tf, ctx

    def _tensors(self, case: Case) -> Any:
        ts = [None if g is None else self.tf.constant(g, dtype=self.tf.float32) for g in case.grads]
        return tuple(ts) if case.form == "tuple" else ts

    def learner(self, case: Case, advice: str = "") -> Outcome:
        out = call(self.ctx, self.fn, self._tensors(case), case.max_norm, case=case.text(),
                   advice=advice)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            fail(
                f"`{self.fn}` returned {type(out).__name__}; it must return a pair "
                "(clipped_grads, norm), in that order, like tf.clip_by_global_norm."
            )
        clipped, norm = out
        if not isinstance(clipped, (list, tuple)):
            if isinstance(norm, (list, tuple)):
                fail(f"`{self.fn}` returned (norm, clipped_grads); the order is (clipped_grads, norm).")
            fail(
                f"`{self.fn}` returned {type(clipped).__name__} as the clipped gradients; it must "
                "be a list with one entry per input gradient."
            )
        if len(clipped) != len(case.grads):
            fail(
                f"`{self.fn}` returned {len(clipped)} gradients for {len(case.grads)} inputs "
                f"{case.text()}. Return one entry per input, None where the input was None."
            )
        grads = [None if c is None else np.asarray(self.tf.convert_to_tensor(c).numpy()) for c in clipped]
        return Outcome(norm, grads)

    def library(self, case: Case) -> tuple[float, Grads]:
        clipped, norm = self.tf.clip_by_global_norm(list(self._tensors(case)), case.max_norm)
        return float(norm), [None if c is None else c.numpy() for c in clipped]

    def watched(self) -> Any:
        tf = self.tf
        from tensorflow.python.ops import clip_ops

        library = {
            "tf.clip_by_global_norm": tf.clip_by_global_norm,
            "tf.clip_by_norm": tf.clip_by_norm,
            "tf.linalg.global_norm": tf.linalg.global_norm,
        }
        modules = [tf, tf.linalg, clip_ops, tf.compat.v1, self.ctx.module]
        return watch_library(library, modules)


# -- train_step --------------------------------------------------------------------------


@dataclass
class TrainStepSpec:
    features: int = 6
    hidden: int = 16
    classes: int = 4
    n: int = 16
    lr: float = 0.5


TRAIN = TrainStepSpec()


def _keras_mlp(spec: TrainStepSpec, rng: np.random.Generator) -> tuple[Callable[[], Any], Any, Any]:
    import keras
    import tensorflow as tf

    weights = [
        rng.normal(0, 1 / math.sqrt(spec.features), (spec.features, spec.hidden)),
        rng.normal(0, 0.1, spec.hidden),
        # BatchNormalization: gamma, beta, and moving statistics far from the batch's, so a
        # model called without training=True (BN in inference mode) gives other gradients
        rng.uniform(0.5, 1.5, spec.hidden),
        rng.normal(0, 0.1, spec.hidden),
        rng.normal(1.0, 0.5, spec.hidden),
        rng.uniform(4.0, 9.0, spec.hidden),
        rng.normal(0, 1 / math.sqrt(spec.hidden), (spec.hidden, spec.classes)),
        rng.normal(0, 0.1, spec.classes),
    ]

    def build() -> Any:
        model = keras.Sequential([
            keras.Input((spec.features,)),
            keras.layers.Dense(spec.hidden),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dense(spec.classes),
        ])
        model.set_weights([w.astype(np.float32) for w in weights])
        return model

    x = tf.constant(rng.normal(0, 2.0, (spec.n, spec.features)), dtype=tf.float32)
    y = tf.constant(rng.integers(0, spec.classes, spec.n), dtype=tf.int32)
    return build, x, y


def _sce(model: Any, x: Any, y: Any, training: bool = True, from_logits: bool = True) -> Any:
    import keras
    import tensorflow as tf

    logits = model(x, training=training)
    return tf.reduce_mean(
        keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=from_logits))


def _gradients(build: Callable[[], Any], x: Any, y: Any, **loss: bool
               ) -> tuple[Any, list[np.ndarray], Any]:
    """A fresh model, its gradients for the loss `_sce(**loss)` and that loss."""
    import tensorflow as tf

    model = build()
    with tf.GradientTape() as tape:
        loss0 = _sce(model, x, y, **loss)
    return model, [t.numpy() for t in tape.gradient(loss0, model.trainable_variables)], loss0


def _clipped_step(build: Callable[[], Any], x: Any, y: Any, max_norm: float, lr: float,
                  **loss: bool) -> tuple[list[np.ndarray], list[np.ndarray], Any]:
    """One SGD step with tf.clip_by_global_norm on a fresh model, with the loss `_sce(**loss)`:
    (the gradients, the weights after the step, the loss before it)."""

    ref, g, loss0 = _gradients(build, x, y, **loss)
    return g, _sgd_clipped(ref, g, max_norm, lr), loss0


def _sgd_clipped(ref: Any, g: list[np.ndarray], max_norm: float, lr: float) -> list[np.ndarray]:
    """`ref`'s weights after one SGD step on `g` clipped by tf.clip_by_global_norm."""
    import keras
    import tensorflow as tf

    clipped, _ = tf.clip_by_global_norm([tf.constant(t) for t in g], max_norm)
    keras.optimizers.SGD(learning_rate=lr).apply_gradients(
        zip(clipped, ref.trainable_variables, strict=True))
    return [v.numpy() for v in ref.trainable_variables]


def train_step_once(ctx: Context, spec: TrainStepSpec, max_norm: float) -> tuple[Any, Any, Any]:
    """One learner train_step on a fresh model; returns (model, optimizer, returned loss)."""
    import keras

    build, x, y = _keras_mlp(spec, ctx.rng(11))
    model, opt = build(), keras.optimizers.SGD(learning_rate=spec.lr)
    out = call(ctx, "train_step", model, opt, x, y, max_norm,
               case=f"on a two-layer Dense model with BatchNormalization, "
                    f"SGD(learning_rate={spec.lr}), max_norm={max_norm}")
    return model, opt, out


def train_step_update(ctx: Context) -> str:
    """The weights after train_step equal one optimizer step with clipped gradients."""
    spec = TRAIN
    build, x, y = _keras_mlp(spec, ctx.rng(11))
    ref, g, loss0 = _gradients(build, x, y)
    w0 = [v.numpy().astype(np.float64) for v in ref.trainable_variables]
    max_norm = round(0.3 * total_norm(g), 4)
    want = _sgd_clipped(ref, g, max_norm, spec.lr)

    model, opt, out = train_step_once(ctx, spec, max_norm)
    got = [v.numpy() for v in model.trainable_variables]
    setting = f"(SGD, learning_rate={spec.lr}, gradient norm {total_norm(g):.3g}, max_norm={max_norm})"
    steps = int(opt.iterations.numpy())
    if steps != 1:
        fail(
            f"One `train_step` advanced the optimizer by {steps} steps (optimizer.iterations): "
            "apply the gradients exactly once, with the optimizer passed in."
        )
    if not same(got, want):
        step = [(w - v) / spec.lr for w, v in zip(w0, got, strict=True)]
        if same(got, [w.astype(np.float32) for w in w0], 0.0):
            why = (
                "the weights did not move. Apply the clipped gradients with the optimizer you "
                "are given: optimizer.apply_gradients(zip(clipped, model.trainable_variables))"
            )
        elif same(got, _clipped_step(build, x, y, max_norm, spec.lr, training=False)[1], 1e-5):
            why = (
                "the weights moved as if the model ran in inference mode: call "
                "model(x, training=True) under the tape (without it, BatchNormalization uses its "
                "moving statistics instead of the batch's)"
            )
        elif same(got, _clipped_step(build, x, y, max_norm, spec.lr, from_logits=False)[1], 1e-5):
            why = (
                "the weights moved as if the loss read the model's outputs as probabilities. The "
                "model returns logits: sparse_categorical_crossentropy(y, logits, from_logits=True)"
            )
        elif same(step, g, 1e-4):
            why = (
                "the weights moved as with UNCLIPPED gradients. Clip before "
                "optimizer.apply_gradients: clipping afterwards changes nothing, the update has "
                "happened (which is also why a Keras callback cannot clip)"
            )
        else:
            wanted_step = [(w - v) / spec.lr for w, v in zip(w0, want, strict=True)]
            why = clip_mistake(step, g, max_norm, 2.0, wanted_step)
        fail(f"After one `train_step` {setting}: {why}.")
    loss = returned_number(out, "train_step", "the loss computed before the update")
    before, after = float(loss0), float(_sce(model, x, y))
    if abs(loss - before) > 1e-4 * (1 + abs(before)):
        if abs(loss - after) <= 1e-4 * (1 + abs(after)):
            why = "the loss AFTER the update; return the one computed in the step, before applying"
        elif abs(loss - before * spec.n) <= 1e-4 * (1 + abs(before * spec.n)):
            why = "the summed loss; use the mean over the batch"
        else:
            why = "neither (is it sparse categorical cross-entropy on the logits, from_logits=True?)"
        fail(f"`train_step` returned the loss {loss:.6g}; the loss before the update is "
             f"{before:.6g} (after it: {after:.6g}). Yours is {why}.")
    return (
        "One train_step applies exactly one optimizer step with globally clipped gradients and "
        "returns the loss from before the update."
    )


# -- the exploding run -------------------------------------------------------------------


def explode(ctx: Context, spec: Explode, clip: bool) -> tuple[list[float], float]:
    """The deep linear net in Keras; with `clip`, the learner's train_step does each update."""
    import keras
    import tensorflow as tf

    x, y, ws = spec.data(ctx.rng(21))
    model = keras.Sequential([keras.Input((spec.features,))]
                             + [keras.layers.Dense(w.shape[1], use_bias=False) for w in ws])
    model.set_weights(ws)
    opt = keras.optimizers.SGD(learning_rate=spec.lr)
    xt, yt = tf.constant(x), tf.constant(y)
    losses = []
    for step in range(spec.steps):
        if clip:
            losses.append(float(_sce(model, xt, yt)))
            if not math.isfinite(losses[-1]):
                break
            call(ctx, "train_step", model, opt, xt, yt, spec.max_norm,
                 case=f"at step {step + 1} of the exploding run")
        else:
            with tf.GradientTape() as tape:
                loss = _sce(model, xt, yt)
            losses.append(float(loss))
            if not math.isfinite(losses[-1]):
                break
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        if clip:  # the bar follows the run the learner's code drives
            ctx.progress(step=step + 1, total=spec.steps, loss=losses[-1])
    return losses, 0.0
