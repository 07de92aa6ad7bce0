"""12_batchnorm (PyTorch). Statement: `resnet-kata start 12_batchnorm`.

Write BatchNorm2d from scratch (no F.batch_norm, no nn.BatchNorm2d), with the
same names and behaviour as torch's, so state_dicts load both ways.
Check with `resnet-kata check`.
"""

import torch
from torch import nn


class BatchNorm2d(nn.Module):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        # TODO: keep eps and momentum; create, with exactly these names:
        #   self.weight, self.bias: nn.Parameter, ones / zeros of shape (num_features,)
        #   buffers (self.register_buffer): running_mean (zeros), running_var (ones),
        #   num_batches_tracked (torch.tensor(0, dtype=torch.long))
        raise NotImplementedError("BatchNorm2d.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: x is (N, C, H, W).
        #   train mode (self.training): per-channel mean and BIASED variance over (N, H, W);
        #     update, without gradients:
        #       running_mean = (1 - momentum) * running_mean + momentum * mean
        #       running_var  = (1 - momentum) * running_var  + momentum * UNBIASED variance
        #       num_batches_tracked += 1
        #   eval mode: use running_mean / running_var, change nothing.
        #   return weight * (x - mean) / sqrt(var + eps) + bias, broadcast per channel.
        raise NotImplementedError("BatchNorm2d.forward")
