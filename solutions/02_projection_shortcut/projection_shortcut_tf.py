"""02_projection_shortcut, Keras 3: the basic block with a projection shortcut."""

import keras
from keras import layers


class BasicBlock(layers.Layer):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU.

    Input (N, H, W, in_channels); output (N, ceil(H / stride), ceil(W / stride),
    out_channels), channels last. conv1 carries the stride. When the branch
    changes x's shape (stride != 1 or a channel change), x cannot be added as it
    is: a strided 1x1 conv and BN (`downsample`) bring it to the branch's shape.
    Otherwise the shortcut is x itself and adds no parameters.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        # no conv bias: the BatchNorm after each conv has its own shift (beta)
        self.conv1 = layers.Conv2D(out_channels, 3, strides=stride, padding="same", use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.conv2 = layers.Conv2D(out_channels, 3, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization()
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
        return keras.ops.relu(out + identity)  # add first, then the ReLU
