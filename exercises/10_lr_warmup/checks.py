"""Checks for 10_lr_warmup: linear warmup then cosine decay, and an optimizer that uses it.

The learner's warmup_cosine is compared step by step with the reference
(`references`); a wrong curve is matched against named wrong schedules
(`mistakes`). The drivers (`driver_torch`, `driver_tf`) import their framework
inside their functions, so a torch check never loads TensorFlow and the reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from resnet_kata.checks import Check, Context, fail
from resnet_kata.checks.calls import call, require, returned_number

from . import driver_tf, driver_torch
from .mistakes import schedule_mistake
from .references import Schedule, matches, reference


@dataclass
class ScheduleSpec:
    main: Schedule  # key values, monotonicity, the boundary: warmup >= 2, total - warmup even
    no_warmup: Schedule  # warmup_steps=0
    curves: list[Schedule] = field(default_factory=list)  # every step compared
    wired: Schedule | None = None  # driven through a real optimizer
    wired_default: Schedule | None = None  # the same, with min_lr left at its default


SPEC = ScheduleSpec(
    main=Schedule(total=100, warmup=10, base=0.1, min_lr=0.001),
    no_warmup=Schedule(total=40, warmup=0, base=0.5, min_lr=0.0),
    curves=[
        Schedule(total=100, warmup=10, base=0.1, min_lr=0.001),
        Schedule(total=37, warmup=5, base=3e-4, min_lr=1e-5),
        Schedule(total=8, warmup=7, base=1.0, min_lr=0.25),
        Schedule(total=12, warmup=1, base=2.0, min_lr=0.0),
    ],
    wired=Schedule(total=30, warmup=6, base=0.2, min_lr=0.02),
    wired_default=Schedule(total=16, warmup=3, base=0.4, default_min=True),
)


def _curve(ctx: Context, cfg: Schedule, steps: Sequence[int], default_min: bool = False) -> np.ndarray:
    """The learner's warmup_cosine at each step, as floats."""
    values = []
    for s in steps:
        args = (s, cfg.total, cfg.warmup, cfg.base) + (() if default_min else (cfg.min_lr,))
        shown = ", ".join(repr(a) for a in args)
        out = call(ctx, "warmup_cosine", *args, case=f"for warmup_cosine({shown})",
                   advice="warmup_steps may be 0 (no warmup): guard the division."
                   if cfg.warmup == 0 else "")
        values.append(returned_number(out, "warmup_cosine", "the learning rate, a float"))
    return np.array(values)


def _fail_curve(what: str, values: np.ndarray, cfg: Schedule, steps: Sequence[int],
                wiring: bool = False, **details: Any) -> None:
    fail(f"{what} ({cfg.text()}): {schedule_mistake(values, cfg, steps, wiring)}.",
         **details)


def schedule_api(framework: str) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        require(ctx, "warmup_cosine", "function", "warmup_cosine(0, 100, 10, 0.1, 0.0)",
                (0, 100, 10, 0.1, 0.0))
        if framework == "torch":
            require(ctx, "make_scheduler", "function", "make_scheduler(optimizer, 100, 10, min_lr=0.0)",
                    (None, 100, 10), {"min_lr": 0.0})
            return "`warmup_cosine` and `make_scheduler` exist with the documented arguments."
        driver_tf.require_schedule_class(ctx)
        return "`warmup_cosine` exists; `WarmupCosine` subclasses LearningRateSchedule."

    return run


def key_values(cfg: Schedule) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        w, t = cfg.warmup, cfg.total
        probes = {
            "the start": 0,
            "halfway through the warmup": w // 2,
            "the end of the warmup": w,
            "the midpoint of the decay": w + (t - w) // 2,
            "total_steps": t,
            "after total_steps": t + 7,
        }
        steps = cfg.steps()
        values = _curve(ctx, cfg, steps)
        want = reference(cfg, steps)
        for where, s in probes.items():
            if abs(values[s] - want[s]) > cfg.tol:
                _fail_curve(f"warmup_cosine at step {s} ({where}) is {values[s]:.6g}, expected "
                            f"{want[s]:.6g}; over the whole run", values, cfg, steps)
        return (
            f"0 at step 0, base_lr at step {w}, (base_lr + min_lr) / 2 at the decay's midpoint, "
            "min_lr at total_steps and after."
        )

    return run


def monotone(cfg: Schedule) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        steps = cfg.steps()
        v = _curve(ctx, cfg, steps)
        w, t = cfg.warmup, cfg.total
        for s in range(1, w + 1):
            if v[s] <= v[s - 1]:
                _fail_curve(f"The LR must rise at every warmup step; from step {s - 1} to {s} it "
                            f"went {v[s - 1]:.6g} -> {v[s]:.6g}", v, cfg, steps)
        for s in range(w + 1, len(steps)):
            if v[s] > v[s - 1] + cfg.tol:
                _fail_curve(f"After the warmup the LR must never rise; from step {s - 1} to {s} "
                            f"it went {v[s - 1]:.6g} -> {v[s]:.6g}", v, cfg, steps)
        if not np.all(np.abs(v[t:] - cfg.min_lr) <= cfg.tol):
            _fail_curve("From total_steps on the LR must stay at min_lr", v, cfg, steps)
        return "Rises at every warmup step, never rises after, flat at min_lr from total_steps."

    return run


