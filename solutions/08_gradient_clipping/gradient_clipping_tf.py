"""08_gradient_clipping, TensorFlow/Keras 3: global-norm clipping inside a custom train step."""

import keras
import tensorflow as tf


def clip_by_global_norm(grads, max_norm):
    """Scale all gradients by one factor so that their global L2 norm is at most max_norm.

    grads: a list or tuple of tensors, None where a variable has no gradient.
    Returns (clipped, norm): a list of the same length (None kept in place) and the
    global norm before clipping. Under the bound the factor is exactly 1.0.
    """
    present = [g for g in grads if g is not None]
    if not present:
        return list(grads), tf.constant(0.0)
    norm = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(tf.cast(g, tf.float32))) for g in present]))
    scale = max_norm / tf.maximum(norm, max_norm)  # 1.0 when norm <= max_norm
    clipped = [None if g is None else g * tf.cast(scale, g.dtype) for g in grads]
    return clipped, norm


def train_step(model, optimizer, x, y, max_norm):
    """One update of `model` on (x, y), gradients clipped by global norm first.

    x: (N, ...) inputs; y: (N,) integer labels; the model returns logits.
    Returns the mean sparse categorical cross-entropy computed before the update.
    """
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        )
    grads = tape.gradient(loss, model.trainable_variables)
    # clip BEFORE applying: once apply_gradients has run, the update is done
    clipped, _ = clip_by_global_norm(grads, max_norm)
    optimizer.apply_gradients(zip(clipped, model.trainable_variables, strict=True))
    return loss
