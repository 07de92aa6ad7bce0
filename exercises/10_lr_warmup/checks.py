"""Checks for 10_lr_warmup: linear warmup then cosine decay, and an optimizer that uses it."""

from resnet_kata.checks.optim import Schedule, ScheduleSpec, schedule_checks

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
)


def checks(framework: str):
    return schedule_checks(framework, SPEC)
