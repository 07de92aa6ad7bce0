"""Checks for 08_gradient_clipping: clipping by global norm (and by value) from scratch."""

from resnet_kata.checks.optim import Explode, clipping_checks

# A 6-layer linear net on inputs scaled by 10: plain SGD at 0.1 overflows within
# ten steps; clipped to norm 1, every step moves the weights by at most 0.1.
EXPLODE = Explode(depth=6, width=16, x_scale=10.0, lr=0.1, steps=25, max_norm=1.0)


def checks(framework: str):
    return clipping_checks(framework, EXPLODE)
