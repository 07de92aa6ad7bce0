"""The torch side of 10: a real SGD driven by the learner's make_scheduler, step by step.

torch is imported inside the function, so importing this module loads no framework.
"""

from __future__ import annotations

from resnet_kata.checks import Context, fail
from resnet_kata.checks.calls import call, invoke

from .references import Schedule


def wiring(ctx: Context, cfg: Schedule) -> tuple[list[float], list[float]]:
    """Drive a real SGD with the learner's scheduler; read the lr before each update and
    the lr the update used (the step a unit gradient makes)."""
    import torch

    p = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=cfg.base)
    sched = call(ctx, "make_scheduler", opt, cfg.total, cfg.warmup, **cfg.min_lr_kwargs(),
                 case=f"for make_scheduler(SGD(lr={cfg.base:g}), {cfg.total}, {cfg.warmup}"
                      f"{cfg.min_lr_text()})")
    if not isinstance(sched, torch.optim.lr_scheduler.LRScheduler):
        fail(f"`make_scheduler` returned {type(sched).__name__}; it must return a "
             "torch.optim.lr_scheduler.LRScheduler (LambdaLR, or your own subclass).")
    seen, used = [], []
    for s in cfg.steps(3):
        seen.append(float(opt.param_groups[0]["lr"]))
        with torch.no_grad():
            p.zero_()
        p.grad = torch.ones_like(p)
        opt.step()
        used.append(-float(p.detach()))
        invoke(ctx, "scheduler.step()", sched.step, case=f"after update {s}")
    return seen, used
