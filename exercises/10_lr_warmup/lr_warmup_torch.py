"""10_lr_warmup (PyTorch). Statement: `resnet-kata start 10_lr_warmup`.

Linear warmup then cosine decay: the schedule as a function, then as a torch
scheduler driving an optimizer. Check with `resnet-kata check`.
"""

import math  # noqa: F401

from torch.optim.lr_scheduler import LambdaLR  # noqa: F401


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, base_lr: float,
                  min_lr: float = 0.0) -> float:
    # TODO: the learning rate for update `step` (0-based):
    #   step < warmup_steps:  base_lr * step / warmup_steps        (0 at step 0)
    #   up to total_steps:    cosine from base_lr down to min_lr,
    #                         progress = (step - warmup_steps) / (total_steps - warmup_steps)
    #   after total_steps:    min_lr
    raise NotImplementedError("warmup_cosine")


def make_scheduler(optimizer, total_steps: int, warmup_steps: int, min_lr: float = 0.0):
    # TODO: return an LRScheduler (e.g. LambdaLR) following warmup_cosine, with
    # base_lr = the optimizer's learning rate. LambdaLR's lambda returns a FACTOR
    # of that learning rate. The loop calls scheduler.step() after each optimizer.step().
    raise NotImplementedError("make_scheduler")
