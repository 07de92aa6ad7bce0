"""The framework drivers of 11_train_loop: the grader's model with its probe, generators, tensors.

The checks are written once; `Torch` and `Keras` only build the model, the probe in
front of its first layer and the random generators. Each imports its framework when used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from resnet_kata.checks import Context

COUNTS = ("train", "train_border", "eval", "eval_border")


def _weights(n: int) -> np.ndarray:
    """Fixed weights of a fingerprint: a sum of an image's pixels, each weighted."""
    return np.random.default_rng(0).normal(0.0, 1.0, n).astype(np.float32)


def _zero_border(x: np.ndarray, h_axis: int) -> int:
    """The widest band of all-zero rows or columns along an image's edge, over a batch
    (a crop from a zero-padded image: at most the padding)."""
    w_axis = h_axis + 1
    zero = x == 0
    rows = zero.all(axis=tuple(a for a in range(1, x.ndim) if a != h_axis))  # (N, H)
    cols = zero.all(axis=tuple(a for a in range(1, x.ndim) if a != w_axis))  # (N, W)
    widest = 0
    for lines in (rows, rows[:, ::-1], cols, cols[:, ::-1]):
        widest = max(widest, int(np.cumprod(lines, axis=1).sum(axis=1).max(initial=0)))
    return widest


def _keras_zero_border(x: Any) -> Any:
    """`_zero_border` in Keras ops, for a channels-last batch inside a traced step."""
    from keras import ops

    zero = ops.cast(ops.equal(x, 0.0), "float32")
    rows = ops.min(zero, axis=(2, 3))  # (N, H): 1 where the whole row is 0
    cols = ops.min(zero, axis=(1, 3))  # (N, W)
    widest = [ops.max(ops.sum(ops.cumprod(lines, axis=1), axis=1))
              for lines in (rows, ops.flip(rows, 1), cols, ops.flip(cols, 1))]
    return ops.max(ops.stack(widest))


def _unit_gradient(w: Any) -> Any:
    """w itself, whose gradient is 1 whatever flows back (TensorFlow's custom gradient)."""
    import tensorflow as tf

    @tf.custom_gradient
    def unit(v: Any) -> Any:
        return tf.identity(v), lambda upstream: tf.ones_like(v)

    return unit(tf.convert_to_tensor(w))  # a tensor read of the variable: its gradient is 1 too


