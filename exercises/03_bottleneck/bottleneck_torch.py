"""03_bottleneck (PyTorch). Statement: `resnet-kata start 03_bottleneck`.

Implement the bottleneck block of ResNet-50/101/152: 1x1 reduce, 3x3 (with the
stride), 1x1 expand to 4 * width, plus the shortcut, then ReLU.
Check with `resnet-kata check`.
"""

import torch
from torch import nn


class Bottleneck(nn.Module):
    # TODO: a class attribute `expansion`: output channels = expansion * width (see the statement).

    def __init__(self, in_channels: int, width: int, stride: int = 1):
        super().__init__()
        # TODO: create the layers, named exactly:
        #   self.conv1, self.bn1  1x1 conv in_channels -> width, no bias; BN
        #   self.conv2, self.bn2  3x3 conv width -> width, stride `stride`, padding 1, no bias; BN
        #   self.conv3, self.bn3  1x1 conv width -> expansion * width, no bias; BN
        #   self.downsample       None, or nn.Sequential(1x1 conv with stride `stride`, BN):
        #                         see the statement for when the projection is needed.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: the three convs (ReLU after bn1 and bn2), plus the shortcut, then ReLU.
        # Input (N, in_channels, H, W); output (N, expansion * width, H', W').
        raise NotImplementedError("Bottleneck.forward")
