"""01_residual_block, PyTorch: the basic residual block of ResNet-18/34."""

import torch
from torch import nn
from torch.nn import functional as F


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the input, then ReLU.

    Input and output: (N, channels, H, W). Stride 1, so the identity shortcut
    fits without a projection and adds no parameters.
    """

    def __init__(self, channels: int):
        super().__init__()
        # no conv bias: the BatchNorm after each conv has its own shift (beta)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + x)  # add first, then the ReLU