def boundary(cfg: Schedule) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        steps = cfg.steps()
        v = _curve(ctx, cfg, steps)
        want = reference(cfg, steps)
        w = cfg.warmup
        near = [s for s in (w - 1, w, w + 1) if abs(v[s] - want[s]) > cfg.tol]
        if near:
            rise = cfg.base / w
            shown = ", ".join(f"step {s}: {v[s]:.6g}" for s in (w - 1, w, w + 1))
            _fail_curve(
                f"Around the end of the warmup the LR should go {want[w - 1]:.6g}, {want[w]:.6g}, "
                f"{want[w + 1]:.6g} (one warmup step adds {rise:.4g}; the cosine starts at its "
                f"top, base_lr); yours: {shown}", v, cfg, steps)
        return f"Continuous at the warmup boundary: exactly base_lr at step {w}, no jump either side."

    return run


def no_warmup(cfg: Schedule) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        steps = cfg.steps(3)
        v = _curve(ctx, cfg, steps, default_min=cfg.min_lr == 0.0)
        if not matches(v, reference(cfg, steps), cfg.tol):
            _fail_curve("With warmup_steps=0 the schedule is the cosine alone, base_lr at step 0",
                        v, cfg, steps)
        return "warmup_steps=0 gives the plain cosine from base_lr (min_lr defaults to 0)."

    return run


def whole_curve(configs: Sequence[Schedule]) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        for cfg in configs:
            steps = cfg.steps(5)
            v = _curve(ctx, cfg, steps)
            if not matches(v, reference(cfg, steps), cfg.tol):
                _fail_curve("warmup_cosine differs from the schedule", v, cfg, steps)
        return f"Every step of {len(configs)} schedules matches, to 1e-5 of base_lr."

    return run


def wiring(configs: Sequence[Schedule], traced: bool = False) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        for cfg in configs:
            message = wiring_one(ctx, cfg, traced)
        return message

    return run


def wiring_one(ctx: Context, cfg: Schedule, traced: bool) -> str:
    if ctx.framework == "torch":
        seen, used = driver_torch.wiring(ctx, cfg)
        read, obj = "optimizer.param_groups[0]['lr']", "scheduler"
    else:
        seen, used = driver_tf.wiring(ctx, cfg, traced)
        read, obj = "optimizer.learning_rate", "schedule"
    steps = cfg.steps(3)
    ctx.details.update(lr_used=[round(u, 8) for u in used])
    for name, values in (("used by each update (the step a unit gradient makes)", used),
                         (f"read from {read} before each update", seen)):
        values = np.array(values)
        if not matches(values, reference(cfg, steps), cfg.tol):
            if cfg.default_min:
                name += (" (this call leaves min_lr out: its default must be 0.0, so the "
                         "schedule ends at 0)")
            _fail_curve(f"The LR {name}, over {len(steps)} updates, is not warmup_cosine",
                        values, cfg, steps, wiring=True)
    mode = " inside tf.function" if traced else ""
    return (f"A real SGD{mode} used warmup_cosine(s) at every update s = 0..{steps[-1]}, "
            f"through your {obj}, with min_lr given and left at its default.")


def checks(framework: str) -> list[Check]:
    spec = SPEC
    wired = spec.wired or spec.main
    driven = [wired] + ([spec.wired_default] if spec.wired_default else [])
    found = [
        Check("api", "API: the names exist with the documented arguments", schedule_api(framework),
              gate=True),
        Check("key_values", "Step 0, end of warmup, decay midpoint, the end", key_values(spec.main)),
        Check("monotone", "Rises during warmup, falls after", monotone(spec.main)),
        Check("boundary", "Continuous at the warmup boundary", boundary(spec.main)),
        Check("no_warmup", "warmup_steps=0 works", no_warmup(spec.no_warmup)),
        Check("curve", "Every step of several schedules", whole_curve(spec.curves)),
    ]
    if framework == "torch":
        found.append(Check("scheduler", "A torch optimizer sees the values, step by step",
                           wiring(driven)))
    else:
        found += [
            Check("schedule", "A Keras optimizer sees the values, step by step", wiring(driven)),
            Check("traced", "The schedule works inside tf.function (model.fit)",
                  wiring(driven, traced=True), needs=("schedule",)),
            Check("config", "get_config round-trips", driver_tf.config_round_trip(wired)),
        ]
    return found
