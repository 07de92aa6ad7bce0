"""Checks for 01_residual_block: BasicBlock(channels), stride 1, identity shortcut."""

from resnet_kata.checks.blocks import BlockSpec, Case, TrainSpec, block_checks
from resnet_kata.checks.residual import keras_guarded
from resnet_kata.checks.spec import BN, Conv


def layers(channels: int) -> dict:
    return {
        "conv1": Conv(channels, channels, 3),
        "bn1": BN(channels),
        "conv2": Conv(channels, channels, 3),
        "bn2": BN(channels),
    }


def _branch(A, b, x, training, relu=True, second_conv="conv2", second_bn="bn2"):
    h = A.call(b.bn1, A.call(b.conv1, x, training), training)
    h = A.relu(h) if relu else h
    conv, bn = getattr(b, second_conv), getattr(b, second_bn)
    return A.call(bn, A.call(conv, h, training), training)


def _preactivation(A, b, x, t):
    """He et al.'s v2 block (Identity Mappings): BN-ReLU-conv twice, nothing after the add."""
    h = A.call(b.conv1, A.relu(A.call(b.bn1, x, t)), t)
    return A.call(b.conv2, A.relu(A.call(b.bn2, h, t)), t) + x


def flow(A, b, x, training):
    return A.relu(_branch(A, b, x, training) + x)


WRONG = {
    "ReLU applied to the branch before the add (the ReLU belongs after the add)":
        lambda A, b, x, t: A.relu(A.relu(_branch(A, b, x, t)) + x),
    "ReLU on the branch and no ReLU after the add":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t)) + x,
    "no skip connection: the input is never added back":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t)),
    "the final ReLU after the add is missing":
        lambda A, b, x, t: _branch(A, b, x, t) + x,
    "the skip adds the ReLU'd input instead of x itself (an in-place ReLU on x?)":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t) + A.relu(x)),
    "the skip starts from conv1's output instead of the block's input":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t) + A.call(b.conv1, x, t)),
    "no ReLU between bn1 and conv2":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t, relu=False) + x),
    "conv1 is applied twice: the second conv of the branch is conv2":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t, second_conv="conv1") + x),
    "bn1 is applied twice: the BatchNorm after conv2 is bn2":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t, second_bn="bn1") + x),
    "the pre-activation order (BN-ReLU-conv, ResNet v2): this block is the original one, "
    "conv-BN-ReLU, with the last ReLU after the add":
        _preactivation,
    "the pre-activation order (BN-ReLU-conv, ResNet v2) with a ReLU after the add: this block "
    "is the original one, conv-BN-ReLU":
        lambda A, b, x, t: A.relu(_preactivation(A, b, x, t)),
}

SPEC = BlockSpec(
    cls="BasicBlock",
    signature="BasicBlock(channels)",
    attrs=("conv1", "bn1", "conv2", "bn2"),
    layers=layers,
    flow=flow,
    shape_cases=[
        Case((16,), (2, 16, 8, 8), (2, 16, 8, 8)),
        Case((8,), (1, 8, 7, 7), (1, 8, 7, 7)),
        Case((24,), (3, 24, 5, 9), (3, 24, 5, 9)),
        Case((3,), (2, 3, 1, 1), (2, 3, 1, 1)),
    ],
    function_cases=[Case((8,), (4, 8, 6, 5), (4, 8, 6, 5)), Case((64,), (2, 64, 4, 4))],
    count_formula="18C² + 4C: two 3x3 convs of C·C·9 weights, two BNs of gamma and beta",
    wrong_flows=WRONG,
    zero_branch=("bn2", Case((8,), (4, 8, 5, 5), (4, 8, 5, 5))),
    training=TrainSpec(blocks=lambda cls: [cls(8), cls(8)], features=8),
)




def checks(framework: str):
    return keras_guarded(SPEC, block_checks(SPEC))
