"""10_lr_warmup (Keras 3). Statement: `resnet-kata start 10_lr_warmup --framework tf`.

Linear warmup then cosine decay: the schedule as a function, then as a Keras
LearningRateSchedule an optimizer calls every step. Check with `resnet-kata check`.
"""

import math  # noqa: F401

import keras
from keras import ops  # noqa: F401


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, base_lr: float,
                  min_lr: float = 0.0) -> float:
    # TODO: the learning rate for update `step` (0-based), plain Python:
    #   step < warmup_steps:  base_lr * step / warmup_steps        (0 at step 0)
    #   up to total_steps:    cosine from base_lr down to min_lr,
    #                         progress = (step - warmup_steps) / (total_steps - warmup_steps)
    #   after total_steps:    min_lr
    raise NotImplementedError("warmup_cosine")


class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, base_lr, total_steps, warmup_steps, min_lr=0.0):
        super().__init__()
        # TODO: keep the four arguments.

    def __call__(self, step):
        # TODO: the same schedule for `step`, an integer tensor (optimizer.iterations),
        # possibly inside tf.function: keras.ops (cast, cos, where), no Python `if`.
        raise NotImplementedError("WarmupCosine.__call__")

    def get_config(self):
        # TODO: the four constructor arguments, as a dict.
        raise NotImplementedError("WarmupCosine.get_config")
