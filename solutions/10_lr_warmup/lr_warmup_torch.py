"""10_lr_warmup, PyTorch: linear warmup, then cosine decay, as a LambdaLR."""

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, base_lr: float,
                  min_lr: float = 0.0) -> float:
    """The learning rate for update `step` (0-based).

    Rises linearly from 0 at step 0 to base_lr at step warmup_steps, where the cosine
    starts at its top, so the two pieces meet without a jump; falls along half a
    cosine to min_lr at total_steps and stays there.
    """
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(optimizer: Optimizer, total_steps: int, warmup_steps: int,
                   min_lr: float = 0.0) -> LambdaLR:
    """warmup_cosine on `optimizer`, whose lr is base_lr; call scheduler.step() after
    every optimizer.step().

    LambdaLR multiplies each group's initial lr by the lambda's value, so the lambda
    returns a factor: the schedule divided by that group's base_lr.
    """
    def factor(base_lr: float):
        return lambda step: warmup_cosine(step, total_steps, warmup_steps, base_lr, min_lr) / base_lr

    return LambdaLR(optimizer, [factor(group["lr"]) for group in optimizer.param_groups])
