"""The named wrong BatchNorms (wrong axes, eps outside the root, flipped momentum, ...) in numpy.

Each is a sentence and the numbers that mistake produces; `name_mistake` finds the
first one that agrees with the learner's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from resnet_kata.checks import close
from resnet_kata.checks.mistakes import name_mistake

from .references import AXES, Convention, Inputs, batch_stats, channel, np_eval, np_train, simulate

Mistake = tuple[str, Callable[[Inputs], np.ndarray]]


def train_mistakes(conv: Convention, eps: float) -> list[Mistake]:
    """Wrong train-mode outputs, each with the sentence that names it."""
    return [
        ("the statistics were taken over the whole tensor (one mean and variance for all "
         "channels); take them per channel, over batch, height and width",
         lambda s: np_train(s.x, s.g, s.b, eps, axes=None)),
        ("the statistics were taken over the batch axis only (a separate mean for every "
         "pixel); BatchNorm2d reduces over batch, height AND width, once per channel",
         lambda s: np_train(s.x, s.g, s.b, eps, axes=(0,))),
        ("the statistics were taken per example over height and width (that is instance "
         "norm); BatchNorm also reduces over the batch",
         lambda s: np_train(s.x, s.g, s.b, eps, axes=(2, 3))),
        ("the statistics were taken per example over (C, H, W) (that is layer norm); "
         "BatchNorm reduces over (N, H, W), once per channel",
         lambda s: np_train(s.x, s.g, s.b, eps, axes=(1, 2, 3))),
        ("it normalised with the UNBIASED (n - 1) variance; normalisation uses the biased "
         "batch variance (divide by n)" + (", only running_var gets the unbiased one"
                                           if conv.unbiased_running else ""),
         lambda s: np_train(s.x, s.g, s.b, eps, ddof=1)),
        ("eps was added OUTSIDE the square root, (x - mean) / (sqrt(var) + eps); it goes "
         "inside: (x - mean) / sqrt(var + eps)",
         lambda s: np_train(s.x, s.g, s.b, eps, how="outside")),
        ("it divided by the variance, not by its square root (the standard deviation)",
         lambda s: np_train(s.x, s.g, s.b, eps, how="no_sqrt")),
        (f"it used the running statistics in training mode ({conv.train}); training "
         "normalises with the statistics of the current batch",
         lambda s: np_eval(s.x, s.g, s.b, eps, s.rm, s.rv)),
        (f"it normalised with the running statistics just after updating them ({conv.train}); "
         "training normalises with the statistics of the current batch, the running ones are for "
         "inference",
         lambda s: np_eval(s.x, s.g, s.b, eps, *_updated(conv, s))),
        ("gamma and beta were not applied (the output is the bare normalised x)",
         lambda s: np_train(s.x, np.ones_like(s.g), np.zeros_like(s.b), eps)),
        ("gamma and beta are swapped (x_hat * beta + gamma)",
         lambda s: np_train(s.x, s.b, s.g, eps)),
        ("the mean was not subtracted",
         lambda s: np_train(s.x, s.g, s.b, eps) - channel(s.g) * (
             -np.asarray(s.x, np.float64).mean(axis=AXES, keepdims=True)
             / np.sqrt(np.asarray(s.x, np.float64).var(axis=AXES, keepdims=True) + eps))),
    ]


def _updated(conv: Convention, s: Inputs) -> tuple[np.ndarray, np.ndarray]:
    """The running statistics after one update with this batch, at the default momentum."""
    mean, biased, unbiased = batch_stats(s.x)
    var = unbiased if conv.unbiased_running else biased
    return (conv.update(np.asarray(s.rm, np.float64), mean, conv.momentum),
            conv.update(np.asarray(s.rv, np.float64), var, conv.momentum))


def eval_mistakes(conv: Convention, eps: float) -> list[Mistake]:
    """Wrong inference-mode outputs, each with the sentence that names it."""
    return [
        (f"it normalised with the BATCH statistics in inference mode ({conv.infer}); inference "
         f"uses {conv.mean_name} and {conv.var_name}, so one example's output does not depend "
         "on the rest of the batch",
         lambda s: np_train(s.x, s.g, s.b, eps)),
        ("eps was added OUTSIDE the square root, (x - mean) / (sqrt(var) + eps); it goes "
         "inside: (x - mean) / sqrt(var + eps)",
         lambda s: np_eval(s.x, s.g, s.b, eps, s.rm, s.rv, how="outside")),
        ("no eps at all was added to the variance",
         lambda s: np_eval(s.x, s.g, s.b, eps, s.rm, s.rv, how="none")),
        (f"it used the variance as if it were the standard deviation ({conv.var_name} "
         "holds a variance: take its square root)",
         lambda s: np_eval(s.x, s.g, s.b, eps, s.rm, np.square(s.rv))),
        ("gamma and beta were not applied (the output is the bare normalised x)",
         lambda s: np_eval(s.x, np.ones_like(s.g), np.zeros_like(s.b), eps, s.rm, s.rv)),
    ]


def ignored_eps(conv: Convention, eps: float, train: bool) -> list[Mistake]:
    """A custom `eps` that was not used: the default instead, or (train mode) none at all."""
    if not train:
        return [("the given eps was ignored (the default was used)",
                 lambda s: np_eval(s.x, s.g, s.b, conv.eps, s.rm, s.rv))]
    return [
        ("the given eps was ignored (the default was used); store the constructor's "
         f"{conv.eps_arg} and use it",
         lambda s: np_train(s.x, s.g, s.b, conv.eps)),
        ("no eps at all was added", lambda s: np_train(s.x, s.g, s.b, eps, how="none")),
    ]


def diagnose(got: np.ndarray, s: Inputs, mistakes: Iterable[Mistake]) -> str:
    """'it matches what you get when <mistake>' for the first wrong output equal to `got`, or ''."""
    why = name_mistake(got, ((why, lambda fn=fn: fn(s)) for why, fn in mistakes))
    return f"it matches what you get when {why}" if why else ""


def _same_stats(got: tuple[np.ndarray, np.ndarray],
                want: tuple[np.ndarray, np.ndarray | None]) -> bool:
    """Both statistics agree; a wrong version that names only the mean compares only the mean."""
    return close(got[0], want[0]) and (want[1] is None or close(got[1], want[1]))


def stats_mistake(conv: Convention, batches: list[np.ndarray], momentum: float, rm: np.ndarray,
                  rv: np.ndarray, custom: bool) -> str:
    """What wrong running statistics (`rm`, `rv`) after training calls on `batches` look like."""
    c = batches[0].shape[1]
    if np.array_equal(rm, np.zeros(c)) and np.array_equal(rv, np.ones(c)):
        return (f"{conv.mean_name} and {conv.var_name} never changed: they were not updated in "
                f"training mode. Update them in place after computing the batch statistics")
    if conv.unbiased_running:
        variance = ("running_var was updated with the BIASED batch variance; PyTorch stores the "
                    "UNBIASED one, var * n / (n - 1) with n = N*H*W, in running_var (and "
                    "normalises with the biased one)")
    else:
        variance = ("moving_variance was updated with the UNBIASED (n - 1) variance; Keras uses "
                    "the biased batch variance (divide by n) for moving_variance, unlike PyTorch")
    versions = [
        (f"the momentum convention is flipped: {conv.ref} uses {conv.rule()}"
         + (" (PyTorch's momentum 0.1 weighs the NEW batch statistic)" if not conv.keeps_old
            else " (Keras' momentum 0.99 weighs the OLD value)"),
         momentum, dict(flipped=True), True),
        (variance, momentum, dict(unbiased=not conv.unbiased_running), True),
        (f"{conv.var_name} was updated with the standard deviation, not the variance",
         momentum, dict(std=True), True),
    ]
    if conv.unbiased_running:
        versions.append(
            ("the unbiased correction n / (n - 1) used n = N, the batch size; n counts every value "
             "a channel's statistics are taken over, n = N*H*W", momentum, dict(n_batch_only=True),
             True))
    if custom:
        versions += [
            (f"the given momentum={momentum} was ignored (the default {conv.momentum} was "
             "used); store the constructor's momentum and use it", conv.momentum, {}, True),
            (f"the given momentum={momentum} was ignored and the convention is flipped",
             conv.momentum, dict(flipped=True), False),
        ]
    versions.append(
        (f"{conv.mean_name} is right but {conv.var_name} is not; it is updated with "
         + ("the unbiased batch variance" if conv.unbiased_running else "the biased batch variance")
         + f", by the same rule {conv.rule()}", momentum, {}, False))

    def version(m: float, kw: dict, both: bool) -> Callable[[], tuple[np.ndarray, np.ndarray | None]]:
        def run() -> tuple[np.ndarray, np.ndarray | None]:
            sm, sv = simulate(conv, batches, m, **kw)
            return sm, (sv if both else None)

        return run

    found = name_mistake((rm, rv), ((why, version(m, kw, both)) for why, m, kw, both in versions),
                         same=_same_stats)
    return found or f"the update rule is {conv.rule()}, once per training call"
