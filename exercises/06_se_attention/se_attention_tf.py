"""06_se_attention (Keras 3). Statement: `resnet-kata start 06_se_attention --framework tf`.

Implement a squeeze-and-excitation module and a basic residual block that
uses it on its residual branch. Check with `resnet-kata check`.
"""

from keras import layers


class SEBlock(layers.Layer):
    def __init__(self, channels: int, reduction: int = 16, **kwargs):
        super().__init__(**kwargs)
        # TODO: create the two layers of the excitation, named exactly:
        #   self.fc1: max(1, channels // reduction) units, with bias
        #   self.fc2: channels units, with bias
        # layers.Dense, or layers.Conv2D with kernel_size=1.

    def call(self, x, training=None):
        # TODO: squeeze (global average over H and W), fc1, ReLU, fc2, sigmoid,
        # then multiply x by the gate, one value per channel.
        # Input and output: (N, H, W, C).
        raise NotImplementedError("SEBlock.call")


class SEBasicBlock(layers.Layer):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, reduction: int = 16,
                 **kwargs):
        super().__init__(**kwargs)
        # TODO: create, named exactly:
        #   self.conv1 (3x3, carries the stride), self.bn1, self.conv2 (3x3), self.bn2,
        #   self.se = SEBlock(out_channels, reduction),
        #   self.downsample: keras.Sequential([1x1 Conv2D with the stride, BatchNormalization])
        #   when stride != 1 or in_channels != out_channels, else None.
        # Convs: padding="same", use_bias=False.

    def call(self, x, training=None):
        # TODO: conv1-bn1-ReLU-conv2-bn2, then se, then add the shortcut, then ReLU.
        # Input (N, H, W, in_channels); output (N, H', W', out_channels).
        # Pass training=training to every BatchNormalization (and to downsample).
        raise NotImplementedError("SEBasicBlock.call")
