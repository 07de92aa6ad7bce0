"""03_bottleneck, Keras 3: the bottleneck block of ResNet-50/101/152 (torchvision v1.5)."""

import keras
from keras import layers


class Bottleneck(layers.Layer):
    """1x1 reduce, 3x3, 1x1 expand (each conv then BN), plus the shortcut, then ReLU.

    Input (N, H, W, in_channels); output (N, ceil(H / stride), ceil(W / stride),
    4 * width), channels last. The stride sits on the 3x3 conv2, as in
    torchvision ("ResNet v1.5"); keras.applications strides the first 1x1 (v1),
    which skips 3 of every 4 input positions. The shortcut projects x (strided
    1x1 conv + BN) exactly when the branch changes its shape.
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        out_channels = width * self.expansion
        # no conv bias: the BatchNorm after each conv has its own shift (beta)
        self.conv1 = layers.Conv2D(width, 1, use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.conv2 = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization()
        self.conv3 = layers.Conv2D(out_channels, 1, use_bias=False)
        self.bn3 = layers.BatchNormalization()
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = keras.Sequential([
                layers.Conv2D(out_channels, 1, strides=stride, use_bias=False),
                layers.BatchNormalization(),
            ])

    def call(self, x, training=None):
        identity = x if self.downsample is None else self.downsample(x, training=training)
        out = keras.ops.relu(self.bn1(self.conv1(x), training=training))
        out = keras.ops.relu(self.bn2(self.conv2(out), training=training))
        out = self.bn3(self.conv3(out), training=training)
        return keras.ops.relu(out + identity)  # add first, then the ReLU
