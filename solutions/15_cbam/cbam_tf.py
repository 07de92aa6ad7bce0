"""15_cbam, Keras 3: channel then spatial attention (CBAM, Woo et al. 2018) in a basic block."""

import keras
from keras import layers, ops


class ChannelAttention(layers.Layer):
    """Rescale each channel by a gate computed from its average AND its maximum.

    Input and output: (N, H, W, channels). Both pooled descriptors, (N, channels),
    go through the same MLP (fc1: max(1, channels // reduction) units, ReLU, fc2:
    channels units); the two outputs are summed, then one sigmoid.
    """

    def __init__(self, channels: int, reduction: int = 16, **kwargs):
        super().__init__(**kwargs)
        hidden = max(1, channels // reduction)  # at least one unit when channels < reduction
        self.fc1 = layers.Dense(hidden)
        self.fc2 = layers.Dense(channels)

    def mlp(self, s):
        return self.fc2(ops.relu(self.fc1(s)))

    def call(self, x, training=None):
        avg, mx = ops.mean(x, axis=(1, 2)), ops.max(x, axis=(1, 2))  # (N, C) each
        gate = ops.sigmoid(self.mlp(avg) + self.mlp(mx))  # one shared MLP, summed, then sigmoid
        return x * gate[:, None, None, :]


class SpatialAttention(layers.Layer):
    """Rescale each position by a gate computed across the channels.

    Input and output: (N, H, W, C). The channel-wise mean and max, concatenated in
    that order to (N, H, W, 2), go through a kxk conv (1 filter, padding "same",
    no bias) and a sigmoid: one gate per position, shared by all channels.
    """

    def __init__(self, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(1, kernel_size, padding="same", use_bias=False)

    def call(self, x, training=None):
        pooled = ops.concatenate(
            [ops.mean(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)], axis=-1)
        return x * ops.sigmoid(self.conv(pooled))  # (N, H, W, 1) broadcasts over channels


class CBAM(layers.Layer):
    """Channel attention, then spatial attention on its output (the paper's best order)."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_size)

    def call(self, x, training=None):
        return self.spatial(self.channel(x))


class CBAMBasicBlock(layers.Layer):
    """The basic residual block with CBAM on its residual branch.

    Input (N, H, W, in_channels), output (N, ceil(H/stride), ceil(W/stride), out_channels).
    CBAM refines bn2's output before the shortcut is added; the identity path stays clean.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, reduction: int = 16,
                 **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv2D(out_channels, 3, strides=stride, padding="same", use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.conv2 = layers.Conv2D(out_channels, 3, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization()
        self.cbam = CBAM(out_channels, reduction)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = keras.Sequential([
                layers.Conv2D(out_channels, 1, strides=stride, use_bias=False),
                layers.BatchNormalization(),
            ])

    def call(self, x, training=None):
        identity = x if self.downsample is None else self.downsample(x, training=training)
        out = ops.relu(self.bn1(self.conv1(x), training=training))
        out = self.bn2(self.conv2(out), training=training)
        out = self.cbam(out)  # on the branch: after bn2, before the add
        return ops.relu(out + identity)
