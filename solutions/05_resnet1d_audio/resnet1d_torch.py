"""05_resnet1d_audio, PyTorch: a ResNet over time for 1-D signals (audio, features)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class BasicBlock1D(nn.Module):
    """Two kernel-3 convs over time. (N, in, L) -> (N, out, ceil(L / stride))."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:  # the shortcut must change shape too
            self.downsample = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm1d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResNet1D(nn.Module):
    """(N, in_channels, L) -> (N, num_classes) logits, for any length L >= 64.

    The time axis shrinks 4x in the stem and 2x in each of layer2..layer4; the
    global average over time makes the head independent of L (a Flatten would
    tie the model to one input length).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 layers: tuple[int, ...] = (2, 2, 2, 2), width: int = 32):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm1d(width)
        self.maxpool = nn.MaxPool1d(3, stride=2, padding=1)
        channels = width
        for i, (blocks, stride) in enumerate(zip(layers, (1, 2, 2, 2), strict=True)):
            out_channels = width * 2**i
            stage = []
            for j in range(blocks):
                stage.append(BasicBlock1D(channels, out_channels, stride if j == 0 else 1))
                channels = out_channels
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean(dim=2))  # average over time (dim 2), not channels
