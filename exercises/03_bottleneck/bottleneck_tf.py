"""03_bottleneck (Keras 3). Statement: `resnet-kata start 03_bottleneck --framework tf`.

Implement the bottleneck block of ResNet-50/101/152: 1x1 reduce, 3x3 (with the
stride), 1x1 expand to 4 * width, plus the shortcut, then ReLU.
Check with `resnet-kata check`.
"""

from keras import layers


class Bottleneck(layers.Layer):
    # TODO: a class attribute `expansion`: output channels = expansion * width (see the statement).

    def __init__(self, in_channels: int, width: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        # TODO: create the layers, named exactly:
        #   self.conv1, self.bn1  1x1 Conv2D with `width` filters, use_bias=False; BN
        #   self.conv2, self.bn2  3x3 Conv2D, `width` filters, strides=stride, padding="same",
        #                         use_bias=False; BN
        #   self.conv3, self.bn3  1x1 Conv2D with expansion * width filters, use_bias=False; BN
        #   self.downsample       None, or keras.Sequential([1x1 Conv2D with strides=stride, BN]):
        #                         see the statement for when the projection is needed.

    def call(self, x, training=None):
        # TODO: the three convs (ReLU after bn1 and bn2), plus the shortcut, then ReLU.
        # Input (N, H, W, in_channels); output (N, H', W', expansion * width).
        # Pass training=training to every BatchNormalization and to downsample.
        raise NotImplementedError("Bottleneck.call")
