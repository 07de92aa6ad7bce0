"""04_resnet, Keras 3: ResNet-18/34/50, channels last, with torchvision's layer names."""

from __future__ import annotations

import keras
from keras import layers


def _projection(in_channels: int, out_channels: int, stride: int) -> keras.Sequential | None:
    """1x1 conv + BN on the shortcut, only where the block changes the shape."""
    if stride == 1 and in_channels == out_channels:
        return None
    return keras.Sequential([
        layers.Conv2D(out_channels, 1, strides=stride, use_bias=False),
        layers.BatchNormalization(),
    ])


class BasicBlock(layers.Layer):
    """Two 3x3 convs (ResNet-18/34). (N, H, W, in) -> (N, H/stride, W/stride, out)."""

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv2D(out_channels, 3, strides=stride, padding="same", use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.conv2 = layers.Conv2D(out_channels, 3, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization()
        self.downsample = _projection(in_channels, out_channels, stride)

    def call(self, x, training=None):
        identity = x if self.downsample is None else self.downsample(x, training=training)
        out = keras.ops.relu(self.bn1(self.conv1(x), training=training))
        out = self.bn2(self.conv2(out), training=training)
        return keras.ops.relu(out + identity)


class Bottleneck(layers.Layer):
    """1x1 reduce, 3x3, 1x1 expand (ResNet-50). (N, H, W, in) -> (N, H/s, W/s, 4*width).

    The stride sits on the 3x3 conv2 (torchvision's "v1.5"); keras.applications
    puts it on conv1, as the original paper did.
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        out_channels = width * self.expansion
        self.conv1 = layers.Conv2D(width, 1, use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.conv2 = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization()
        self.conv3 = layers.Conv2D(out_channels, 1, use_bias=False)
        self.bn3 = layers.BatchNormalization()
        self.downsample = _projection(in_channels, out_channels, stride)

    def call(self, x, training=None):
        identity = x if self.downsample is None else self.downsample(x, training=training)
        out = keras.ops.relu(self.bn1(self.conv1(x), training=training))
        out = keras.ops.relu(self.bn2(self.conv2(out), training=training))
        out = self.bn3(self.conv3(out), training=training)
        return keras.ops.relu(out + identity)


class ResNet(keras.Model):
    """Stem, four stages, global average pool, fc. (N, H, W, in_channels) -> (N, num_classes).

    Keras creates the weights on the first call, for that input's channel count.
    At 224x224 the stages output 56, 28, 14 and 7 pixels a side.
    """

    def __init__(self, block: type[BasicBlock | Bottleneck], layers_per_stage: tuple[int, ...],
                 num_classes: int = 1000, in_channels: int = 3, width: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.in_channels = in_channels
        self.conv1 = layers.Conv2D(width, 7, strides=2, padding="same", use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.maxpool = layers.MaxPooling2D(3, strides=2, padding="same")
        channels = width
        for i, (blocks, stride) in enumerate(zip(layers_per_stage, (1, 2, 2, 2), strict=True)):
            planes = width * 2**i
            stage = []
            for j in range(blocks):
                stage.append(block(channels, planes, stride if j == 0 else 1))
                channels = planes * block.expansion
            setattr(self, f"layer{i + 1}", keras.Sequential(stage))
        self.avgpool = layers.GlobalAveragePooling2D()
        self.fc = layers.Dense(num_classes)

    def call(self, x, training=None):
        x = keras.ops.relu(self.bn1(self.conv1(x), training=training))
        x = self.maxpool(x)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x, training=training)
        return self.fc(self.avgpool(x))  # logits: no softmax


def resnet18(num_classes: int = 1000, in_channels: int = 3, width: int = 64) -> ResNet:
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, width)


def resnet34(num_classes: int = 1000, in_channels: int = 3, width: int = 64) -> ResNet:
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels, width)


def resnet50(num_classes: int = 1000, in_channels: int = 3, width: int = 64) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, width)
