"""07_depthwise_separable (Keras 3). Statement: `resnet-kata start 07_depthwise_separable --framework tf`.

Implement a depthwise separable convolution block and the ratio of its cost to
a standard convolution's. Check with `resnet-kata check`.
"""

from keras import layers


class DepthwiseSeparableConv(layers.Layer):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        # TODO: create the four layers, named exactly:
        #   self.depthwise: 3x3, one filter per channel (DepthwiseConv2D, or
        #                   Conv2D(in_channels, 3, groups=in_channels)), carries the stride,
        #                   padding="same", use_bias=False
        #   self.bn1, self.pointwise (1x1 Conv2D to out_channels, use_bias=False), self.bn2

    def call(self, x, training=None):
        # TODO: depthwise - bn1 - ReLU - pointwise - bn2 - ReLU.
        # Input (N, H, W, in_channels); output (N, H', W', out_channels).
        # Pass training=training to every BatchNormalization call.
        raise NotImplementedError("DepthwiseSeparableConv.call")


def cost_ratio(in_channels: int, out_channels: int, k: int = 3) -> float:
    # TODO: mult-adds of a depthwise separable kxk conv (depthwise kxk + pointwise 1x1)
    # divided by those of a standard kxk conv with the same channels, as a float.
    raise NotImplementedError("cost_ratio")
