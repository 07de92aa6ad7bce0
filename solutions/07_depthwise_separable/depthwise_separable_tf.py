"""07_depthwise_separable, Keras 3: the depthwise separable conv of MobileNet v1 / Xception."""

import keras
from keras import layers


class DepthwiseSeparableConv(layers.Layer):
    """A 3x3 conv factored into a per-channel 3x3 and a 1x1 that mixes channels.

    Input (N, H, W, in_channels), output (N, ceil(H/stride), ceil(W/stride), out_channels).
    depthwise 3x3 (one filter per channel, carries the stride) - bn1 - ReLU -
    pointwise 1x1 - bn2 - ReLU. The depthwise kernel has shape (3, 3, in, 1).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        # in_channels is fixed by the first call; the depthwise conv keeps it
        self.depthwise = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.pointwise = layers.Conv2D(out_channels, 1, use_bias=False)
        self.bn2 = layers.BatchNormalization()

    def call(self, x, training=None):
        out = keras.ops.relu(self.bn1(self.depthwise(x), training=training))
        return keras.ops.relu(self.bn2(self.pointwise(out), training=training))


def cost_ratio(in_channels: int, out_channels: int, k: int = 3) -> float:
    """Mult-adds of a depthwise separable kxk conv over those of a standard kxk conv.

    Per output position: standard k·k·in·out; separable k·k·in (depthwise) plus
    in·out (pointwise). The ratio, 1/out + 1/k², does not depend on in_channels.
    """
    return (k * k * in_channels + in_channels * out_channels) / (k * k * in_channels * out_channels)
