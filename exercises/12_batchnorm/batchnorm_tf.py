"""12_batchnorm (Keras 3). Statement: `resnet-kata start 12_batchnorm --framework tf`.

Write BatchNorm from scratch (no keras.layers.BatchNormalization, no
keras.ops.batch_normalization, no tf.nn.batch_normalization / fused_batch_norm).
Check with `resnet-kata check`.
"""

import keras
from keras import ops  # noqa: F401  (ops.mean, ops.square, ops.sqrt, ...)


class BatchNorm(keras.layers.Layer):
    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        # TODO: keep momentum and epsilon.
        raise NotImplementedError("BatchNorm.__init__")

    def build(self, input_shape):
        # TODO: C = input_shape[-1]; with self.add_weight(shape=(C,), ...) create
        #   self.gamma (ones) and self.beta (zeros), trainable;
        #   self.moving_mean (zeros) and self.moving_variance (ones), trainable=False.
        raise NotImplementedError("BatchNorm.build")

    def call(self, x, training=None):
        # TODO: x is (N, H, W, C).
        #   if training: mean and BIASED variance over all axes but the last; update
        #     moving = momentum * moving + (1 - momentum) * batch_stat   (both statistics)
        #   else: use moving_mean / moving_variance and change nothing.
        #   return gamma * (x - mean) / sqrt(var + epsilon) + beta
        raise NotImplementedError("BatchNorm.call")
