"""05_resnet1d_audio, Keras 3: a ResNet over time for 1-D signals, channels last."""

from __future__ import annotations

import keras
from keras.layers import BatchNormalization, Conv1D, MaxPooling1D


class BasicBlock1D(keras.layers.Layer):
    """Two kernel-3 convs over time. (N, L, in) -> (N, ceil(L / stride), out)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = Conv1D(out_channels, 3, strides=stride, padding="same", use_bias=False)
        self.bn1 = BatchNormalization()
        self.conv2 = Conv1D(out_channels, 3, padding="same", use_bias=False)
        self.bn2 = BatchNormalization()
        self.downsample = None
        if stride != 1 or in_channels != out_channels:  # the shortcut must change shape too
            self.downsample = keras.Sequential([
                Conv1D(out_channels, 1, strides=stride, use_bias=False),
                BatchNormalization(),
            ])

    def call(self, x, training=None):
        identity = x if self.downsample is None else self.downsample(x, training=training)
        out = keras.ops.relu(self.bn1(self.conv1(x), training=training))
        out = self.bn2(self.conv2(out), training=training)
        return keras.ops.relu(out + identity)


class ResNet1D(keras.Model):
    """(N, L, in_channels) -> (N, num_classes) logits, for any length L >= 64.

    Keras creates the weights on the first call, for that input's channel count.
    The global average over time (axis 1) makes the head independent of L.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 layers: tuple[int, ...] = (2, 2, 2, 2), width: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = Conv1D(width, 7, strides=2, padding="same", use_bias=False)
        self.bn1 = BatchNormalization()
        self.maxpool = MaxPooling1D(3, strides=2, padding="same")
        channels = width
        for i, (blocks, stride) in enumerate(zip(layers, (1, 2, 2, 2), strict=True)):
            out_channels = width * 2**i
            stage = []
            for j in range(blocks):
                stage.append(BasicBlock1D(channels, out_channels, stride if j == 0 else 1))
                channels = out_channels
            setattr(self, f"layer{i + 1}", keras.Sequential(stage))
        self.fc = keras.layers.Dense(num_classes)

    def call(self, x, training=None):
        x = keras.ops.relu(self.bn1(self.conv1(x), training=training))
        x = self.maxpool(x)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x, training=training)
        return self.fc(keras.ops.mean(x, axis=1))  # average over time (axis 1), not channels
