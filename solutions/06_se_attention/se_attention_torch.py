"""06_se_attention, PyTorch: squeeze-and-excitation and the SE basic block (Hu et al. 2018)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SEBlock(nn.Module):
    """Rescale each channel by a gate learned from the whole feature map.

    Input and output: (N, channels, H, W). Squeeze: global average pool to
    (N, channels). Excite: fc1 (channels -> max(1, channels // reduction)), ReLU,
    fc2 (back to channels), sigmoid: one gate in [0, 1] per channel and sample.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)  # at least one unit when channels < reduction
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3))  # squeeze: (N, C)
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))  # excite: (N, C) in [0, 1]
        return x * gate[:, :, None, None]  # the same gate at every position of a channel


class SEBasicBlock(nn.Module):
    """The basic residual block with an SE module on its residual branch.

    Input (N, in_channels, H, W), output (N, out_channels, ceil(H/stride), ceil(W/stride)).
    The SE rescales bn2's output before the shortcut is added, so the identity
    path stays untouched; `downsample` projects the shortcut when the shape changes.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, reduction: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.se = SEBlock(out_channels, reduction)
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
        out = self.se(out)  # on the branch: after bn2, before the add
        return F.relu(out + identity)
