"""11_train_loop, Keras 3: augmentation, a custom training loop with early stopping,
and the best epoch's weights restored at the end."""

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops


def random_flip(images, seed: keras.random.SeedGenerator):
    """(N, H, W, C) -> same shape: each image mirrored left-right with probability 1/2."""
    flip = keras.random.uniform((ops.shape(images)[0], 1, 1, 1), seed=seed) < 0.5
    return ops.where(flip, ops.flip(images, axis=2), images)


def random_crop(images, padding: int, seed: keras.random.SeedGenerator):
    """(N, H, W, C) -> same shape: zero-pad each side by `padding`, then cut an H x W
    window per image at offsets drawn uniformly from 0..2*padding (both ends included)."""
    n, h, w, _ = ops.shape(images)
    padded = ops.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    dy = keras.random.randint((n,), 0, 2 * padding + 1, seed=seed)
    dx = keras.random.randint((n,), 0, 2 * padding + 1, seed=seed)
    rows = dy[:, None] + ops.arange(h)  # (n, h): the rows each image keeps
    cols = dx[:, None] + ops.arange(w)  # (n, w)
    out = ops.take_along_axis(padded, rows[:, :, None, None], axis=1)
    return ops.take_along_axis(out, cols[:, None, :, None], axis=2)


def evaluate(predict, x, y, batch_size: int) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over all of (x, y); `predict` maps a batch to logits."""
    logits = np.concatenate([np.asarray(predict(x[i:i + batch_size]))
                             for i in range(0, len(x), batch_size)])
    loss = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    return float(np.mean(loss)), float(np.mean(logits.argmax(axis=1) == y))


def fit(model, train_data, val_data, *, epochs: int, patience: int, lr: float = 1e-3,
        batch_size: int = 64, padding: int = 2, seed: int = 0) -> dict[str, list[float]]:
    """Adam on cross-entropy with crop+flip augmentation; early stopping on val loss.

    Stops once `patience` epochs in a row bring no new lowest validation loss; the
    model then gets back the weights (moving statistics included) of the best epoch.
    """
    (x, y), (x_val, y_val) = train_data, val_data
    seed_gen = keras.random.SeedGenerator(seed)
    shuffle = np.random.default_rng(seed)
    optimizer = keras.optimizers.Adam(learning_rate=lr)
    optimizer.build(model.trainable_variables)  # its slots now: train_step is traced once

    # one trace for every batch size: the last batch of an epoch is smaller
    signature = [tf.TensorSpec((None, *np.shape(x)[1:]), tf.float32),
                 tf.TensorSpec((None,), tf.as_dtype(np.asarray(y).dtype))]

    # the augmentation and the inference pass are traced too: eager, each op of a batch
    # pays Python's and TensorFlow's overhead, more than the whole step costs traced. The
    # generator is an argument: a traced function keeps what it captured when it was traced,
    # so a generator made later would go unseen; a new one is traced anew.
    @tf.function(reduce_retracing=True)
    def augment(xb, gen):
        return random_flip(random_crop(xb, padding, gen), gen)

    @tf.function(input_signature=signature[:1])
    def predict(xb):
        return model(xb, training=False)

    @tf.function(input_signature=signature)
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            logits = model(xb, training=True)
            loss = ops.mean(keras.losses.sparse_categorical_crossentropy(yb, logits, from_logits=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    history = {"loss": [], "val_loss": [], "val_accuracy": []}
    best_loss, best_weights, wait = math.inf, None, 0
    for _ in range(epochs):
        order = shuffle.permutation(len(x))
        losses = []
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            batch = augment(x[idx], seed_gen)
            losses.append(float(train_step(batch, y[idx])))
        val_loss, val_acc = evaluate(predict, x_val, y_val, batch_size)
        history["loss"].append(sum(losses) / len(losses))
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(val_acc)
        if val_loss < best_loss:
            best_loss, best_weights, wait = val_loss, model.get_weights(), 0  # copies
        else:
            wait += 1
            if wait == patience:
                break
    model.set_weights(best_weights)
    return history
