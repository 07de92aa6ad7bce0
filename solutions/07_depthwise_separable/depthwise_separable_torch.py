"""07_depthwise_separable, PyTorch: the depthwise separable conv of MobileNet v1 / Xception."""

import torch
from torch import nn
from torch.nn import functional as F


class DepthwiseSeparableConv(nn.Module):
    """A 3x3 conv factored into a per-channel 3x3 and a 1x1 that mixes channels.

    Input (N, in_channels, H, W), output (N, out_channels, ceil(H/stride), ceil(W/stride)).
    depthwise 3x3 (groups=in_channels, carries the stride) - bn1 - ReLU -
    pointwise 1x1 - bn2 - ReLU. The depthwise weight has shape (in, 1, 3, 3).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        # groups=in_channels: one 3x3 filter per channel, channels never mix here
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1,
                                   groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.depthwise(x)))
        return F.relu(self.bn2(self.pointwise(out)))


def cost_ratio(in_channels: int, out_channels: int, k: int = 3) -> float:
    """Mult-adds of a depthwise separable kxk conv over those of a standard kxk conv.

    Per output position: standard k·k·in·out; separable k·k·in (depthwise) plus
    in·out (pointwise). The ratio, 1/out + 1/k², does not depend on in_channels.
    """
    return (k * k * in_channels + in_channels * out_channels) / (k * k * in_channels * out_channels)
