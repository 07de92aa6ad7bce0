"""05_resnet1d_audio (PyTorch). Statement: `resnet-kata start 05_resnet1d_audio`.

Build ResNet-18's layout over time for 1-D signals: (N, C, L) -> (N, num_classes).
Check with `resnet-kata check`.
"""

import torch
from torch import nn


class BasicBlock1D(nn.Module):
    """(N, in_channels, L) -> (N, out_channels, ceil(L / stride))."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        # TODO: conv1 (kernel 3, padding 1, carries the stride), bn1, conv2 (kernel 3), bn2,
        #   downsample: None, or nn.Sequential(Conv1d kernel 1 with the stride, BatchNorm1d).
        #   Every size argument is one integer (kernel_size=3, not (3, 3)); no conv bias.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("BasicBlock1D.forward")


class ResNet1D(nn.Module):
    """(N, in_channels, L) -> (N, num_classes) logits, for any L >= 64."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 layers: tuple[int, ...] = (2, 2, 2, 2), width: int = 32):
        super().__init__()
        # TODO: conv1 (kernel 7, stride 2, padding 3), bn1, ReLU, max pool (3, stride 2, padding 1),
        #   layer1..layer4 (nn.Sequential of blocks; widths width * (1, 2, 4, 8), strides 1, 2, 2, 2),
        #   fc (8 * width -> num_classes).

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: stem, the four stages, the mean over time, fc.
        raise NotImplementedError("ResNet1D.forward")
