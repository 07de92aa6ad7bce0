"""16_spot_the_bug (PyTorch). Statement: `resnet-kata start 16_spot_the_bug`.

Four answers a candidate gave in an interview. Each runs, or at least imports, and
each is wrong. Every item's docstring gives the question and what the answer claims;
the statement says what the repaired code must do. Find the flaw and repair the code
in place, keeping the names and signatures. The grader checks each item on its own
(item1_skip ... item4_resnet18). Check with `resnet-kata check`.
"""

import torch
from torch import nn
from torch.nn import functional as F
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

# -- Item 1 ---------------------------------------------------------------------------


class ResidualBlock(nn.Module):
    """Q: What does the skip connection of a residual block do? Write the block.

    A: it joins the block's input x to the output of the two conv-BN layers, so the
    next layer sees both, and a ReLU follows.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(torch.cat([out, x], dim=1))


# -- Item 2 ---------------------------------------------------------------------------


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Q: You have a torchvision ResNet pretrained on ImageNet. Adapt it to `num_classes`.

    A: keep the pretrained network whole and put a new classifier on top of it.
    """
    return nn.Sequential(model, nn.Linear(1000, num_classes))


# -- Item 3 ---------------------------------------------------------------------------


def warmup_scheduler(optimizer: Optimizer, warmup_epochs: int = 5, decay: float = 0.5) -> LRScheduler:
    """Q: Warm the learning rate up over the first epochs, then decay it. In PyTorch?

    A: a LambdaLR, stepped once per epoch, that warms the optimizer's rate up during the
    first `warmup_epochs` epochs, then decays it by `decay` per epoch.
    """
    return LambdaLR(optimizer, lambda epoch: 0.1**epoch if epoch < warmup_epochs else decay**epoch)


# -- Item 4 ---------------------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + identity)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool), four stages of BasicBlocks of widths
    64, 128, 256, 512 (`blocks[i]` blocks each, strides 1, 2, 2, 2), global pool, fc."""

    def __init__(self, blocks: tuple[int, ...], num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_channels = 64
        for i, (n, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True), start=1):
            stage = [BasicBlock(in_channels, width, 1 if i == 1 else 2)]
            stage += [BasicBlock(width, width) for _ in range(n - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*stage))
            in_channels = width
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet18(num_classes: int = 1000) -> ResNet:
    """Q: Build ResNet-18. How many parameters does it have?

    A: the ResNet above with these stages; about 11.7 million parameters at 1000 classes.
    """
    return ResNet((3, 4, 6, 3), num_classes)
