"""14_gradient_flow (TensorFlow/Keras 3). Statement: `resnet-kata start 14_gradient_flow`.

Build a deep plain MLP and a residual one, measure each hidden layer's gradient norm,
and see the plain net's first layers starve. Check with `resnet-kata check`.
"""

import keras
import tensorflow as tf


def make_plain(depth: int, width: int, in_features: int, num_classes: int) -> keras.Model:
    # TODO: a keras.Model with
    #   - `stem`:   Dense(width)
    #   - `hidden`: a list of `depth` blocks (keras.layers.Layer); each has `.linear` = Dense(width)
    #               and computes tanh(linear(x))  (plain: NO skip)
    #   - `head`:   Dense(num_classes)
    #   call: head(hidden[depth-1](...hidden[0](stem(x)))), logits.
    #   EVERY Dense gets kernel_initializer AND bias_initializer =
    #   keras.initializers.VarianceScaling(1/3, "fan_in", "uniform")  (PyTorch's default).
    raise NotImplementedError("make_plain")


def make_residual(depth: int, width: int, in_features: int, num_classes: int) -> keras.Model:
    # TODO: the same, but each block computes x + tanh(linear(x)).
    raise NotImplementedError("make_residual")


def layer_grad_norms(model: keras.Model, x: tf.Tensor, y: tf.Tensor) -> list[float]:
    # TODO: in a tf.GradientTape, the MEAN sparse categorical cross-entropy of the logits
    #   (from_logits=True); return [L2 norm of the gradient of model.hidden[i].linear.kernel
    #   for i in order]. Leave the weights unchanged.
    raise NotImplementedError("layer_grad_norms")


def starvation_ratio(norms: list[float]) -> float:
    # TODO: the last hidden layer's norm divided by the first's.
    raise NotImplementedError("starvation_ratio")
