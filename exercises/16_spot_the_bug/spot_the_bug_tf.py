"""16_spot_the_bug (Keras 3). Statement: `resnet-kata start 16_spot_the_bug --framework tf`.

Four answers a candidate gave in an interview. Each runs, or at least imports, and
each is wrong. Every item's docstring gives the question and what the answer claims;
the statement says what the repaired code must do. Find the flaw and repair the code
in place, keeping the names and signatures. The grader checks each item on its own
(item1_shortcut ... item4_warmup). Check with `resnet-kata check`.
"""

import keras
from keras import layers, ops

# -- Item 1 ---------------------------------------------------------------------------


class ResidualBlock(layers.Layer):
    """Q: Write a Keras residual block that can also downsample.

    A: conv3x3 (carrying the stride) - BN - ReLU - conv3x3 - BN, add the shortcut, ReLU.
    When the block downsamples, the shortcut goes through `downsample`, a 1x1 conv and a
    BN that bring the input to the branch's shape; otherwise the input is added as is.
    """

    def __init__(self, filters: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.conv2 = layers.Conv2D(filters, 3, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization()
        if stride != 1:
            self.downsample = keras.Sequential([
                layers.Conv2D(filters, 1, strides=stride, use_bias=False),
                layers.BatchNormalization(),
            ])

    def call(self, x, training=None):
        out = ops.relu(self.bn1(self.conv1(x), training=training))
        out = self.bn2(self.conv2(out), training=training)
        shortcut = x
        if self.downsample is not None:
            shortcut = self.downsample(x, training=training)
        return ops.relu(out + shortcut)


# -- Item 2 ---------------------------------------------------------------------------


def audio_model(in_channels: int = 1, num_classes: int = 10) -> keras.Model:
    """Q: Sketch a small ResNet-style classifier for raw audio, input (batch, time, channels).

    A: a stem of 64 filters with kernel 3, BN and ReLU, a max pool of 2, one residual
    block of two such convolutions, global average pooling over time, and a Dense layer
    that returns logits.
    """
    inputs = keras.Input(shape=(None, in_channels))
    x = layers.Conv1D(64, (3, 3), strides=(1, 1), padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.MaxPooling1D(pool_size=(2, 2))(x)
    y = layers.Conv1D(64, (3, 3), padding="same", use_bias=False)(x)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.Conv1D(64, (3, 3), padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    x = layers.ReLU()(layers.Add()([x, y]))
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, layers.Dense(num_classes)(x))


# -- Item 3 ---------------------------------------------------------------------------


class ClipGradients(keras.callbacks.Callback):
    """Q: The loss explodes after a few batches. How do you clip gradients in Keras?

    A: this callback clips them to a global norm of `max_norm` after every batch.
    """

    def __init__(self, max_norm: float):
        super().__init__()
        self.max_norm = max_norm

    def on_train_batch_end(self, batch, logs=None):
        variables = self.model.trainable_variables
        norm = ops.sqrt(sum(ops.sum(ops.square(v)) for v in variables))
        scale = ops.minimum(1.0, self.max_norm / norm)
        for v in variables:
            v.assign(v * scale)


def fit_clipped(model, x, y, max_norm, learning_rate=0.01, epochs=1, batch_size=32):
    """A: train `model` (it returns logits) with plain SGD, clipping as above."""
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0,
                     callbacks=[ClipGradients(max_norm)])


# -- Item 4 ---------------------------------------------------------------------------


def warmup_schedule(base_lr, warmup_epochs=5, decay=0.5):
    """Q: Warm the learning rate up over the first epochs, then decay it. In Keras?

    A: pass the returned function to keras.callbacks.LearningRateScheduler: it warms the
    rate up during the first `warmup_epochs` epochs, then decays it by `decay` per epoch.
    """

    def schedule(epoch, lr):
        if epoch < warmup_epochs:
            return lr * 0.1  # warmup
        return lr * decay

    return schedule
