"""01_residual_block (PyTorch). Statement: `resnet-kata start 01_residual_block`.

Implement the basic residual block: conv3x3 -> BN -> ReLU -> conv3x3 -> BN,
add the block's input, then ReLU. Check with `resnet-kata check`.
"""

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        # TODO: create the four layers, named exactly:
        #   self.conv1, self.bn1, self.conv2, self.bn2
        # Both convs: 3x3, `channels` -> `channels`, stride 1, padding 1, bias=False.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TODO: residual branch, then add x, then ReLU. Input and output: (N, C, H, W).
        raise NotImplementedError("BasicBlock.forward")
