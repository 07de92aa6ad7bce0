"""01_residual_block, Keras 3: the basic residual block of ResNet-18/34."""

import keras
from keras import layers


class BasicBlock(layers.Layer):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the input, then ReLU.

    Input and output: (N, H, W, channels), channels last. Stride 1, so the
    identity shortcut fits without a projection and adds no parameters.
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        # no conv bias: the BatchNorm after each conv has its own shift (beta)
        self.conv1 = layers.Conv2D(channels, 3, padding="same", use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.conv2 = layers.Conv2D(channels, 3, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization()

    def call(self, x, training=None):
        out = keras.ops.relu(self.bn1(self.conv1(x), training=training))
        out = self.bn2(self.conv2(out), training=training)
        return keras.ops.relu(out + x)  # add first, then the ReLU
