"""The framework drivers of 11_train_loop: the grader's model with its probe, generators, tensors.

The checks are written once; `Torch` and `Keras` only build the model, the probe in
front of its first layer and the random generators. Each imports its framework when used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from resnet_kata.checks import Context

COUNTS = ("train", "train_border", "eval", "eval_border")


class Torch:
    generator_words = "a `torch.Generator` (`torch.rand(..., generator=generator)`)"
    eval_words = "`model.eval()`"
    train_words = "`model.train()`"

    def __init__(self, A: Any):
        self.A = A

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

        def probe(module: Any, args: tuple[Any, ...]) -> None:
            x = args[0]
            mode = "train" if module.training else "eval"
            with torch.no_grad():
                z = x == 0  # an image cut off-centre has an outer row or column of zeros
                lines = (z[:, :, 0], z[:, :, -1], z[:, :, :, 0], z[:, :, :, -1])
                border = int(torch.stack([t.flatten(1).all(1) for t in lines]).any(0).sum())
            counts[mode] += int(x.shape[0])
            counts[mode + "_border"] += border
            if mode == "train":
                ctx.progress(step=min(counts["train"], total), total=total)

        model.register_forward_pre_hook(probe)
        return model

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

        def probe(x: Any, training: Any = None) -> Any:
            mode = "train" if training else "eval"
            n = tf.cast(tf.shape(x)[0], tf.int64)
            z = tf.equal(x, 0.0)  # an image cut off-centre has an outer row or column of zeros
            lines = [z[:, 0], z[:, -1], z[:, :, 0], z[:, :, -1]]
            off_centre = tf.reduce_any(tf.stack([tf.reduce_all(t, axis=[1, 2]) for t in lines]), 0)
            border = tf.reduce_sum(tf.cast(off_centre, tf.int64))
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
        self.live = live
        return model

    def read(self, counts: dict[str, int]) -> None:
        counts.update({k: int(v.numpy()) for k, v in self.live.items()})

    def data(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        return np.ascontiguousarray(np.moveaxis(x, 1, -1)), y.astype(np.int64)

    def evaluate(self, model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        import keras

        logits = np.asarray(model(np.moveaxis(x, 1, -1), training=False))
        loss = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        return float(np.mean(loss)), float((logits.argmax(1) == y).mean())



def driver(ctx: Context) -> Any:
    """The grading run's driver for its framework, made once."""
    if "loops_driver" not in ctx.store:
        ctx.store["loops_driver"] = (Torch if ctx.framework == "torch" else Keras)(ctx.A)
    return ctx.store["loops_driver"]
