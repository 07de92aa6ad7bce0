"""03_bottleneck, PyTorch: the bottleneck block of ResNet-50/101/152 (torchvision v1.5)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (each conv then BN), plus the shortcut, then ReLU.

    Input (N, in_channels, H, W); output (N, 4 * width, ceil(H / stride),
    ceil(W / stride)). The stride sits on the 3x3 conv2, as in torchvision
    ("ResNet v1.5"): a strided 1x1 conv1 (the paper's v1) would skip 3 of every
    4 input positions. The shortcut projects x (strided 1x1 conv + BN) exactly
    when the branch changes its shape.
    """

    expansion: int = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1):
        super().__init__()
        out_channels = width * self.expansion
        # no conv bias: the BatchNorm after each conv has its own shift (beta)
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + identity)  # add first, then the ReLU