class Torch:
    generator_words = "a `torch.Generator` (`torch.rand(..., generator=generator)`)"
    eval_words = "`model.eval()`"
    train_words = "`model.train()`"

    def __init__(self, A: Any):
        self.A = A
        self.trace: dict[str, list[Any]] = {}

    def generator(self, seed: int) -> Any:
        import torch

        return torch.Generator().manual_seed(seed)

    def tensor(self, x: np.ndarray) -> Any:
        import torch

        return torch.tensor(x, dtype=torch.float32)  # a copy: x stays the reference

    def model(self, ctx: Context, counts: dict[str, int], total: int) -> Any:
        import torch
        from torch import nn

        model = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 4),
        )

        trace: dict[str, list[Any]] = {"fingerprint": [], "crop": [], "batch": []}
        self.trace = trace
        weights = None

        def probe(module: Any, args: tuple[Any, ...]) -> None:
            nonlocal weights
            x = args[0]
            mode = "train" if module.training else "eval"
            with torch.no_grad():
                z = x == 0  # an image cut off-centre has an outer row or column of zeros
                lines = (z[:, :, 0], z[:, :, -1], z[:, :, :, 0], z[:, :, :, -1])
                border = int(torch.stack([t.flatten(1).all(1) for t in lines]).any(0).sum())
                if mode == "train":
                    if weights is None:
                        weights = torch.from_numpy(_weights(x[0].numel()))
                    trace["fingerprint"].append((x.flatten(1).float() @ weights).numpy())
                    trace["crop"].append(_crop_code(z.all(1).numpy()))
                    trace["batch"].append(np.full(len(x), len(trace["batch"])))
            counts[mode] += int(x.shape[0])
            counts[mode + "_border"] += border
            if mode == "train":
                ctx.progress(step=min(counts["train"], total), total=total)

        model.register_forward_pre_hook(probe)
        return model

    def scripted(self, table: np.ndarray) -> Any:
        """A model whose validation loss the grader scripts: see `scripted_model`."""
        import torch
        from torch import nn

        class Scripted(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.head = nn.Linear(3, 4)  # something for Adam to train
                # the epoch the weights come from, set by the model itself (its gradient is
                # exactly 0, so Adam leaves it), and the same count as a buffer
                self.marker = nn.Parameter(torch.zeros(()))
                self.register_buffer("epoch", torch.zeros(()))
                self.register_buffer("evaluated", torch.ones(()))
                self.z = torch.tensor(table, dtype=torch.float32)
                # its gradient is made 1 at every step, so each Adam step moves it by -lr
                self.stepper = nn.Parameter(torch.zeros(()))
                self.stepper.register_hook(torch.ones_like)
                self.largest, self.border = 0, 0  # the largest training batch, zero border

            def forward(self, x: Any) -> Any:
                if self.training:
                    with torch.no_grad():
                        self.epoch += self.evaluated  # a new epoch after each evaluation
                        self.evaluated.zero_()
                        self.marker.copy_(self.epoch)
                        self.largest = max(self.largest, int(x.shape[0]))
                        self.border = max(self.border, _zero_border(x.numpy(), 2))
                    # zeros, whatever the batch: every training batch's loss is ln 4, and
                    # the zero gradient leaves the head where it is
                    return 0.0 * (self.head(x.mean((2, 3))) + self.marker + self.stepper)
                with torch.no_grad():
                    self.evaluated.fill_(1.0)
                    k = int(torch.clamp(self.marker.round(), 0, len(self.z) - 1))
                    logits = torch.zeros(x.shape[0], 4)
                    logits[:, 0] = self.z[k]
                return logits

        return Scripted()

    def epochs_held(self, model: Any) -> tuple[int, int]:
        """(the epoch the scripted model's parameters come from, that of its buffers)."""
        return int(round(float(model.marker.detach()))), int(round(float(model.epoch)))

    def defaults_seen(self, model: Any) -> tuple[int, int, float]:
        """What a scripted run with fit's defaults showed: the largest training batch, the
        widest zero border of a training image, and where the Adam probe ended."""
        return model.largest, model.border, float(model.stepper.detach())

    def read_trace(self) -> dict[str, np.ndarray]:
        t = self.trace
        return {k: np.concatenate(v) if v else np.zeros(0) for k, v in t.items()}

    def data(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        import torch

        return self.tensor(x), torch.from_numpy(y.astype(np.int64))

    def evaluate(self, model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        import torch
        from torch.nn import functional as F

        model.eval()
        with torch.no_grad():
            logits = model(self.tensor(x))
            loss = float(F.cross_entropy(logits, torch.from_numpy(y.astype(np.int64))))
        return loss, float((logits.argmax(1).numpy() == y).mean())


class Keras:
    generator_words = ("a `keras.random.SeedGenerator` (`keras.random.uniform(..., "
                       "seed=seed)`)")
    eval_words = "`training=False`"
    train_words = "`training=True`"

    def __init__(self, A: Any):
        self.A = A

    def generator(self, seed: int) -> Any:
        import keras

        return keras.random.SeedGenerator(seed)

    def tensor(self, x: np.ndarray) -> Any:
        return self.A.tensor(x)

    def model(self, ctx: Context, counts: dict[str, int], total: int) -> Any:
        import keras
        import tensorflow as tf
        from keras import layers

        # Plain tf.Variables in a closure: outside model.weights, so a learner's
        # get_weights()/set_weights() never touches them, and they count inside
        # traced functions too.
        live = {k: tf.Variable(0, dtype=tf.int64, trainable=False) for k in COUNTS}
        # per training image: a fingerprint, the crop's zero border, the batch it came in
        size = 2 * total + 1
        log = {"fingerprint": tf.Variable(tf.zeros(size)), "crop": tf.Variable(tf.zeros(size, tf.int64)),
               "batch": tf.Variable(tf.zeros(size, tf.int64))}
        batches = tf.Variable(0, dtype=tf.int64, trainable=False)
        weights = tf.constant(_weights(16 * 16 * 3))

        def probe(x: Any, training: Any = None) -> Any:
            mode = "train" if training else "eval"
            n = tf.cast(tf.shape(x)[0], tf.int64)
            z = tf.equal(x, 0.0)  # an image cut off-centre has an outer row or column of zeros
            lines = [z[:, 0], z[:, -1], z[:, :, 0], z[:, :, -1]]
            off_centre = tf.reduce_any(tf.stack([tf.reduce_all(t, axis=[1, 2]) for t in lines]), 0)
            border = tf.reduce_sum(tf.cast(off_centre, tf.int64))
            if training:
                start = live["train"].read_value()
                at = tf.minimum(start + tf.range(n), size - 1)[:, None]
                flat = tf.reshape(tf.cast(x, tf.float32), (-1, 16 * 16 * 3))
                rows = tf.reduce_all(z, axis=[2, 3])  # (n, H): all-zero rows
                cols = tf.reduce_all(z, axis=[1, 3])  # (n, W): all-zero columns
                log["fingerprint"].scatter_nd_update(at, tf.linalg.matvec(flat, weights))
                log["crop"].scatter_nd_update(at, _crop_code_tf(rows, cols))
                log["batch"].scatter_nd_update(at, tf.fill([n], batches.read_value()))
                batches.assign_add(1)
            live[mode].assign_add(n)
            live[mode + "_border"].assign_add(border)
            return x

        # BN momentum 0.9 as torch's 0.1: Keras' 0.99 lags far behind in a few dozen steps
        model = keras.Sequential([
            layers.Lambda(probe),
            layers.Conv2D(16, 3, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=0.9), layers.ReLU(),
            layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=0.9), layers.ReLU(),
            layers.GlobalAveragePooling2D(), layers.Dense(4),
        ])
        model(np.zeros((1, 16, 16, 3), np.float32), training=False)
        live["eval"].assign(0)
        live["eval_border"].assign(0)
        self.live, self.log = live, log
        return model

    def read(self, counts: dict[str, int]) -> None:
        counts.update({k: int(v.numpy()) for k, v in self.live.items()})

    def read_trace(self) -> dict[str, np.ndarray]:
        n = min(int(self.live["train"].numpy()), int(self.log["batch"].shape[0]))
        return {k: v.numpy()[:n] for k, v in self.log.items()}

    def scripted(self, table: np.ndarray) -> Any:
        """A model whose validation loss the grader scripts: see `scripted_model`."""
        import keras
        from keras import layers, ops

        class Scripted(layers.Layer):
            def __init__(self) -> None:
                super().__init__()
                self.head = layers.Dense(4)  # something for Adam to train
                self.z = np.asarray(table, np.float32)

            def build(self, shape: Any) -> None:
                self.head.build((None, shape[-1]))
                # the epoch the weights come from, set by the layer itself (its gradient is
                # exactly 0, so Adam leaves it), and the same count as non-trainable state
                self.marker = self.add_weight(shape=(), initializer="zeros", name="marker")
                self.epoch = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                             name="epoch")
                self.evaluated = self.add_weight(shape=(), initializer="ones", trainable=False,
                                                 name="evaluated")
                # its gradient is made 1 at every step, so each Adam step moves it by -lr
                self.stepper = self.add_weight(shape=(), initializer="zeros", name="stepper")
                self.largest = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                               name="largest")
                self.border = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                              name="border")

            def call(self, x: Any, training: Any = None) -> Any:
                if training:
                    new = self.epoch + self.evaluated  # a new epoch after each evaluation
                    self.epoch.assign(new)
                    self.evaluated.assign(0.0)
                    self.marker.assign(new)
                    n = ops.cast(ops.shape(x)[0], "float32")
                    self.largest.assign(ops.maximum(self.largest, n))
                    self.border.assign(ops.maximum(self.border, _keras_zero_border(x)))
                    # zeros, whatever the batch: every training batch's loss is ln 4, and
                    # the zero gradient leaves the head where it is
                    return 0.0 * (self.head(ops.mean(x, axis=(1, 2))) + self.marker
                                  + _unit_gradient(self.stepper))
                self.evaluated.assign(1.0)
                k = ops.clip(ops.cast(ops.round(self.marker), "int32"), 0, len(self.z) - 1)
                z = ops.take(ops.convert_to_tensor(self.z), k)
                first = ops.convert_to_tensor(np.array([1.0, 0.0, 0.0, 0.0], np.float32))
                return ops.zeros_like(ops.mean(x, axis=(1, 2))[:, :1]) + first * z

        model = keras.Sequential([Scripted()])
        model(np.zeros((1, 8, 8, 3), np.float32), training=False)
        return model

    def epochs_held(self, model: Any) -> tuple[int, int]:
        """(the epoch the scripted model's parameters come from, that of its state)."""
        layer = model.layers[0]
        return int(round(float(layer.marker.numpy()))), int(round(float(layer.epoch.numpy())))

    def defaults_seen(self, model: Any) -> tuple[int, int, float]:
        """What a scripted run with fit's defaults showed: the largest training batch, the
        widest zero border of a training image, and where the Adam probe ended."""
        layer = model.layers[0]
        return (int(round(float(layer.largest.numpy()))), int(round(float(layer.border.numpy()))),
                float(layer.stepper.numpy()))

    def data(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        return np.ascontiguousarray(np.moveaxis(x, 1, -1)), y.astype(np.int64)

    def evaluate(self, model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        import keras

        logits = np.asarray(model(np.moveaxis(x, 1, -1), training=False))
        loss = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        return float(np.mean(loss)), float((logits.argmax(1) == y).mean())


def _leading(lines: np.ndarray) -> np.ndarray:
    """(n, L) bools -> the number of leading Trues per row."""
    return np.cumprod(lines, axis=1).sum(axis=1)


def _crop_code(zero: np.ndarray) -> np.ndarray:
    """Per image of (n, H, W) all-channel zeros: the crop's zero border as one number (rows
    above and below, and the columns on either side, whichever side: a flip swaps them)."""
    rows, cols = zero.all(2), zero.all(1)
    top, bottom = _leading(rows), _leading(rows[:, ::-1])
    left, right = _leading(cols), _leading(cols[:, ::-1])
    return top + 16 * bottom + 256 * np.minimum(left, right) + 4096 * np.maximum(left, right)


def _crop_code_tf(rows: Any, cols: Any) -> Any:
    import tensorflow as tf

    def lead(t: Any) -> Any:
        return tf.reduce_sum(tf.math.cumprod(tf.cast(t, tf.int64), axis=1), axis=1)

    top, bottom = lead(rows), lead(tf.reverse(rows, [1]))
    left, right = lead(cols), lead(tf.reverse(cols, [1]))
    return top + 16 * bottom + 256 * tf.minimum(left, right) + 4096 * tf.maximum(left, right)


def driver(ctx: Context) -> Any:
    """The grading run's driver for its framework, made once."""
    if "loops_driver" not in ctx.store:
        ctx.store["loops_driver"] = (Torch if ctx.framework == "torch" else Keras)(ctx.A)
    return ctx.store["loops_driver"]
