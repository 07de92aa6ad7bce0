"""15_cbam, PyTorch: channel then spatial attention (CBAM, Woo et al. 2018) in a basic block."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ChannelAttention(nn.Module):
    """Rescale each channel by a gate computed from its average AND its maximum.

    Input and output: (N, channels, H, W). Both pooled descriptors, (N, channels),
    go through the same MLP (fc1: channels -> max(1, channels // reduction), ReLU,
    fc2: back to channels); the two outputs are summed, then one sigmoid.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)  # at least one unit when channels < reduction
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def mlp(self, s: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(s)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg, mx = x.mean(dim=(2, 3)), x.amax(dim=(2, 3))  # (N, C) each
        gate = torch.sigmoid(self.mlp(avg) + self.mlp(mx))  # one shared MLP, summed, then sigmoid
        return x * gate[:, :, None, None]


class SpatialAttention(nn.Module):
    """Rescale each position by a gate computed across the channels.

    Input and output: (N, C, H, W). The channel-wise mean and max, concatenated in
    that order to (N, 2, H, W), go through a kxk conv (2 -> 1, padding k // 2, no
    bias) and a sigmoid: one gate per position, shared by all channels.
    """

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))  # (N, 1, H, W) broadcasts over channels


class CBAM(nn.Module):
    """Channel attention, then spatial attention on its output (the paper's best order)."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))


class CBAMBasicBlock(nn.Module):
    """The basic residual block with CBAM on its residual branch.

    Input (N, in_channels, H, W), output (N, out_channels, ceil(H/stride), ceil(W/stride)).
    CBAM refines bn2's output before the shortcut is added; the identity path stays clean.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, reduction: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.cbam = CBAM(out_channels, reduction)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.cbam(out)  # on the branch: after bn2, before the add
        return F.relu(out + identity)
