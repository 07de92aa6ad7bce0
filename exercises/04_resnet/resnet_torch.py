"""04_resnet (PyTorch). Statement: `resnet-kata start 04_resnet`.

Build ResNet-18, -34 and -50 whose state_dict keys and shapes equal
torchvision's, so its pretrained weights load. Check with `resnet-kata check`.
"""

import torch
from torch import nn


class BasicBlock(nn.Module):
    """ResNet-18/34 block: (N, in_channels, H, W) -> (N, out_channels, H/stride, W/stride)."""

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        # TODO: conv1 (3x3, carries the stride), bn1, conv2 (3x3), bn2, and downsample:
        #   None, or nn.Sequential(1x1 conv with the stride, BatchNorm2d) when the shape changes.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("BasicBlock.forward")


class Bottleneck(nn.Module):
    """ResNet-50 block: (N, in_channels, H, W) -> (N, 4*width, H/stride, W/stride)."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1):
        super().__init__()
        # TODO: conv1 (1x1), bn1, conv2 (3x3, carries the stride), bn2, conv3 (1x1 to 4*width),
        #   bn3, and downsample as in BasicBlock.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("Bottleneck.forward")


class ResNet(nn.Module):
    """(N, in_channels, H, W) -> (N, num_classes) logits."""

    def __init__(self, block, layers, num_classes: int = 1000, in_channels: int = 3, width: int = 64):
        super().__init__()
        # TODO: conv1 (7x7, stride 2, padding 3), bn1, ReLU and max pool (3, stride 2, padding 1),
        #   layer1..layer4 (nn.Sequential of blocks, first strides 1, 2, 2, 2), fc.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("ResNet.forward")


def resnet18(num_classes: int = 1000, in_channels: int = 3, width: int = 64) -> nn.Module:
    # TODO: basic blocks, (2, 2, 2, 2) per stage
    raise NotImplementedError("resnet18")


def resnet34(num_classes: int = 1000, in_channels: int = 3, width: int = 64) -> nn.Module:
    # TODO: basic blocks, (3, 4, 6, 3) per stage
    raise NotImplementedError("resnet34")


def resnet50(num_classes: int = 1000, in_channels: int = 3, width: int = 64) -> nn.Module:
    # TODO: bottleneck blocks, (3, 4, 6, 3) per stage
    raise NotImplementedError("resnet50")
