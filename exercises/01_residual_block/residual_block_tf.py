"""01_residual_block (Keras 3). Statement: `resnet-kata start 01_residual_block --framework tf`.

Implement the basic residual block: conv3x3 -> BN -> ReLU -> conv3x3 -> BN,
add the block's input, then ReLU. Check with `resnet-kata check`.
"""

from keras import layers


class BasicBlock(layers.Layer):
    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        # TODO: create the four layers, named exactly:
        #   self.conv1, self.bn1, self.conv2, self.bn2
        # Both convs: 3x3, `channels` filters, stride 1, padding="same", use_bias=False.

    def call(self, x, training=None):
        # TODO: residual branch, then add x, then ReLU. Input and output: (N, H, W, C).
        # Pass training=training to every BatchNormalization call.
        raise NotImplementedError("BasicBlock.call")
