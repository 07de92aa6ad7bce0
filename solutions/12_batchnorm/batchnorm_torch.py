"""12_batchnorm, PyTorch: BatchNorm2d from scratch, drop-in for nn.BatchNorm2d."""

import torch
from torch import nn


class BatchNorm2d(nn.Module):
    """Batch normalisation over (N, C, H, W), one mean and variance per channel.

    Train mode normalises with the batch statistics (biased variance) and moves the
    running averages towards them: new = (1 - momentum) * old + momentum * batch,
    with the UNBIASED variance in running_var. Eval mode uses the running averages
    and changes nothing. Parameter and buffer names are torch's, so state_dicts load
    both ways.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))  # gamma
        self.bias = nn.Parameter(torch.zeros(num_features))  # beta
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            # statistics per channel over batch, height and width; they stay in the
            # graph, so the input gradient includes their dependence on x
            mean = x.mean(dim=(0, 2, 3))
            var = x.var(dim=(0, 2, 3), unbiased=False)
            n = x.numel() // x.shape[1]
            with torch.no_grad():
                unbiased = var * n / max(n - 1, 1)
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)
                self.num_batches_tracked.add_(1)
        else:
            mean, var = self.running_mean, self.running_var
        shape = (1, -1, 1, 1)
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return x_hat * self.weight.view(shape) + self.bias.view(shape)
