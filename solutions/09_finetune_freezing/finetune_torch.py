"""09_finetune_freezing, PyTorch: replace the head, freeze the backbone and its BN
statistics, unfreeze one stage, one learning rate per parameter group."""

import types

import torch
from torch import nn

_BN = nn.modules.batchnorm._BatchNorm


def _frozen_bn_stays_in_eval(model: nn.Module, mode: bool = True) -> nn.Module:
    """`model.train(mode)`, except that a BatchNorm whose parameters are frozen stays in
    eval mode: it normalises with, and keeps, its pretrained running statistics."""
    nn.Module.train(model, mode)
    for m in model.modules():
        if isinstance(m, _BN) and not any(p.requires_grad for p in m.parameters()):
            m.eval()
    return model


def prepare_finetune(model: nn.Module, num_classes: int) -> nn.Module:
    """Freeze everything, then replace `fc` by a new trainable Linear.

    Input (N, 3, H, W), output (N, num_classes) logits. The rule "frozen BN stays in
    eval mode" is tied to `model.train()`, so the training loop's own `model.train()`
    cannot switch the statistics back on.
    """
    model.requires_grad_(False)
    model.fc = nn.Linear(model.fc.in_features, num_classes)  # replaces the old head
    model.train = types.MethodType(_frozen_bn_stays_in_eval, model)
    return model.train(model.training)


def unfreeze(model: nn.Module, stage: str) -> nn.Module:
    """Make `stage` (e.g. "layer4") trainable; its BN layers follow model.train() again."""
    getattr(model, stage).requires_grad_(True)
    return model.train(model.training)


def make_optimizer(model: nn.Module, head_lr: float, backbone_lr: float) -> torch.optim.Optimizer:
    """Adam with the head at head_lr and the trainable backbone at backbone_lr.

    Frozen tensors stay out of every group: unfrozen later, they would otherwise
    train at whatever rate their group happened to have.
    """
    head = [p for p in model.fc.parameters() if p.requires_grad]
    in_head = {id(p) for p in head}
    backbone = [p for p in model.parameters() if p.requires_grad and id(p) not in in_head]
    groups = [{"params": head, "lr": head_lr}]
    if backbone:
        groups.append({"params": backbone, "lr": backbone_lr})
    return torch.optim.Adam(groups)
