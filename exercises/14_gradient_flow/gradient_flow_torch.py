"""14_gradient_flow (PyTorch). Statement: `resnet-kata start 14_gradient_flow`.

Build a deep plain MLP and a residual one, measure each hidden layer's gradient norm,
and see the plain net's first layers starve. Check with `resnet-kata check`.
"""

import torch
from torch import nn


def make_plain(depth: int, width: int, in_features: int, num_classes: int) -> nn.Module:
    # TODO: a module with
    #   - `stem`:   nn.Linear(in_features, width)
    #   - `hidden`: nn.ModuleList of `depth` blocks; each block has `.linear` = nn.Linear(width, width)
    #               and computes tanh(linear(x))  (plain: NO skip)
    #   - `head`:   nn.Linear(width, num_classes)
    #   forward: head(hidden[depth-1](...hidden[0](stem(x)))), logits. Keep nn.Linear's default init.
    raise NotImplementedError("make_plain")


def make_residual(depth: int, width: int, in_features: int, num_classes: int) -> nn.Module:
    # TODO: the same, but each block computes x + tanh(linear(x)).
    raise NotImplementedError("make_residual")


def layer_grad_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    # TODO: one forward pass, the MEAN cross-entropy of the logits against y, one backward pass;
    #   return [L2 norm of the gradient of model.hidden[i].linear.weight for i in order].
    #   Leave the weights unchanged and no gradient in .grad (torch.autograd.grad, or zero them).
    raise NotImplementedError("layer_grad_norms")


def starvation_ratio(norms: list[float]) -> float:
    # TODO: the last hidden layer's norm divided by the first's.
    raise NotImplementedError("starvation_ratio")
