"""08_gradient_clipping (Keras 3). Statement: `resnet-kata start 08_gradient_clipping --framework tf`.

Clip gradients by their global norm from scratch (not tf.clip_by_global_norm),
and use it in a custom training step. Check with `resnet-kata check`.
"""

import keras  # noqa: F401  (keras.losses is what train_step needs)
import tensorflow as tf  # noqa: F401


def clip_by_global_norm(grads, max_norm):
    # TODO:
    #   - grads: a list or tuple of tensors, None where a variable has no gradient.
    #   - norm: the L2 norm of all gradient elements together (0 if all are None).
    #   - multiply every gradient by max_norm / max(norm, max_norm); keep None entries.
    #   - return (clipped_list, norm), the norm measured BEFORE clipping.
    raise NotImplementedError("clip_by_global_norm")


def train_step(model, optimizer, x, y, max_norm):
    # TODO: with tf.GradientTape: logits = model(x, training=True); mean sparse
    # categorical cross-entropy (from_logits=True). Gradients of
    # model.trainable_variables, clipped with clip_by_global_norm, THEN
    # optimizer.apply_gradients(...). Return the loss computed before the update.
    raise NotImplementedError("train_step")
