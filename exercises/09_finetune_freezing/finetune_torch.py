"""09_finetune_freezing (PyTorch). Statement: `resnet-kata start 09_finetune_freezing`.

Fine-tune a pretrained torchvision-style ResNet: replace `fc`, freeze the backbone
and its BatchNorm statistics, unfreeze one stage later, and give the optimizer one
learning rate for the head and another for the backbone. Check with `resnet-kata check`.
"""

import torch
from torch import nn


def prepare_finetune(model: nn.Module, num_classes: int) -> nn.Module:
    # TODO: freeze every parameter; replace model.fc by a new
    #   nn.Linear(model.fc.in_features, num_classes) (trainable);
    #   make every frozen BatchNorm use and keep its running statistics, also after a
    #   later model.train(). Modify the model in place and return it.
    raise NotImplementedError("prepare_finetune")


def unfreeze(model: nn.Module, stage: str) -> nn.Module:
    # TODO: make every parameter of getattr(model, stage) trainable, and let that
    #   stage's BatchNorm layers update their statistics again in train mode.
    raise NotImplementedError("unfreeze")


def make_optimizer(model: nn.Module, head_lr: float, backbone_lr: float) -> torch.optim.Optimizer:
    # TODO: torch.optim.Adam with parameter groups: model.fc's parameters at head_lr,
    #   the trainable backbone parameters at backbone_lr. No frozen tensor in any group.
    raise NotImplementedError("make_optimizer")
