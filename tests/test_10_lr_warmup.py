"""10_lr_warmup: typical bugs are caught by the right check; correct variants pass."""

from __future__ import annotations

import pytest

from .conftest import (
    bugs,
    case_test,
    check_of,
    mutate,
    needs,
    solution_source,
    variants,
)

EX = "10_lr_warmup"
TORCH_FAST = ["api", "key_values", "monotone", "boundary", "no_warmup", "curve", "scheduler"]
TF_FAST = ["api", "key_values", "monotone", "boundary", "no_warmup", "curve", "schedule", "traced",
           "config"]

WARM = "        return base_lr * step / warmup_steps\n"
PROGRESS = "    progress = (step - warmup_steps) / (total_steps - warmup_steps)\n"
COSINE = "    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))\n"

# mistakes inside warmup_cosine: the function is the same text in both files
FUNCTION_BUGS = {
    "compounds_lr_times_0_1": (
        [(WARM, "        return base_lr * 0.1 ** step\n")],
        "monotone", "exponential decay",
    ),
    "warmup_starts_at_base_lr": (
        [(WARM, "        return base_lr\n")],
        "key_values", "already base_lr at step 0",
    ),
    "warmup_one_step_ahead": (
        [(WARM, "        return base_lr * (step + 1) / warmup_steps\n")],
        "key_values", "one step ahead",
    ),
    "cosine_counted_from_step_0": (
        [(PROGRESS, "    progress = step / total_steps\n")],
        "boundary", "counts its progress from step 0",
    ),
    "cosine_progress_off_by_one": (
        [(PROGRESS, "    progress = (step - warmup_steps + 1) / (total_steps - warmup_steps)\n")],
        "boundary", "one step ahead",
    ),
    "decays_to_zero_ignoring_min_lr": (
        [(COSINE, "    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))\n")],
        "key_values", "ignores min_lr",
    ),
    "rises_again_after_total_steps": (
        [("    if step >= total_steps:\n        return min_lr\n", "")],
        "monotone", "rises again",
    ),
    "linear_decay": (
        [(COSINE, "    return base_lr + (min_lr - base_lr) * progress\n")],
        "curve", "straight line",
    ),
    "exponential_warmup_compounded": (
        [(WARM, "        lr = base_lr / warmup_steps\n        for _ in range(step):\n"
                "            lr *= 1.5\n        return lr\n")],
        "key_values", "an exponential warmup",
    ),
    "warmup_divides_by_warmup_minus_1": (
        [(WARM, "        return base_lr * step / (warmup_steps - 1)\n")],
        "key_values", "divides by warmup_steps - 1",
    ),
    "min_lr_added_on_top_of_the_cosine": (
        [(COSINE, "    return min_lr + base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))\n")],
        "key_values", "added on top of the cosine",
    ),
    "cosine_ends_one_step_early": (
        [(PROGRESS, "    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps - 1))\n")],
        "key_values", "reaches min_lr one step early",
    ),
    "progress_over_total_steps": (
        [(PROGRESS, "    progress = (step - warmup_steps) / total_steps\n")],
        "key_values", "divides by total_steps instead",
    ),
    "zero_after_total_steps": (
        [("    if step >= total_steps:\n        return min_lr\n",
          "    if step >= total_steps:\n        return 0.0\n")],
        "key_values", "drops to 0",
    ),
    "divides_by_zero_without_warmup": (
        [("    if step < warmup_steps:\n" + WARM,
          "    warm = base_lr * step / warmup_steps\n    if step < warmup_steps:\n        return warm\n")],
        "no_warmup", "guard the division",
    ),
}

