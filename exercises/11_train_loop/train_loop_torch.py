"""11_train_loop (PyTorch). Statement: `resnet-kata start 11_train_loop`.

Write the augmentation (random crop with zero padding, horizontal flip, per image)
and a training loop with early stopping that gives the model back the weights of
its best epoch. Check with `resnet-kata check`.
"""

import torch
from torch import nn


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    # TODO: (N, C, H, W) -> same shape. Mirror each image left-right (reverse the W
    #   axis) with probability 1/2, independently per image; keep the batch order.
    #   Draw the random numbers from `generator`; do not modify `images`.
    raise NotImplementedError("random_flip")


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    # TODO: (N, C, H, W) -> same shape. Zero-pad H and W by `padding` on each side,
    #   then cut an H x W window per image, its row and column offsets drawn uniformly
    #   from 0..2*padding (both ends included), independently per image.
    raise NotImplementedError("random_crop")


def fit(model: nn.Module, train_data, val_data, *, epochs: int, patience: int, lr: float = 1e-3,
        batch_size: int = 64, padding: int = 2, seed: int = 0) -> dict[str, list[float]]:
    # TODO: train with Adam and cross-entropy on augmented batches, evaluate on the
    #   validation set after every epoch, stop after `patience` epochs without a new
    #   lowest validation loss, restore the best epoch's weights, return the history
    #   {"loss": [...], "val_loss": [...], "val_accuracy": [...]} (one entry per epoch).
    raise NotImplementedError("fit")
