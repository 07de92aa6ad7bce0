"""The known wrong repairs of 16_spot_the_bug (warmup curves, clipping updates) and their matchers."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from resnet_kata.checks.mistakes import name_mistake

from .references import Warmup, clip_global, global_norm


def _ramp_then(decay_at: Callable[[int, Warmup], float]) -> Callable[[Warmup], list[float]]:
    def curve(c: Warmup) -> list[float]:
        return [c.base * (e + 1) / c.warmup if e < c.warmup else decay_at(e, c) for e in range(c.epochs)]

    return curve


WARMUP_MISTAKES: dict[str, Callable[[Warmup], list[float]]] = {
    "Epoch 0 trains at a rate of 0 (the ramp is epoch / warmup_epochs): a whole epoch is wasted "
    "and base_lr comes one epoch late. Epoch 0 already trains at base_lr / warmup_epochs.":
        lambda c: [c.base * min(e / c.warmup, c.decay ** (e - c.warmup)) for e in range(c.epochs)],
    "The decay starts one epoch late: the rate stays at base_lr for two epochs. The epoch "
    "after the last warmup epoch trains at base_lr * decay.":
        _ramp_then(lambda e, c: c.base * c.decay ** (e - c.warmup)),
    "The decay counts epochs from 0 instead of from the end of the warmup, so the rate "
    "falls from base_lr to base_lr * decay**warmup_epochs in one epoch.":
        _ramp_then(lambda e, c: c.base * c.decay**e),
    "The rate never decays after the warmup.":
        _ramp_then(lambda e, c: c.base),
    "LambdaLR multiplies the optimizer's own learning rate by what the lambda returns: the "
    "lambda must return a factor (1 at the top), not the learning rate itself.":
        lambda c: [c.base * v for v in c.ref()],
}


def warmup_mistake(values: Sequence[float], cfg: Warmup) -> str:
    """What is wrong with the rates `values` the learner's schedule gave for `cfg`."""
    ramp = list(values[: cfg.warmup])
    if any(b < a for a, b in zip(ramp, ramp[1:], strict=False)):
        return ("The rate falls during the warmup: multiplying it by 0.1 every epoch compounds "
                "into an exponential decay (0.1, 0.01, 0.001 of the start), the opposite of a "
                "warmup, which raises it linearly to base_lr.")
    tol = 1e-6 * cfg.base

    def same(got: Sequence[float], want: list[float]) -> bool:
        return len(want) == len(got) and all(abs(a - b) <= tol for a, b in zip(got, want, strict=True))

    found = name_mistake(values, ((name, lambda curve=curve: curve(cfg))
                                  for name, curve in WARMUP_MISTAKES.items()), same=same)
    return found or ("Compare with the table: base_lr * (epoch + 1) / warmup_epochs while warming up, "
                     "then base_lr * decay ** (epoch + 1 - warmup_epochs).")


Update = Callable[[list[np.ndarray], list[np.ndarray], float, float], list[np.ndarray]]


def _shrink_weights(w: list[np.ndarray], c: float) -> list[np.ndarray]:
    return [t * min(1.0, c / global_norm(w)) for t in w]


# how a wrong step turns (weights, gradients, lr, max_norm) into new weights
CLIP_MISTAKES: dict[str, Update] = {
    "The update used the raw gradients: nothing clipped them before the optimizer applied "
    "them. A callback runs after the update (and in Keras 3 never sees the gradients): clip "
    "in the optimizer (global_clipnorm=max_norm) or in your own training step, between the "
    "gradient and apply_gradients.":
        lambda w, g, lr, c: [a - lr * b for a, b in zip(w, g, strict=True)],
    "The update used the raw gradients, and then the weights themselves were scaled down to "
    "norm max_norm: that clips the weights after the step, not the gradients before it. A "
    "callback's on_train_batch_end runs after apply_gradients; clip in the optimizer "
    "(global_clipnorm=max_norm) or in your own training step.":
        lambda w, g, lr, c: _shrink_weights([a - lr * b for a, b in zip(w, g, strict=True)], c),
    "The update was clipped, but then the weights were scaled down to norm max_norm after "
    "every batch: the callback is still there. It clips the weights, not the gradients; remove "
    "it.":
        lambda w, g, lr, c: _shrink_weights(
            [a - lr * b for a, b in zip(w, clip_global(g, c), strict=True)], c),
    "Each gradient tensor was clipped to max_norm on its own (clipnorm); clip the global norm "
    "of all gradients together (global_clipnorm), which keeps the update's direction.":
        lambda w, g, lr, c: [a - lr * b * min(1.0, c / global_norm([b])) for a, b in zip(w, g, strict=True)],
    "Every gradient element was clamped to [-max_norm, max_norm] (clipvalue), which changes "
    "the update's direction; clip by the global norm (global_clipnorm).":
        lambda w, g, lr, c: [a - lr * np.clip(b, -c, c) for a, b in zip(w, g, strict=True)],
    "The gradients were always rescaled to norm max_norm, even when they were under it: "
    "clipping only ever shrinks them.":
        lambda w, g, lr, c: [a - lr * b * (c / global_norm(g)) for a, b in zip(w, g, strict=True)],
}


def clip_mistake(got: list[np.ndarray], simulate: Callable[[Update], list[np.ndarray]],
                 same: Callable[[list[np.ndarray], list[np.ndarray]], bool]) -> str:
    """The wrong update whose simulated weights `same` finds equal to the learner's, or ''."""
    return name_mistake(got, ((name, lambda u=update: simulate(u)) for name, update in CLIP_MISTAKES.items()),
                        same=same)
