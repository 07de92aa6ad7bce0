"""15_cbam (PyTorch). Statement: `resnet-kata start 15_cbam`.

Implement CBAM (channel attention, then spatial attention) and a basic residual
block that uses it on its residual branch. Check with `resnet-kata check`.
"""

import torch
from torch import nn


class ChannelAttention(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        # TODO: create ONE shared MLP, named exactly:
        #   self.fc1: channels -> max(1, channels // reduction), with bias
        #   self.fc2: back to channels, with bias
        # nn.Linear, or nn.Conv2d with kernel_size=1.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: average-pool AND max-pool over H and W, pass each through fc1-ReLU-fc2,
        # SUM the two, sigmoid: one gate per channel. Return x times the gate.
        # Input and output: (N, C, H, W).
        raise NotImplementedError("ChannelAttention.forward")


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size: int = 7):
        super().__init__()
        # TODO: self.conv: kernel_size x kernel_size, 2 -> 1 channel,
        # padding kernel_size // 2, bias=False.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: mean and max ACROSS the channels -> (N, 2, H, W), channel 0 the mean,
        # channel 1 the max; conv, sigmoid: one gate per position. Return x times the gate.
        raise NotImplementedError("SpatialAttention.forward")


class CBAM(nn.Module):
    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__()
        # TODO: self.channel = ChannelAttention(...), self.spatial = SpatialAttention(...)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: channel attention first, then spatial attention on its output.
        raise NotImplementedError("CBAM.forward")


class CBAMBasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, reduction: int = 16):
        super().__init__()
        # TODO: create, named exactly:
        #   self.conv1 (3x3, carries the stride), self.bn1, self.conv2 (3x3), self.bn2,
        #   self.cbam = CBAM(out_channels, reduction),
        #   self.downsample: nn.Sequential(1x1 conv with the stride, BN) when
        #   stride != 1 or in_channels != out_channels, else None.
        # Convs have bias=False.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: conv1-bn1-ReLU-conv2-bn2, then cbam, then add the shortcut, then ReLU.
        # Input (N, in_channels, H, W); output (N, out_channels, H', W').
        raise NotImplementedError("CBAMBasicBlock.forward")
