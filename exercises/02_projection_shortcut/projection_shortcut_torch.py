"""02_projection_shortcut (PyTorch). Statement: `resnet-kata start 02_projection_shortcut`.

Implement the basic block with a stride and a channel change: when x no longer
fits the branch's output, a 1x1 conv and BN (`downsample`) project it.
Check with `resnet-kata check`.
"""

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        # TODO: create the layers, named exactly:
        #   self.conv1  3x3, in_channels -> out_channels, stride `stride`, padding 1, bias=False
        #   self.bn1
        #   self.conv2  3x3, out_channels -> out_channels, stride 1, padding 1, bias=False
        #   self.bn2
        #   self.downsample  None, or nn.Sequential(1x1 conv with stride `stride`, BN):
        #                    see the statement for when the projection is needed.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: residual branch, plus the shortcut (x, or downsample(x)), then ReLU.
        # Input (N, in_channels, H, W); output (N, out_channels, H', W').
        raise NotImplementedError("BasicBlock.forward")
