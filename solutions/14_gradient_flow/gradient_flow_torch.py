"""14_gradient_flow, PyTorch: per-layer gradient norms of a deep plain MLP and a residual one."""

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """One hidden layer: tanh(linear(x)), plus x itself when `residual`."""

    def __init__(self, width: int, residual: bool):
        super().__init__()
        self.linear = nn.Linear(width, width)  # nn.Linear's default init, kept on purpose
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.tanh(self.linear(x))
        return x + out if self.residual else out  # y = x + F(x): the skip adds, it has no weights


class MLP(nn.Module):
    """stem (in -> width), `depth` hidden blocks (width -> width), head (width -> classes)."""

    def __init__(self, depth: int, width: int, in_features: int, num_classes: int, residual: bool):
        super().__init__()
        self.stem = nn.Linear(in_features, width)
        self.hidden = nn.ModuleList(Block(width, residual) for _ in range(depth))
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.hidden:
            x = block(x)
        return self.head(x)  # logits


def make_plain(depth: int, width: int, in_features: int, num_classes: int) -> nn.Module:
    return MLP(depth, width, in_features, num_classes, residual=False)


def make_residual(depth: int, width: int, in_features: int, num_classes: int) -> nn.Module:
    return MLP(depth, width, in_features, num_classes, residual=True)


def layer_grad_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """L2 norm of d(mean cross-entropy)/d(weight) for each hidden layer, first layer first.

    torch.autograd.grad returns the gradients instead of adding them into .grad, so
    nothing is left behind and nothing from an earlier backward() leaks in.
    """
    weights = [block.linear.weight for block in model.hidden]
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, weights)
    return [float(torch.linalg.vector_norm(g)) for g in grads]


def starvation_ratio(norms: list[float]) -> float:
    """Last hidden layer's gradient norm over the first's: large when the early layers starve."""
    return float(norms[-1] / norms[0])
