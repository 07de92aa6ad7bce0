"""10_lr_warmup, Keras 3: linear warmup, then cosine decay, as a LearningRateSchedule."""

import math

import keras
from keras import ops


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


class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """warmup_cosine as a schedule: `optimizer = keras.optimizers.SGD(WarmupCosine(...))`.

    The optimizer calls it with its integer step counter (`iterations`), often inside
    a tf.function, so the two phases are chosen with ops.where, not a Python `if`.
    """

    def __init__(self, base_lr, total_steps, warmup_steps, min_lr=0.0):
        super().__init__()
        self.base_lr = base_lr
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.min_lr = min_lr

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = float(self.warmup_steps)
        decay = float(self.total_steps - self.warmup_steps)
        rising = self.base_lr * step / max(warmup, 1.0)
        progress = ops.clip((step - warmup) / decay, 0.0, 1.0)
        falling = self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < warmup, rising, falling)

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "min_lr": self.min_lr,
        }
