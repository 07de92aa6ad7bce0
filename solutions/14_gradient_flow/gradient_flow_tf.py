"""14_gradient_flow, TensorFlow/Keras 3: per-layer gradient norms of a deep plain MLP and a
residual one."""

import keras
import tensorflow as tf


def torch_init() -> keras.initializers.Initializer:
    """PyTorch's nn.Linear default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for kernels and biases.

    Keras' default (Glorot-uniform kernels, zero biases) hides the effect: see the statement.
    """
    return keras.initializers.VarianceScaling(scale=1 / 3, mode="fan_in", distribution="uniform")


def dense(units: int) -> keras.layers.Dense:
    return keras.layers.Dense(units, kernel_initializer=torch_init(), bias_initializer=torch_init())


class Block(keras.layers.Layer):
    """One hidden layer: tanh(linear(x)), plus x itself when `residual`."""

    def __init__(self, width: int, residual: bool, **kwargs):
        super().__init__(**kwargs)
        self.linear = dense(width)
        self.residual = residual

    def call(self, x):
        out = keras.ops.tanh(self.linear(x))
        return x + out if self.residual else out  # y = x + F(x): the skip adds, it has no weights


class MLP(keras.Model):
    """stem (in -> width), `depth` hidden blocks (width -> width), head (width -> classes)."""

    def __init__(self, depth: int, width: int, in_features: int, num_classes: int, residual: bool):
        super().__init__()
        self.in_features = in_features
        self.stem = dense(width)
        self.hidden = [Block(width, residual) for _ in range(depth)]
        self.head = dense(num_classes)

    def call(self, x, training=False):
        x = self.stem(x)
        for block in self.hidden:
            x = block(x)
        return self.head(x)  # logits


def make_plain(depth: int, width: int, in_features: int, num_classes: int) -> keras.Model:
    return MLP(depth, width, in_features, num_classes, residual=False)


def make_residual(depth: int, width: int, in_features: int, num_classes: int) -> keras.Model:
    return MLP(depth, width, in_features, num_classes, residual=True)


def layer_grad_norms(model: keras.Model, x, y) -> list[float]:
    """L2 norm of d(mean cross-entropy)/d(kernel) for each hidden layer, first layer first."""
    with tf.GradientTape() as tape:
        logits = model(x, training=False)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
    grads = tape.gradient(loss, [block.linear.kernel for block in model.hidden])
    return [float(tf.norm(g)) for g in grads]


def starvation_ratio(norms: list[float]) -> float:
    """Last hidden layer's gradient norm over the first's: large when the early layers starve."""
    return float(norms[-1] / norms[0])
