"""07_depthwise_separable (PyTorch). Statement: `resnet-kata start 07_depthwise_separable`.

Implement a depthwise separable convolution block and the ratio of its cost to
a standard convolution's. Check with `resnet-kata check`.
"""

import torch
from torch import nn


class DepthwiseSeparableConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        # TODO: create the four layers, named exactly:
        #   self.depthwise: 3x3, in_channels -> in_channels, one filter per channel
        #                   (groups=in_channels), carries the stride, padding 1, bias=False
        #   self.bn1, self.pointwise (1x1, in -> out, bias=False), self.bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: depthwise - bn1 - ReLU - pointwise - bn2 - ReLU.
        # Input (N, in_channels, H, W); output (N, out_channels, H', W').
        raise NotImplementedError("DepthwiseSeparableConv.forward")


def cost_ratio(in_channels: int, out_channels: int, k: int = 3) -> float:
    # TODO: mult-adds of a depthwise separable kxk conv (depthwise kxk + pointwise 1x1)
    # divided by those of a standard kxk conv with the same channels, as a float.
    raise NotImplementedError("cost_ratio")
