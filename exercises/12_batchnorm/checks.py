"""Checks for 12_batchnorm: BatchNorm from scratch, against the framework's own layer."""

from resnet_kata.checks.norm import FitSpec, batchnorm_checks

# 12x12 stripe/blob images, 4 classes: a two-conv net with the learner's BN after each
# conv gets well over 85% in a few seconds when train and inference modes are right.
FIT = FitSpec(n=512, size=12, epochs=4, batch=32, lr=0.01, steps_torch=60, target=0.85)


def checks(framework: str):
    return batchnorm_checks(framework, FIT)
