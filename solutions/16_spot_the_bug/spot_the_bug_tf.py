"""16_spot_the_bug, Keras 3: the four answers, repaired."""

import keras
from keras import layers, ops

# -- Item 1 ---------------------------------------------------------------------------


class ResidualBlock(layers.Layer):
    """conv3x3 (stride) - BN - ReLU - conv3x3 - BN, plus the shortcut, then ReLU.

    Input (N, H, W, C_in), output (N, ceil(H / stride), ceil(W / stride), filters).
    `downsample` exists in every block: None when x fits the branch's output, else a
    1x1 conv + BN. The input's channel count is known only in build(), so the choice
    is made there: a channel change at stride 1 needs the projection too.
    """

    def __init__(self, filters: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.stride = filters, stride
        self.conv1 = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.conv2 = layers.Conv2D(filters, 3, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization()
        self.downsample = None

    def build(self, input_shape):
        if self.stride != 1 or input_shape[-1] != self.filters:
            self.downsample = keras.Sequential([
                layers.Conv2D(self.filters, 1, strides=self.stride, use_bias=False),
                layers.BatchNormalization(),
            ])

    def call(self, x, training=None):
        out = ops.relu(self.bn1(self.conv1(x), training=training))
        out = self.bn2(self.conv2(out), training=training)
        shortcut = x if self.downsample is None else self.downsample(x, training=training)
        return ops.relu(out + shortcut)


# -- Item 2 ---------------------------------------------------------------------------


def audio_model(in_channels: int = 1, num_classes: int = 10) -> keras.Model:
    """(N, L, in_channels) -> (N, num_classes) logits. A clip has one axis, time, so every
    size is a single integer: Conv1D(64, 3), MaxPooling1D(2)."""
    inputs = keras.Input(shape=(None, in_channels))
    x = layers.Conv1D(64, 3, padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.MaxPooling1D(pool_size=2)(x)
    y = layers.Conv1D(64, 3, padding="same", use_bias=False)(x)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.Conv1D(64, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    x = layers.ReLU()(layers.Add()([x, y]))
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, layers.Dense(num_classes)(x))


# -- Item 3 ---------------------------------------------------------------------------


def fit_clipped(model, x, y, max_norm, learning_rate=0.01, epochs=1, batch_size=32):
    """Train `model` (logits) with SGD on gradients clipped to a global norm of max_norm.

    Clipping must sit between the gradient and the update; a callback runs after the
    update and never sees the gradients, so the optimizer does it (global_clipnorm).
    """
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate, global_clipnorm=max_norm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)


# -- Item 4 ---------------------------------------------------------------------------


def warmup_schedule(base_lr, warmup_epochs=5, decay=0.5):
    """The function for keras.callbacks.LearningRateScheduler: the rate rises linearly to
    base_lr at epoch warmup_epochs - 1, then is multiplied by `decay` every epoch.

    It is computed from the epoch alone, never from the `lr` it is handed: multiplying
    that by 0.1 every epoch compounds into an exponential decay, not a warmup.
    """

    def schedule(epoch, lr):
        return float(base_lr * min((epoch + 1) / warmup_epochs, decay ** (epoch + 1 - warmup_epochs)))

    return schedule
