"""04_resnet (Keras 3). Statement: `resnet-kata start 04_resnet --framework tf`.

Build ResNet-18, -34 and -50, channels last, with torchvision's layer names and
parameter counts. Check with `resnet-kata check`.
"""

import keras
from keras import layers


class BasicBlock(layers.Layer):
    """ResNet-18/34 block: (N, H, W, in_channels) -> (N, H/stride, W/stride, out_channels)."""

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        # TODO: conv1 (3x3, carries the stride), bn1, conv2 (3x3), bn2, and downsample:
        #   None, or keras.Sequential([1x1 Conv2D with the stride, BatchNormalization()]).

    def call(self, x, training=None):
        raise NotImplementedError("BasicBlock.call")


class Bottleneck(layers.Layer):
    """ResNet-50 block: (N, H, W, in_channels) -> (N, H/stride, W/stride, 4*width)."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        # TODO: conv1 (1x1), bn1, conv2 (3x3, carries the stride), bn2, conv3 (1x1 to 4*width),
        #   bn3, and downsample as in BasicBlock.

    def call(self, x, training=None):
        raise NotImplementedError("Bottleneck.call")


class ResNet(keras.Model):
    """(N, H, W, in_channels) -> (N, num_classes) logits."""

    def __init__(self, block, layers_per_stage, num_classes: int = 1000, in_channels: int = 3,
                 width: int = 64, **kwargs):
        super().__init__(**kwargs)
        # TODO: conv1 (7x7, stride 2, padding="same"), bn1, max pool (3, stride 2),
        #   layer1..layer4 (keras.Sequential of blocks, first strides 1, 2, 2, 2), fc.

    def call(self, x, training=None):
        # Pass training=training to every BatchNormalization and stage.
        raise NotImplementedError("ResNet.call")


def resnet18(num_classes: int = 1000, in_channels: int = 3, width: int = 64) -> keras.Model:
    # TODO: basic blocks, (2, 2, 2, 2) per stage
    raise NotImplementedError("resnet18")


def resnet34(num_classes: int = 1000, in_channels: int = 3, width: int = 64) -> keras.Model:
    # TODO: basic blocks, (3, 4, 6, 3) per stage
    raise NotImplementedError("resnet34")


def resnet50(num_classes: int = 1000, in_channels: int = 3, width: int = 64) -> keras.Model:
    # TODO: bottleneck blocks, (3, 4, 6, 3) per stage
    raise NotImplementedError("resnet50")
