"""Checks for 06_se_attention: SEBlock(channels, reduction=16) and SEBasicBlock."""

from resnet_kata.checks.blocks import BlockSpec, Case, TrainSpec, block_checks
from resnet_kata.checks.residual import (
    BASIC_RULE,
    SHORTCUT_LIKELY,
    BranchModule,
    basic_why,
    insert_rule,
    projection_rule,
    shortcut,
)
from resnet_kata.checks.spec import Dense

from .flows import SE_WRONG_FLOWS, se_gate, se_scale
from .se_module import se_checks


def hidden(channels: int, reduction: int = 16) -> int:
    return max(1, channels // reduction)


def se_layers(channels: int, reduction: int = 16) -> dict:
    h = hidden(channels, reduction)
    return {"fc1": Dense(channels, h, conv_ok=True), "fc2": Dense(h, channels, conv_ok=True)}


SE = BlockSpec(
    cls="SEBlock",
    signature="SEBlock(channels, reduction=16)",
    attrs=("fc1", "fc2"),
    layers=se_layers,
    flow=lambda A, se, x, t: se_scale(A, se, x),
    shape_cases=[
        Case((16,), (2, 16, 8, 8)),
        Case((32,), (1, 32, 7, 7), kwargs={"reduction": 4}),
        Case((8,), (3, 8, 5, 9), kwargs={"reduction": 16}),
        Case((64,), (2, 64, 1, 1)),
    ],
    function_cases=[
        Case((32,), (4, 32, 6, 5), kwargs={"reduction": 4}),
        Case((8,), (3, 8, 5, 5)),
    ],
    count_formula="2·C·h + h + C with h = max(1, C // reduction): fc1 and fc2 with their biases",
    likely={
        ("fc1", "bias"): "the excitation's fc1 and fc2 keep their biases (no BatchNorm follows them)",
        ("fc2", "bias"): "the excitation's fc1 and fc2 keep their biases (no BatchNorm follows them)",
    },
    wrong_flows=SE_WRONG_FLOWS,
)

# (args, kwargs, hidden width) for the hidden-width check; the inputs of the gate probes
HIDDEN = [((16,), {}, 1), ((8,), {"reduction": 16}, 1), ((64,), {"reduction": 16}, 4),
          ((48,), {"reduction": 8}, 6), ((32,), {"reduction": 4}, 8), ((28,), {"reduction": 8}, 3),
          ((24,), {}, 1), ((256,), {}, 16)]  # 256: the default reduction is 16, not 15 or 17
GATE = Case((32,), (4, 32, 5, 6), kwargs={"reduction": 4})
SQUEEZE = Case((32,), (4, 32, 6, 6), kwargs={"reduction": 4})


ON_BRANCH = BranchModule(attr="se", name="the SE", verb="scales", layers=se_layers, scale=se_scale)

WRONG = ON_BRANCH.wrong_flows({
    "the gate is computed from the block's input x; the SE takes bn2's output and scales it":
        lambda A, b, x, t: A.relu(ON_BRANCH.branch(A, b, x, t) * se_gate(A, b.se, x) + shortcut(A, b, x, t)),
})

RULE_CASES = [
    Case((16, 16), (1, 16, 4, 4)),
    Case((8, 16), (1, 8, 4, 4)),
    Case((16, 16, 2), (1, 16, 5, 5)),
    Case((16, 32), (1, 16, 5, 5), kwargs={"stride": 2}),
    Case((16, 8), (1, 16, 4, 4)),  # fewer channels: x cannot be added either
    # equal counts made separately: `in_channels is not out_channels` holds for ints above
    # 256 even when they are equal (CPython shares only the small ones)
    Case((int("300"), int("300")), (1, 300, 2, 2)),
]


SPEC = BlockSpec(
    cls="SEBasicBlock",
    signature="SEBasicBlock(in_channels, out_channels, stride=1, reduction=16)",
    attrs=("conv1", "bn1", "conv2", "bn2", "se", "downsample"),
    layers=ON_BRANCH.block_layers,
    flow=ON_BRANCH.flow,
    shape_cases=[
        Case((16, 16), (2, 16, 8, 8), (2, 16, 8, 8)),
        Case((16, 32, 2), (1, 16, 7, 7), (1, 32, 4, 4)),
        Case((8, 16), (3, 8, 5, 9), (3, 16, 5, 9)),
        Case((4, 4), (2, 4, 1, 1), (2, 4, 1, 1)),
    ],
    function_cases=[
        Case((32, 32), (2, 32, 5, 6), (2, 32, 5, 6), kwargs={"reduction": 8}),
        Case((16, 32, 2), (4, 16, 7, 7), (4, 32, 4, 4), kwargs={"reduction": 4}),
        Case((256, 256), (1, 256, 3, 3), (1, 256, 3, 3)),  # the default reduction: hidden 16
    ],
    count_formula="9·in·out + 9·out² + 4·out for the convs and BNs, 2·out·h + h + out for the SE "
    "(h = max(1, out // reduction)), plus in·out + 2·out for a projection",
    likely={
        **SHORTCUT_LIKELY,
        ("conv1", "stride"): "the stride belongs on conv1, the first 3x3 conv",
        ("conv2", "stride"): "conv2 has stride 1; the stride belongs on conv1",
        ("se.fc1", "channels"): "`se` is an SEBlock over out_channels, hidden max(1, out // reduction)",
        ("se.fc2", "channels"): "`se` is an SEBlock over out_channels, hidden max(1, out // reduction)",
        ("se.fc1", "bias"): "the excitation's fc1 and fc2 keep their biases",
        ("se.fc2", "bias"): "the excitation's fc1 and fc2 keep their biases",
    },
    wrong_flows=WRONG,
    zero_branch=("bn2", Case((16, 16), (4, 16, 5, 5), (4, 16, 5, 5), kwargs={"reduction": 4})),
    training=TrainSpec(
        blocks=lambda cls: [cls(8, 16, 2, reduction=4), cls(16, 16, reduction=4)], features=16
    ),
)


def checks(framework: str):
    block = insert_rule(block_checks(SPEC), projection_rule(SPEC, RULE_CASES, basic_why, BASIC_RULE))
    return [*se_checks(SE, HIDDEN, GATE, SQUEEZE), *block]
