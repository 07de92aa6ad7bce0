"""08_gradient_clipping (PyTorch). Statement: `resnet-kata start 08_gradient_clipping`.

Clip gradients by their global norm, and by value, from scratch (nothing from
torch.nn.utils). Check with `resnet-kata check`.
"""

import torch


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0) -> torch.Tensor:
    # TODO:
    #   - `parameters` may be a list, a tuple, a generator or a single tensor;
    #     parameters whose .grad is None are skipped (all None: return 0).
    #   - total norm: the p-norm of all gradient elements together
    #     (norm_type may be float('inf') or the string 'inf').
    #   - multiply every p.grad, in place, by min(1, max_norm / (total_norm + 1e-6)).
    #   - return the total norm measured BEFORE clipping.
    raise NotImplementedError("clip_grad_norm")


def clip_grad_value(parameters, clip_value: float) -> None:
    # TODO: clamp every element of every p.grad to [-clip_value, clip_value], in place.
    raise NotImplementedError("clip_grad_value")
