"""The named wrong ways to clip, in numpy, and the sentence for the one a learner's result matches."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from resnet_kata.checks.mistakes import name_mistake

from .references import (
    INF,
    Case,
    Grads,
    by_norm,
    per_tensor,
    per_tensor_sum,
    same,
    scaled,
    signed_max,
    total_norm,
)

# name -> (the clipped gradients that mistake gives, the mistake in words)
CLIP_MISTAKES: dict[str, tuple[Callable[[Grads, float, float], Grads], str]] = {
    "unchanged": (
        lambda g, m, p: scaled(g, 1.0),
        "the gradients came back unchanged although their total norm is above max_norm",
    ),
    "by_value": (
        lambda g, m, p: [None if x is None else np.clip(np.asarray(x, np.float64), -m, m) for x in g],
        "each element was clipped to [-max_norm, max_norm]: that is clipping by VALUE. Clipping "
        "by norm multiplies every gradient by one factor, min(1, max_norm / total_norm), so the "
        "update keeps its direction",
    ),
    "per_tensor": (
        lambda g, m, p: per_tensor(g, m, p),
        "each tensor was clipped by its own norm. The norm is global: one norm over all the "
        "gradients together (as if concatenated into one vector) and one factor for all of them",
    ),
    "always_rescaled": (
        lambda g, m, p: scaled(g, m / total_norm(g, p)),
        "the gradients were scaled UP to norm max_norm although they were under it. Clipping "
        "only ever shrinks: the factor is min(1, max_norm / total_norm)",
    ),
    "l2_instead": (
        lambda g, m, p: by_norm(g, m, total_norm(g, 2.0)),
        "the L2 norm was used whatever norm_type asked for. norm_type=inf is the largest "
        "absolute element (and 'inf' the same, as a string); 1 is the sum of absolute values",
    ),
    "sum_of_norms": (
        lambda g, m, p: by_norm(g, m, per_tensor_sum(g, p)),
        "the total norm was taken as the SUM of the per-tensor norms. The global L2 norm is "
        "sqrt(sum of the squared per-tensor norms)",
    ),
    "squared": (
        lambda g, m, p: by_norm(g, m, total_norm(g, p) ** 2),
        "the total norm was taken without its square root (the sum of squares)",
    ),
    "signed_max": (
        lambda g, m, p: by_norm(g, m, signed_max(g)) if p == INF else by_norm(g, m, total_norm(g, p)),
        "the inf-norm was taken as the largest element, not the largest ABSOLUTE element: a "
        "gradient of -9 has inf-norm 9 (torch.linalg.vector_norm(g, inf), or g.abs().max())",
    ),
    "inverted": (
        lambda g, m, p: scaled(g, max(1.0, total_norm(g, p) / m)),
        "the factor is upside down: total_norm / max_norm made the gradients LARGER. The factor "
        "is max_norm / total_norm (at most 1)",
    ),
}


def clip_mistake(got: Grads, original: Grads, max_norm: float, p: float, want: Grads) -> str:
    """Name what the learner's clipped gradients look like, when they are wrong."""
    # a wrong version names the mistake when it differs from the right result and matches got
    found = name_mistake(
        got,
        ((words, lambda fn=fn: fn(original, max_norm, p)) for fn, words in CLIP_MISTAKES.values()),
        same=lambda got, alt: not same(alt, want, 1e-4) and same(got, alt, 1e-4),
    )
    if found:
        return found
    present = [(g, o) for g, o in zip(got, original, strict=True) if g is not None and o is not None]
    ratios = [float(np.sum(g * o) / np.sum(o * o)) for g, o in present if np.any(o)]
    if ratios and all(
        np.allclose(g, r * o, rtol=1e-4, atol=1e-7)
        for (g, o), r in zip(present, ratios, strict=True)
    ):
        if np.allclose(ratios, ratios[0], rtol=1e-4):
            want_factor = min(1.0, max_norm / (total_norm(original, p) + 1e-6))
            return (
                f"every gradient was scaled by {ratios[0]:.4g}, but the factor is "
                f"min(1, max_norm / total_norm) = {want_factor:.4g}"
            )
        return (
            "the gradients were scaled by different factors, so the update changed direction; "
            "clipping by norm uses one factor for all of them"
        )
    return (
        "the gradients are not a rescaled copy of the originals, so the update's direction "
        "changed; clipping by norm multiplies every gradient by the same factor"
    )


def norm_mistake(got: float, original: Grads, max_norm: float, p: float) -> str:
    """Name what a wrong returned norm is, as a sentence."""
    want = total_norm(original, p)
    options = [
        (min(want, max_norm), "the norm AFTER clipping. Return the total norm before clipping: "
                              "it is what you log to see the gradients explode"),
        (want**2, "the squared norm (the square root is missing)"),
        (per_tensor_sum(original, p), "the sum of the per-tensor norms, not their global norm"),
        (total_norm(original, 2.0), "the L2 norm although norm_type asked for another"),
        (signed_max(original) if p == INF else want,
         "the largest element, not the largest ABSOLUTE element (the inf-norm of -9 is 9)"),
    ]
    found = name_mistake(
        got,
        ((words, lambda value=value: value) for value, words in options),
        same=lambda got, value: abs(value - want) > 1e-4 * (1 + want)
        and abs(got - value) <= 1e-4 * (1 + abs(value)),
    )
    if found:
        return f"It is {found}."
    return "It should be the p-norm of all gradient elements taken together, before clipping."


def value_mistake(got: Grads, case: Case) -> str:
    """What clip_grad_value did instead of clamping each element."""
    if same(got, case.grads, 0.0):
        return "the gradients came back unchanged"
    c = case.max_norm
    one_sided = {
        "only the upper bound was applied (clamp(max=clip_value)): elements below -clip_value "
        "were left as they were": lambda x: np.minimum(x, c),
        "only the lower bound was applied (clamp(min=-clip_value)): elements above clip_value "
        "were left as they were": lambda x: np.maximum(x, -c),
        "the elements were clamped to [0, clip_value]: negative gradients became 0; the range "
        "is [-clip_value, clip_value]": lambda x: np.clip(x, 0.0, c),
    }
    for words, fn in one_sided.items():
        alt = [None if o is None else fn(np.asarray(o, np.float64)) for o in case.grads]
        if same(got, alt, 1e-6):
            return words
    pairs = [(g, o) for g, o in zip(got, case.grads, strict=True) if g is not None and o is not None]
    if all(np.allclose(g, o * (np.sum(g * o) / np.sum(o * o)), rtol=1e-4, atol=1e-7) for g, o in pairs):
        return "the gradients were rescaled as a whole, which is clipping by NORM"
    return "the gradients differ from torch.nn.utils.clip_grad_value_'s"
