"""11_train_loop, PyTorch: augmentation, a training loop with early stopping, and the
best epoch's weights restored at the end."""

import copy
import math

import torch
from torch import nn
from torch.nn import functional as F


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(N, C, H, W) -> same shape: each image mirrored left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """(N, C, H, W) -> same shape: zero-pad each side by `padding`, then cut an H x W
    window per image at offsets drawn uniformly from 0..2*padding (both ends included)."""
    n, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    dy, dx = torch.randint(0, 2 * padding + 1, (2, n), generator=generator)
    # index tensors broadcast to (n, c, h, w): image, channel, row, column
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
    return padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None],
                  rows, cols]


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over all of (x, y), in eval mode."""
    model.eval()
    loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size])
        target = y[start:start + batch_size]
        loss += float(F.cross_entropy(logits, target, reduction="sum"))
        correct += int((logits.argmax(1) == target).sum())
    return loss / len(x), correct / len(x)


def fit(model: nn.Module, train_data, val_data, *, epochs: int, patience: int, lr: float = 1e-3,
        batch_size: int = 64, padding: int = 2, seed: int = 0) -> dict[str, list[float]]:
    """Adam on cross-entropy with crop+flip augmentation; early stopping on val loss.

    Stops once `patience` epochs in a row bring no new lowest validation loss; the
    model then gets back the weights and BN statistics of the best epoch.
    """
    (x, y), (x_val, y_val) = train_data, val_data
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"loss": [], "val_loss": [], "val_accuracy": []}
    best_loss, best_state, wait = math.inf, None, 0
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        losses = []
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            batch = random_flip(random_crop(x[idx], padding, generator), generator)
            loss = F.cross_entropy(model(batch), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        val_loss, val_acc = evaluate(model, x_val, y_val, batch_size)
        history["loss"].append(sum(losses) / len(losses))
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(val_acc)
        if val_loss < best_loss:
            # state_dict() returns the live tensors: keep a copy, not a reference
            best_loss, best_state, wait = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            wait += 1
            if wait == patience:
                break
    model.load_state_dict(best_state)
    return history
