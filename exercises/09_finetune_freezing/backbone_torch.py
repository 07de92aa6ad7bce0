"""The grader's pretrained backbone for 09_finetune_freezing, PyTorch.

A ResNet-18 in miniature with torchvision's attribute names (`conv1, bn1, relu,
layer1..layer4, avgpool, fc`), one basic block per stage and a 3x3 stride-1 stem
for 16x16 images. `backbone.npz` holds its weights, pretrained by
`make_backbone.py` on a 4-class pattern task.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

WIDTHS = (8, 16, 24, 32)
WEIGHTS = Path(__file__).with_name("backbone.npz")


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class TinyResNet(nn.Module):
    """(N, 3, H, W) -> (N, num_classes) logits; pooled features have WIDTHS[-1] channels."""

    def __init__(self, num_classes: int = 4, widths: tuple[int, ...] = WIDTHS):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        cin = widths[0]
        for i, (width, stride) in enumerate(zip(widths, (1, 2, 2, 2), strict=True), start=1):
            setattr(self, f"layer{i}", nn.Sequential(BasicBlock(cin, width, stride)))
            cin = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def pretrained(path: Path = WEIGHTS) -> TinyResNet:
    """The backbone with its shipped weights, in train mode like any new nn.Module."""
    model = TinyResNet()
    with np.load(path) as arrays:
        model.load_state_dict({k: torch.from_numpy(arrays[k]) for k in arrays.files})
    return model
