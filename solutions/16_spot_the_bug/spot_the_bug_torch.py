"""16_spot_the_bug, PyTorch: the four answers, repaired."""

import torch
from torch import nn
from torch.nn import functional as F
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

# -- Item 1 ---------------------------------------------------------------------------


class ResidualBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the input, then ReLU: (N, C, H, W) -> (N, C, H, W).

    The skip connection adds x (y = F(x) + x): the shape stays, no parameters are added,
    and the gradient reaches x unchanged. Concatenating is DenseNet's connection.
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
        return F.relu(out + x)


# -- Item 2 ---------------------------------------------------------------------------


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the 1000-way `fc` for a new Linear on the same pooled features; the rest of
    the model and its state_dict keys stay, so pretrained weights still load by name."""
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


# -- Item 3 ---------------------------------------------------------------------------


def warmup_scheduler(optimizer: Optimizer, warmup_epochs: int = 5, decay: float = 0.5) -> LRScheduler:
    """LambdaLR stepped once per epoch: the factor rises linearly to 1 at epoch
    warmup_epochs - 1, then is multiplied by `decay` every epoch."""

    def factor(epoch: int) -> float:
        return min((epoch + 1) / warmup_epochs, decay ** (epoch + 1 - warmup_epochs))

    return LambdaLR(optimizer, factor)


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
    """Two basic blocks per stage: 1 stem conv + 2 x 8 3x3 convs + fc = 18 weighted
    layers, 11,689,512 parameters at 1000 classes. (3, 4, 6, 3) is ResNet-34."""
    return ResNet((2, 2, 2, 2), num_classes)
