"""02_projection_shortcut (Keras 3). Statement: `resnet-kata start 02_projection_shortcut --framework tf`.

Implement the basic block with a stride and a channel change: when x no longer
fits the branch's output, a 1x1 conv and BN (`downsample`) project it.
Check with `resnet-kata check`.
"""

from keras import layers


class BasicBlock(layers.Layer):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        # TODO: create the layers, named exactly:
        #   self.conv1  3x3, out_channels filters, strides=stride, padding="same", use_bias=False
        #   self.bn1
        #   self.conv2  3x3, out_channels filters, stride 1, padding="same", use_bias=False
        #   self.bn2
        #   self.downsample  None, or keras.Sequential([1x1 Conv2D with strides=stride, BN]):
        #                    see the statement for when the projection is needed.

    def call(self, x, training=None):
        # TODO: residual branch, plus the shortcut (x, or downsample(x)), then ReLU.
        # Input (N, H, W, in_channels); output (N, H', W', out_channels).
        # Pass training=training to every BatchNormalization and to downsample.
        raise NotImplementedError("BasicBlock.call")
