"""06_se_attention (PyTorch). Statement: `resnet-kata start 06_se_attention`.

Implement a squeeze-and-excitation module and a basic residual block that
uses it on its residual branch. Check with `resnet-kata check`.
"""

import torch
from torch import nn


class SEBlock(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        # TODO: create the two layers of the excitation, named exactly:
        #   self.fc1: channels -> max(1, channels // reduction), with bias
        #   self.fc2: back to channels, with bias
        # nn.Linear, or nn.Conv2d with kernel_size=1.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: squeeze (global average over H and W), fc1, ReLU, fc2, sigmoid,
        # then multiply x by the gate, one value per channel.
        # Input and output: (N, C, H, W).
        raise NotImplementedError("SEBlock.forward")


class SEBasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, reduction: int = 16):
        super().__init__()
        # TODO: create, named exactly:
        #   self.conv1 (3x3, carries the stride), self.bn1, self.conv2 (3x3), self.bn2,
        #   self.se = SEBlock(out_channels, reduction),
        #   self.downsample: nn.Sequential(1x1 conv with the stride, BN) when
        #   stride != 1 or in_channels != out_channels, else None.
        # Convs have bias=False.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: conv1-bn1-ReLU-conv2-bn2, then se, then add the shortcut, then ReLU.
        # Input (N, in_channels, H, W); output (N, out_channels, H', W').
        raise NotImplementedError("SEBasicBlock.forward")
