"""The Keras side of 10: the learner's WarmupCosine on a real Keras SGD, eagerly and inside
tf.function, and its get_config round trip.

TensorFlow and Keras are imported inside the functions, so importing this module loads no
framework.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from resnet_kata.checks import Context, fail
from resnet_kata.checks.calls import exception_text, invoke, where

from .references import Schedule


def require_schedule_class(ctx: Context) -> None:
    """WarmupCosine must subclass keras.optimizers.schedules.LearningRateSchedule."""
    import keras

    cls = ctx.get("WarmupCosine")
    if not (isinstance(cls, type) and issubclass(cls, keras.optimizers.schedules.LearningRateSchedule)):
        fail("`WarmupCosine` must be a class that subclasses "
             "keras.optimizers.schedules.LearningRateSchedule.")


def make_schedule(ctx: Context, cfg: Schedule) -> Any:
    cls = ctx.get("WarmupCosine")
    return invoke(ctx, "WarmupCosine", cls, cfg.base, cfg.total, cfg.warmup, **cfg.min_lr_kwargs(),
                  case=f"for WarmupCosine({cfg.base:g}, {cfg.total}, {cfg.warmup}{cfg.min_lr_text()})")


def wiring(ctx: Context, cfg: Schedule, traced: bool) -> tuple[list[float], list[float]]:
    """The learner's schedule on a real Keras SGD, eagerly or inside tf.function: read
    optimizer.learning_rate before each update and measure the lr the update used."""
    import keras
    import tensorflow as tf

    opt = keras.optimizers.SGD(learning_rate=make_schedule(ctx, cfg))
    v = keras.Variable(0.0, dtype="float32")
    opt.build([v])

    def update() -> None:
        v.assign(0.0)
        opt.apply_gradients([(tf.ones(()), v)])

    # like model.fit: Keras' own code is not converted by AutoGraph, so neither is the schedule
    step = tf.function(update, autograph=False) if traced else update
    seen, used = [], []
    for s in cfg.steps(3):
        try:
            seen.append(float(opt.learning_rate))
            step()
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - the learner's schedule may raise anything
            mode = "inside tf.function (as model.fit runs it)" if traced else "eagerly"
            lines = [line.strip() for line in exception_text(exc).splitlines() if line.strip()]
            first = (lines[-1] if lines else "").split(". ")[0]
            fail(
                f"The optimizer's update at step {s} failed {mode} with your WarmupCosine: "
                f"{type(exc).__name__}: {first}{where(exc, ctx.module)}. The step arrives as "
                "an integer tensor (optimizer.iterations): compute with keras.ops (cast to "
                "float32, ops.where for the two phases, ops.cos), not with a Python `if` or "
                "the math module."
            )
        used.append(-float(v.numpy()))
    return seen, used


def config_round_trip(cfg: Schedule) -> Any:
    """The check that WarmupCosine's get_config() rebuilds the same schedule."""

    def run(ctx: Context) -> str:
        import keras

        sched = make_schedule(ctx, cfg)
        base = keras.optimizers.schedules.LearningRateSchedule
        if type(sched).get_config is base.get_config:
            fail("`WarmupCosine` has no get_config(): without it Keras cannot save an optimizer "
                 "that uses the schedule. Return the four constructor arguments as a dict.")
        try:
            copy = type(sched).from_config(sched.get_config())
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - the learner's code may raise anything
            fail(f"`WarmupCosine.get_config()` / `from_config` failed: {type(exc).__name__}: "
                 f"{exception_text(exc)}{where(exc, ctx.module)}. Return the four constructor "
                 "arguments as a dict.")
        steps = [0, cfg.warmup, cfg.total]

        def at(schedule: Any, s: int) -> float:
            return float(keras.ops.convert_to_numpy(schedule(keras.ops.convert_to_tensor(s, "int64"))))

        a, b = [at(sched, s) for s in steps], [at(copy, s) for s in steps]
        if not np.allclose(a, b, rtol=1e-6, atol=0):
            fail(f"A WarmupCosine rebuilt from its get_config() gives {b} at steps {steps}, the "
                 f"original {a}: the config must hold base_lr, total_steps, warmup_steps, min_lr.")
        return "get_config() round-trips (so a model saved with this optimizer reloads)."

    return run
