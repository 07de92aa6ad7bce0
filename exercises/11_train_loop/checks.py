"""Checks for 11_train_loop: augmentation, early stopping, best-weights restore."""

from resnet_kata.checks.loops import LoopSpec, loop_checks

SPEC = LoopSpec()


def checks(framework: str):
    return loop_checks(SPEC)