LAMBDA = "lambda step: warmup_cosine(step, total_steps, warmup_steps, base_lr, min_lr) / base_lr"
TORCH_BUGS = {
    **FUNCTION_BUGS,
    "scheduler_default_min_lr_not_zero": (
        [("min_lr: float = 0.0) -> LambdaLR:", "min_lr: float = 1.0) -> LambdaLR:")],
        "scheduler", "this call leaves min_lr out: its default must be 0.0",
    ),
    "scheduler_without_min_lr_argument": (
        [("                   min_lr: float = 0.0) -> LambdaLR:", "                   ) -> LambdaLR:"),
         ("base_lr, min_lr) / base_lr", "base_lr, 0.0) / base_lr")],
        "api", "cannot be called as `make_scheduler(optimizer, 100, 10, min_lr=0.0)`",
    ),
    "scheduler_lags_one_step": (
        [(LAMBDA, LAMBDA.replace("warmup_cosine(step,", "warmup_cosine(step - 1,"))],
        "scheduler", "lags one step",
    ),
    "scheduler_stepped_at_creation": (
        [("    return LambdaLR(optimizer, [factor(group[\"lr\"]) for group in optimizer.param_groups])\n",
          "    scheduler = LambdaLR(optimizer, [factor(group[\"lr\"]) for group in optimizer.param_groups])\n"
          "    scheduler.step()\n    return scheduler\n")],
        "scheduler", "one step early",
    ),
    "lambda_returns_the_lr_not_a_factor": (
        [(LAMBDA, "lambda step: warmup_cosine(step, total_steps, warmup_steps, base_lr, min_lr)")],
        "scheduler", "return warmup_cosine(...) / base_lr, a factor",
    ),
    "min_lr_used_as_a_factor": (
        [(LAMBDA, "lambda step: warmup_cosine(step, total_steps, warmup_steps, 1.0, min_lr)")],
        "scheduler", "min_lr was applied as a factor",
    ),
    "multiplicative_lr_compounds_the_factor": (
        [("    return LambdaLR(optimizer, [factor(group[\"lr\"]) for group in optimizer.param_groups])\n",
          "    from torch.optim.lr_scheduler import MultiplicativeLR\n"
          "    return MultiplicativeLR(optimizer,\n"
          "                            [factor(group[\"lr\"]) for group in optimizer.param_groups])\n")],
        "scheduler", "the factors compound",
    ),
    "exponential_lr_instead": (
        [("    return LambdaLR(optimizer, [factor(group[\"lr\"]) for group in optimizer.param_groups])\n",
          "    from torch.optim.lr_scheduler import ExponentialLR\n"
          "    return ExponentialLR(optimizer, gamma=0.1)\n")],
        "scheduler", "exponential decay",
    ),
    "returns_a_function_not_a_scheduler": (
        [("    return LambdaLR(optimizer, [factor(group[\"lr\"]) for group in optimizer.param_groups])\n",
          "    return factor(optimizer.param_groups[0][\"lr\"])\n")],
        "scheduler", "must return a torch.optim.lr_scheduler.LRScheduler",
    ),
}

PY_IF_CALL = '''    def __call__(self, step):
        if step < self.warmup_steps:
            return self.base_lr * ops.cast(step, "float32") / self.warmup_steps
        progress = ops.minimum((ops.cast(step, "float32") - self.warmup_steps)
                               / (self.total_steps - self.warmup_steps), 1.0)
        return self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (1.0 + ops.cos(math.pi * progress))

    def _unused(self, step):
'''
TF_BUGS = {
    **FUNCTION_BUGS,
    "schedule_default_min_lr_not_zero": (
        [("def __init__(self, base_lr, total_steps, warmup_steps, min_lr=0.0):",
          "def __init__(self, base_lr, total_steps, warmup_steps, min_lr=0.1):")],
        "schedule", "this call leaves min_lr out: its default must be 0.0",
    ),
    "schedule_is_a_plain_class": (
        [("class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):", "class WarmupCosine:"),
         ("        super().__init__()\n", "")],
        "api", "subclasses keras.optimizers.schedules.LearningRateSchedule",
    ),
    "schedule_ignores_min_lr": (
        [("falling = self.min_lr + (self.base_lr - self.min_lr) * 0.5 *",
          "falling = self.base_lr * 0.5 *")],
        "schedule", "ignores min_lr",
    ),
    "schedule_lags_one_step": (
        [('        step = ops.cast(step, "float32")\n', '        step = ops.cast(step, "float32") - 1.0\n')],
        "schedule", "lags one step",
    ),
    "schedule_starts_at_base_lr": (
        [("        return ops.where(step < warmup, rising, falling)",
          "        return ops.where(step < warmup, self.base_lr + 0.0 * step, falling)")],
        "schedule", "already base_lr at step 0",
    ),
    "python_if_fails_when_traced": (
        [("    def __call__(self, step):\n", PY_IF_CALL)],
        "traced", "tf.function",
    ),
    "no_get_config": (
        [("    def get_config(self):\n", "    def _get_config(self):\n")],
        "config", "has no get_config()",
    ),
    "get_config_misses_min_lr": (
        [('            "min_lr": self.min_lr,\n', "")],
        "config", "the config must hold",
    ),
}


@needs("torch")
@pytest.mark.torch
def test_compounding_decay_is_explained_as_the_opposite_of_warmup(grade_source):
    edits, _, _ = FUNCTION_BUGS["compounds_lr_times_0_1"]
    record = grade_source(EX, "torch", mutate(solution_source(EX, "torch"), *edits),
                          only=["key_values"])
    message = check_of(record, "key_values").message
    assert "exponential decay" in message and "Warmup RAISES the LR" in message


