"""08_gradient_clipping, PyTorch: clipping by global norm and by value, from scratch."""

from collections.abc import Iterable

import torch

Params = torch.Tensor | Iterable[torch.Tensor]


@torch.no_grad()
def clip_grad_norm(parameters: Params, max_norm: float, norm_type: float | str = 2.0) -> torch.Tensor:
    """Scale every .grad by one factor so that their global norm is at most max_norm.

    The norm is taken over all gradient elements together, as if concatenated into
    one vector; parameters whose .grad is None are skipped. Returns that norm,
    measured before clipping (a 0-dim tensor). Gradients under the bound are left
    exactly as they were: the factor min(1, ...) is then 1.0.
    """
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]  # a list: a generator reads once
    if not grads:
        return torch.tensor(0.0)
    norm_type = float(norm_type)  # also turns 'inf' into inf
    norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])
    total_norm = torch.linalg.vector_norm(norms, norm_type)  # the norm of the per-tensor norms
    scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale)  # in place: p.grad itself changes
    return total_norm


@torch.no_grad()
def clip_grad_value(parameters: Params, clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    for p in parameters:
        if p.grad is not None:
            p.grad.clamp_(-clip_value, clip_value)
