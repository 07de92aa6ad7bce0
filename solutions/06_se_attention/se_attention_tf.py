"""06_se_attention, Keras 3: squeeze-and-excitation and the SE basic block (Hu et al. 2018)."""

import keras
from keras import layers


class SEBlock(layers.Layer):
    """Rescale each channel by a gate learned from the whole feature map.

    Input and output: (N, H, W, channels). Squeeze: global average pool to
    (N, channels). Excite: fc1 (channels -> max(1, channels // reduction)), ReLU,
    fc2 (back to channels), sigmoid: one gate in [0, 1] per channel and sample.
    """

    def __init__(self, channels: int, reduction: int = 16, **kwargs):
        super().__init__(**kwargs)
        hidden = max(1, channels // reduction)  # at least one unit when channels < reduction
        self.fc1 = layers.Dense(hidden)
        self.fc2 = layers.Dense(channels)

    def call(self, x, training=None):
        s = keras.ops.mean(x, axis=(1, 2))  # squeeze: (N, C)
        gate = keras.ops.sigmoid(self.fc2(keras.ops.relu(self.fc1(s))))  # excite: (N, C)
        return x * gate[:, None, None, :]  # the same gate at every position of a channel


class SEBasicBlock(layers.Layer):
    """The basic residual block with an SE module on its residual branch.

    Input (N, H, W, in_channels), output (N, ceil(H/stride), ceil(W/stride), out_channels).
    The SE rescales bn2's output before the shortcut is added, so the identity
    path stays untouched; `downsample` projects the shortcut when the shape changes.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, reduction: int = 16,
                 **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv2D(out_channels, 3, strides=stride, padding="same", use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.conv2 = layers.Conv2D(out_channels, 3, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization()
        self.se = SEBlock(out_channels, reduction)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = keras.Sequential([
                layers.Conv2D(out_channels, 1, strides=stride, use_bias=False),
                layers.BatchNormalization(),
            ])

    def call(self, x, training=None):
        identity = x if self.downsample is None else self.downsample(x, training=training)
        out = keras.ops.relu(self.bn1(self.conv1(x), training=training))
        out = self.bn2(self.conv2(out), training=training)
        out = self.se(out)  # on the branch: after bn2, before the add
        return keras.ops.relu(out + identity)
