"""11_train_loop (Keras 3). Statement: `resnet-kata start 11_train_loop --framework tf`.

Write the augmentation (random crop with zero padding, horizontal flip, per image)
and a training loop with early stopping that gives the model back the weights of
its best epoch. Check with `resnet-kata check`.
"""

import keras


def random_flip(images, seed: keras.random.SeedGenerator):
    # TODO: (N, H, W, C) -> same shape. Mirror each image left-right (reverse axis 2,
    #   W) with probability 1/2, independently per image; keep the batch order.
    #   Draw the random numbers from `seed` (keras.random.uniform(..., seed=seed)).
    raise NotImplementedError("random_flip")


def random_crop(images, padding: int, seed: keras.random.SeedGenerator):
    # TODO: (N, H, W, C) -> same shape. Zero-pad H and W by `padding` on each side,
    #   then cut an H x W window per image, its row and column offsets drawn uniformly
    #   from 0..2*padding (both ends included), independently per image.
    raise NotImplementedError("random_crop")


def fit(model: keras.Model, train_data, val_data, *, epochs: int, patience: int, lr: float = 1e-3,
        batch_size: int = 64, padding: int = 2, seed: int = 0) -> dict[str, list[float]]:
    # TODO: train with Adam and cross-entropy on augmented batches, evaluate on the
    #   validation set after every epoch, stop after `patience` epochs without a new
    #   lowest validation loss, restore the best epoch's weights, return the history
    #   {"loss": [...], "val_loss": [...], "val_accuracy": [...]} (one entry per epoch).
    raise NotImplementedError("fit")
