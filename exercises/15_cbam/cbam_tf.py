"""15_cbam (Keras 3). Statement: `resnet-kata start 15_cbam --framework tf`.

Implement CBAM (channel attention, then spatial attention) and a basic residual
block that uses it on its residual branch. Check with `resnet-kata check`.
"""

from keras import layers


class ChannelAttention(layers.Layer):
    def __init__(self, channels: int, reduction: int = 16, **kwargs):
        super().__init__(**kwargs)
        # TODO: create ONE shared MLP, named exactly:
        #   self.fc1: max(1, channels // reduction) units, with bias
        #   self.fc2: channels units, with bias
        # layers.Dense, or layers.Conv2D with kernel_size=1.

    def call(self, x, training=None):
        # TODO: average-pool AND max-pool over H and W, pass each through fc1-ReLU-fc2,
        # SUM the two, sigmoid: one gate per channel. Return x times the gate.
        # Input and output: (N, H, W, C).
        raise NotImplementedError("ChannelAttention.call")


class SpatialAttention(layers.Layer):
    def __init__(self, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        # TODO: self.conv: Conv2D with 1 filter, kernel_size x kernel_size,
        # padding="same", use_bias=False.

    def call(self, x, training=None):
        # TODO: mean and max ACROSS the channels -> (N, H, W, 2), channel 0 the mean,
        # channel 1 the max; conv, sigmoid: one gate per position. Return x times the gate.
        raise NotImplementedError("SpatialAttention.call")


class CBAM(layers.Layer):
    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        # TODO: self.channel = ChannelAttention(...), self.spatial = SpatialAttention(...)

    def call(self, x, training=None):
        # TODO: channel attention first, then spatial attention on its output.
        raise NotImplementedError("CBAM.call")


class CBAMBasicBlock(layers.Layer):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, reduction: int = 16,
                 **kwargs):
        super().__init__(**kwargs)
        # TODO: create, named exactly:
        #   self.conv1 (3x3, carries the stride), self.bn1, self.conv2 (3x3), self.bn2,
        #   self.cbam = CBAM(out_channels, reduction),
        #   self.downsample: keras.Sequential([1x1 Conv2D with the stride, BatchNormalization])
        #   when stride != 1 or in_channels != out_channels, else None.
        # Convs: padding="same", use_bias=False.

    def call(self, x, training=None):
        # TODO: conv1-bn1-ReLU-conv2-bn2, then cbam, then add the shortcut, then ReLU.
        # Input (N, H, W, in_channels); output (N, H', W', out_channels).
        # Pass training=training to every BatchNormalization (and to downsample).
        raise NotImplementedError("CBAMBasicBlock.call")
