"""12_batchnorm, Keras 3: BatchNorm from scratch, matching keras.layers.BatchNormalization."""

import keras
from keras import ops


class BatchNorm(keras.layers.Layer):
    """Batch normalisation over the last (channels) axis of (N, H, W, C).

    Training normalises with the batch statistics and moves the moving averages:
    new = momentum * old + (1 - momentum) * batch, the BIASED variance in both
    places (Keras' convention, opposite to PyTorch's). Inference uses the moving
    averages and changes nothing.
    """

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = momentum, epsilon

    def build(self, input_shape):
        c = (int(input_shape[-1]),)
        self.gamma = self.add_weight(shape=c, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=c, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=c, initializer="zeros", trainable=False,
                                           name="moving_mean")
        self.moving_variance = self.add_weight(shape=c, initializer="ones", trainable=False,
                                               name="moving_variance")

    def call(self, x, training=None):
        if training:
            axes = tuple(range(len(x.shape) - 1))  # all but channels
            mean = ops.mean(x, axis=axes)
            var = ops.mean(ops.square(x - mean), axis=axes)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + var * (1.0 - m))
        else:
            mean, var = self.moving_mean, self.moving_variance
        return (x - mean) / ops.sqrt(var + self.epsilon) * self.gamma + self.beta