TORCH_VARIANTS = {
    "own_scheduler_subclass": """
        import math
        from torch.optim.lr_scheduler import LRScheduler

        def warmup_cosine(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
            if warmup_steps > 0 and step <= warmup_steps:
                return base_lr * min(step, warmup_steps) / warmup_steps
            progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
            return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))

        class WarmupCosineLR(LRScheduler):
            def __init__(self, optimizer, total_steps, warmup_steps, min_lr=0.0):
                self.total_steps, self.warmup_steps, self.min_lr = total_steps, warmup_steps, min_lr
                super().__init__(optimizer)

            def get_lr(self):
                return [warmup_cosine(self.last_epoch, self.total_steps, self.warmup_steps, base, self.min_lr)
                        for base in self.base_lrs]

        def make_scheduler(optimizer, total_steps, warmup_steps, min_lr=0.0):
            return WarmupCosineLR(optimizer, total_steps, warmup_steps, min_lr)
    """,
    "numpy_and_partial": """
        from functools import partial

        import numpy as np
        import torch

        def warmup_cosine(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
            s = np.clip(step, 0, total_steps)
            warm = base_lr * s / max(warmup_steps, 1)
            t = np.clip((s - warmup_steps) / (total_steps - warmup_steps), 0.0, 1.0)
            cos = min_lr + (base_lr - min_lr) * (np.cos(np.pi * t) + 1) / 2
            return float(np.where(s < warmup_steps, warm, cos))

        def _factor(step, total_steps, warmup_steps, base_lr, min_lr):
            return warmup_cosine(step, total_steps, warmup_steps, base_lr, min_lr) / base_lr

        def make_scheduler(optimizer, total_steps, warmup_steps, min_lr=0.0):
            base_lr = optimizer.defaults["lr"]
            fn = partial(_factor, total_steps=total_steps, warmup_steps=warmup_steps,
                         base_lr=base_lr, min_lr=min_lr)
            return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=fn)
    """,
}

TF_VARIANTS = {
    "keras_cosine_decay_inside": """
        import math
        import keras

        def warmup_cosine(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
            if step >= total_steps:
                return float(min_lr)
            if step >= warmup_steps:
                t = (step - warmup_steps) / (total_steps - warmup_steps)
                return float(min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * t)) / 2)
            return float(base_lr * step / warmup_steps)

        class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
            def __init__(self, base_lr, total_steps, warmup_steps, min_lr=0.0):
                self.base_lr, self.total_steps = base_lr, total_steps
                self.warmup_steps, self.min_lr = warmup_steps, min_lr
                self.inner = keras.optimizers.schedules.CosineDecay(
                    initial_learning_rate=0.0,
                    decay_steps=total_steps - warmup_steps,
                    alpha=min_lr / base_lr,
                    warmup_target=base_lr,
                    warmup_steps=warmup_steps,
                )

            def __call__(self, step):
                return self.inner(step)

            def get_config(self):
                return dict(base_lr=self.base_lr, total_steps=self.total_steps,
                            warmup_steps=self.warmup_steps, min_lr=self.min_lr)
    """,
    "tf_ops_and_cond": """
        import math
        import keras
        import tensorflow as tf

        def warmup_cosine(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
            warm = step / warmup_steps if warmup_steps else 1.0
            if warm < 1.0:
                return base_lr * warm
            t = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
            return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))

        class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
            def __init__(self, base_lr, total_steps, warmup_steps, min_lr=0.0, name="warmup_cosine"):
                super().__init__()
                self.base_lr = float(base_lr)
                self.total_steps = int(total_steps)
                self.warmup_steps = int(warmup_steps)
                self.min_lr = float(min_lr)
                self.name = name

            def __call__(self, step):
                s = tf.cast(step, tf.float32)
                w = tf.constant(float(self.warmup_steps))

                def rising():
                    return self.base_lr * s / w

                def falling():
                    t = tf.minimum((s - w) / float(self.total_steps - self.warmup_steps), 1.0)
                    return self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (1.0 + tf.cos(math.pi * t))

                return tf.cond(s < w, rising, falling)

            def get_config(self):
                return {"base_lr": self.base_lr, "total_steps": self.total_steps,
                        "warmup_steps": self.warmup_steps, "min_lr": self.min_lr, "name": self.name}
    """,
}


test_cases = case_test(EX, [
    *bugs("torch", TORCH_BUGS, only=TORCH_FAST), *bugs("tf", TF_BUGS, only=TF_FAST),
    *variants("torch", TORCH_VARIANTS), *variants("tf", TF_VARIANTS),
], slow=[])
