"""The named wrong schedules of 10 (and wrong ways to wire one into an optimizer), and the
sentence for the one a learner's LR curve matches."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from resnet_kata.checks.mistakes import name_mistake

from .references import Schedule, reference, warmup_cosine_ref


def _cos(lo: float, hi: float, progress: float) -> float:
    return lo + (hi - lo) * (1 + math.cos(math.pi * progress)) / 2


def _progress(s: int, c: Schedule) -> float:
    return (s - c.warmup) / (c.total - c.warmup)


def _after_warmup(fn: Callable[[int, Schedule], float]) -> Callable[[int, Schedule], float]:
    """A variant that differs from the reference only after the warmup."""
    def value(s: int, c: Schedule) -> float:
        return c.base * s / c.warmup if s < c.warmup else fn(s, c)
    return value


def _ref(s: int, c: Schedule, min_lr: float | None = None) -> float:
    return warmup_cosine_ref(s, c.total, c.warmup, c.base, c.min_lr if min_lr is None else min_lr)


def _compounded(start: int) -> Callable[[int, Schedule], float]:
    """base_lr times the schedule's factors (value / base_lr) of steps start..s, multiplied
    together: each LR is the previous one times the factor of its step."""
    def value(s: int, c: Schedule) -> float:
        lr = c.base
        for k in range(start, s + 1):
            lr *= _ref(k, c) / c.base
        return lr
    return value


# name -> (lr at step s for a config, the mistake in words)
SCHEDULE_MISTAKES: dict[str, tuple[Callable[[int, Schedule], float], str]] = {
    "zero_after_total": (
        lambda s, c: 0.0 if s >= c.total else _ref(s, c),
        "from total_steps on the LR drops to 0; it must stay at min_lr (the cosine ends there)",
    ),
    "warmup_reaches_base_early": (
        lambda s, c: c.base * s / (c.warmup - 1) if 0 < s < c.warmup and c.warmup > 1
        else _ref(s, c),
        "the warmup divides by warmup_steps - 1, so it reaches base_lr one step early (at step "
        "warmup_steps - 1) and stays there a second step. Warmup is base_lr * step / "
        "warmup_steps: base_lr exactly at step warmup_steps",
    ),
    "min_lr_added_on_top": (
        _after_warmup(lambda s, c: c.min_lr + _cos(0.0, c.base, _progress(s, c))
                      if s < c.total else c.min_lr),
        "min_lr is added on top of the cosine, so the decay starts at base_lr + min_lr and "
        "jumps at the end. Scale the cosine by (base_lr - min_lr): min_lr + (base_lr - min_lr) "
        "* (1 + cos(pi * progress)) / 2",
    ),
    "cosine_ends_one_step_early": (
        _after_warmup(lambda s, c: _cos(c.min_lr, c.base, min(1.0, (s - c.warmup)
                                                            / max(1, c.total - c.warmup - 1)))),
        "the cosine reaches min_lr one step early: progress divides by total_steps - "
        "warmup_steps - 1. It is (step - warmup_steps) / (total_steps - warmup_steps), 1 "
        "exactly at total_steps",
    ),
    "progress_over_total_steps": (
        _after_warmup(lambda s, c: _cos(c.min_lr, c.base, (s - c.warmup) / c.total)
                      if s < c.total else c.min_lr),
        "the progress divides by total_steps instead of total_steps - warmup_steps, so the "
        "cosine is not down to min_lr at total_steps and the LR drops there. progress = "
        "(step - warmup_steps) / (total_steps - warmup_steps)",
    ),
    "starts_at_base": (
        lambda s, c: warmup_cosine_ref(max(s, c.warmup), c.total, c.warmup, c.base, c.min_lr),
        "the LR is already base_lr at step 0, so there is no warmup. Warmup starts from 0 and "
        "rises in a straight line, base_lr * step / warmup_steps, to base_lr at step warmup_steps",
    ),
    "one_ahead_in_warmup": (
        lambda s, c: c.base * (s + 1) / c.warmup if s < c.warmup
        else warmup_cosine_ref(s, c.total, c.warmup, c.base, c.min_lr),
        "the warmup is one step ahead: step 0 gives base_lr / warmup_steps and base_lr comes at "
        "step warmup_steps - 1, then stays there a second step. Here warmup is "
        "base_lr * step / warmup_steps: 0 at step 0, base_lr exactly at step warmup_steps, where "
        "the cosine takes over without a jump",
    ),
    "ignores_min_lr": (
        lambda s, c: warmup_cosine_ref(s, c.total, c.warmup, c.base, 0.0),
        "the LR decays to 0 and ignores min_lr. The cosine runs from base_lr down to min_lr: "
        "min_lr + (base_lr - min_lr) * (1 + cos(pi * progress)) / 2",
    ),
    "cosine_from_step_0": (
        _after_warmup(lambda s, c: _cos(c.min_lr, c.base, min(1.0, s / c.total))),
        "the cosine counts its progress from step 0 (step / total_steps), so it has already "
        "dropped when the warmup ends and the LR jumps at the boundary. Count from the end of "
        "warmup: progress = (step - warmup_steps) / (total_steps - warmup_steps)",
    ),
    "cosine_one_late": (
        _after_warmup(lambda s, c: _cos(c.min_lr, c.base, min(1.0, _progress(s + 1, c)))),
        "the cosine's progress is one step ahead ((step - warmup_steps + 1) / ...), so the LR "
        "never reaches base_lr and drops at the boundary. At step warmup_steps progress is 0",
    ),
    "linear_decay": (
        _after_warmup(lambda s, c: c.base + (c.min_lr - c.base) * min(1.0, _progress(s, c))),
        "the LR decays in a straight line after the warmup; the schedule asks for a cosine: "
        "min_lr + (base_lr - min_lr) * (1 + cos(pi * progress)) / 2",
    ),
    "no_floor": (
        _after_warmup(lambda s, c: _cos(c.min_lr, c.base, _progress(s, c))),
        "after total_steps the LR rises again: the cosine keeps going past pi. From "
        "total_steps on the LR stays at min_lr",
    ),
    "no_decay": (
        _after_warmup(lambda s, c: c.base),
        "the LR stays at base_lr after the warmup; it should follow the cosine down to min_lr",
    ),
}

# wiring an optimizer: the same curve, shifted or scaled
COMPOUNDED = (
    "each update's LR is the previous one multiplied by the schedule's factor, so the "
    "factors compound (MultiplicativeLR, or a get_lr that multiplies group['lr']). The LR "
    "must be computed from the step alone: base_lr * warmup_cosine(step, ...) / base_lr, "
    "which LambdaLR does"
)
WIRING_MISTAKES: dict[str, tuple[Callable[[int, Schedule], float], str]] = {
    "compounds_from_step_1": (_compounded(1), COMPOUNDED),  # MultiplicativeLR
    "compounds_from_step_0": (_compounded(0), COMPOUNDED),
    "lags": (
        lambda s, c: warmup_cosine_ref(s - 1, c.total, c.warmup, c.base, c.min_lr),
        "the optimizer's LR lags one step: update s used the value of step s - 1",
    ),
    "leads": (
        lambda s, c: warmup_cosine_ref(s + 1, c.total, c.warmup, c.base, c.min_lr),
        "the optimizer's LR is one step early: update s used the value of step s + 1 (was the "
        "scheduler stepped once too often, e.g. right after it was created?)",
    ),
    "factor_is_lr": (
        lambda s, c: c.base * warmup_cosine_ref(s, c.total, c.warmup, c.base, c.min_lr),
        "the LR is base_lr times the schedule's value. LambdaLR multiplies the optimizer's "
        "initial lr by what the lambda returns: return warmup_cosine(...) / base_lr, a factor",
    ),
    "min_lr_as_factor": (
        lambda s, c: warmup_cosine_ref(s, c.total, c.warmup, c.base, c.base * c.min_lr),
        "min_lr was applied as a factor of base_lr; it is an absolute learning rate",
    ),
}


def schedule_mistake(values: np.ndarray, cfg: Schedule, steps: Sequence[int],
                     wiring: bool = False) -> str:
    """Name what a wrong LR curve (values at `steps`) looks like."""
    want = reference(cfg, steps)
    if cfg.warmup >= 3:
        warm = values[1 : cfg.warmup]
        ratios = warm[1:] / np.where(warm[:-1] == 0, np.nan, warm[:-1])
        if ratios.size >= 2 and np.all(np.isfinite(ratios)) and np.all(ratios < 1) \
                and np.allclose(ratios, ratios[0], rtol=1e-3):
            return (
                f"your LR shrinks by the same factor (x{ratios[0]:.3g}) at every warmup step: "
                "that is exponential decay, lr * factor compounded, not warmup. Warmup RAISES the "
                "LR from 0 toward base_lr, in a straight line: base_lr * step / warmup_steps"
            )
        if ratios.size >= 2 and np.all(np.isfinite(ratios)) and np.all(ratios > 1) \
                and np.allclose(ratios, ratios[0], rtol=1e-3):
            return (
                f"your LR grows by the same factor (x{ratios[0]:.3g}) at every warmup step: "
                "an exponential warmup, lr * factor compounded step after step. The warmup is "
                "a straight line computed from the step: base_lr * step / warmup_steps, 0 at "
                "step 0"
            )
    # a mistake explains the curve when every step that is wrong has that mistake's value
    wrong = np.abs(values - want) > cfg.tol
    table = {**SCHEDULE_MISTAKES, **(WIRING_MISTAKES if wiring else {})}
    found = name_mistake(
        values,
        ((words, lambda fn=fn: np.array([fn(s, cfg) for s in steps])) for fn, words in table.values()),
        same=lambda values, alt: bool(wrong.any() and np.all(np.abs(values - alt)[wrong] <= cfg.tol)),
    )
    if found:
        return found
    bad = int(np.argmax(np.abs(values - want) > cfg.tol))
    return (
        f"the first difference is at step {steps[bad]}: {values[bad]:.6g} instead of {want[bad]:.6g}"
    )
