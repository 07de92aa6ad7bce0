"""05_resnet1d_audio (Keras 3). Statement: `resnet-kata start 05_resnet1d_audio --framework tf`.

Build ResNet-18's layout over time for 1-D signals: (N, L, C) -> (N, num_classes).
Check with `resnet-kata check`.
"""

import keras


class BasicBlock1D(keras.layers.Layer):
    """(N, L, in_channels) -> (N, ceil(L / stride), out_channels)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        # TODO: conv1 (kernel 3, padding="same", carries the stride), bn1, conv2 (kernel 3), bn2,
        #   downsample: None, or keras.Sequential([Conv1D kernel 1 with the stride, BatchNormalization()]).
        #   Every size argument is one integer (kernel_size=3, not (3, 3)); use_bias=False.

    def call(self, x, training=None):
        raise NotImplementedError("BasicBlock1D.call")


class ResNet1D(keras.Model):
    """(N, L, in_channels) -> (N, num_classes) logits, for any L >= 64."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 layers: tuple[int, ...] = (2, 2, 2, 2), width: int = 32, **kwargs):
        super().__init__(**kwargs)
        # `layers` is the blocks per stage; use keras.layers.Conv1D etc. by their full name.
        # TODO: conv1 (kernel 7, stride 2, padding="same"), bn1, max pool (3, stride 2),
        #   layer1..layer4 (keras.Sequential of blocks; widths width * (1, 2, 4, 8), strides 1, 2, 2, 2),
        #   fc (Dense(num_classes)).

    def call(self, x, training=None):
        # TODO: stem, the four stages, the mean over time (axis 1), fc.
        # Pass training=training to every BatchNormalization and stage.
        raise NotImplementedError("ResNet1D.call")
