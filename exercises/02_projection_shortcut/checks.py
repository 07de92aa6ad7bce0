"""Checks for 02_projection_shortcut: BasicBlock(in_channels, out_channels, stride=1)."""

from resnet_kata.checks.blocks import BlockSpec, Case, TrainSpec, block_checks
from resnet_kata.checks.residual import (
    SHORTCUT_LIKELY,
    add_mistakes,
    insert_rule,
    keras_guarded,
    projection_rule,
    shortcut,
)
from resnet_kata.checks.spec import BN, Conv, Seq


def _stride(case: Case) -> int:
    return case.args[2] if len(case.args) > 2 else case.kwargs.get("stride", 1)


def layers(in_channels: int, out_channels: int, stride: int = 1) -> dict:
    project = stride != 1 or in_channels != out_channels
    return {
        "conv1": Conv(in_channels, out_channels, 3, stride=stride),
        "bn1": BN(out_channels),
        "conv2": Conv(out_channels, out_channels, 3),
        "bn2": BN(out_channels),
        "downsample": Seq((Conv(in_channels, out_channels, 1, stride=stride), BN(out_channels)))
        if project else None,
    }


def _branch(A, b, x, t, relu=True, second_bn="bn2"):
    h = A.call(b.bn1, A.call(b.conv1, x, t), t)
    h = A.relu(h) if relu else h
    return A.call(getattr(b, second_bn), A.call(b.conv2, h, t), t)


def flow(A, b, x, t):
    return A.relu(_branch(A, b, x, t) + shortcut(A, b, x, t))


WRONG = {
    **add_mistakes(_branch, "bn2"),
    "no ReLU between bn1 and conv2":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t, relu=False) + shortcut(A, b, x, t)),
    "bn1 is applied twice: the BatchNorm after conv2 is bn2":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t, second_bn="bn1") + shortcut(A, b, x, t)),
}


def why(case: Case) -> str:
    cin, cout, s = case.args[0], case.args[1], _stride(case)
    if s != 1 and cin != cout:
        return f"stride {s} shrinks H and W and the channels change ({cin} -> {cout})"
    if s != 1:
        every = "" if s == 2 else f" (every stride other than 1 needs it, {s} as much as 2)"
        return f"stride {s} shrinks H and W, even though the channels stay {cin}{every}"
    if cin != cout:
        return (f"the channels change ({cin} -> {cout}) even at stride 1 (projecting only "
                "when strided misses this case)")
    return f"stride 1 with {cin} channels in and out leaves x the branch's shape"


RULE = ("The rule: `downsample` = 1x1 conv (the block's stride, no bias) then BN exactly when "
        "stride != 1 or in_channels != out_channels; otherwise None.")

LIKELY = {
    **SHORTCUT_LIKELY,
    ("conv1", "stride"): "the first 3x3 conv, conv1, carries the block's stride (as in torchvision)",
    ("conv2", "stride"): "the stride is on conv2; this exercise wants it on conv1, the first 3x3 conv",
    ("conv1", "channels"): "conv1 maps in_channels -> out_channels; conv2 keeps out_channels",
    ("conv2", "channels"): "conv1 maps in_channels -> out_channels; conv2 keeps out_channels",
}

SPEC = BlockSpec(
    cls="BasicBlock",
    signature="BasicBlock(in_channels, out_channels, stride=1)",
    attrs=("conv1", "bn1", "conv2", "bn2", "downsample"),
    layers=layers,
    flow=flow,
    shape_cases=[
        Case((16, 16), (2, 16, 8, 8), (2, 16, 8, 8)),
        Case((8, 16), (1, 8, 7, 7), (1, 16, 4, 4), {"stride": 2}),
        Case((8, 24), (3, 8, 5, 9), (3, 24, 5, 9)),
        Case((12, 12, 2), (2, 12, 6, 11), (2, 12, 3, 6)),
        Case((3, 5), (2, 3, 1, 1), (2, 5, 1, 1), {"stride": 2}),
        Case((4, 4), (1, 4, 1, 3), (1, 4, 1, 3)),
    ],
    function_cases=[
        Case((8, 8), (4, 8, 6, 5), (4, 8, 6, 5)),
        Case((8, 16), (3, 8, 5, 7), (3, 16, 5, 7)),
        Case((16, 32), (2, 16, 7, 6), (2, 32, 4, 3), {"stride": 2}),
    ],
    count_formula="9·in·out + 9·out² + 4·out, plus in·out + 2·out when there is a projection",
    likely=LIKELY,
    wrong_flows=WRONG,
    zero_branch=("bn2", Case((8, 8), (4, 8, 5, 5), (4, 8, 5, 5))),
    training=TrainSpec(blocks=lambda cls: [cls(8, 16, stride=2), cls(16, 16)], features=16),
)

RULE_CASES = [
    Case((16, 16), (1, 16, 4, 4)),
    Case((64, 128), (1, 64, 4, 4)),
    Case((16, 16), (1, 16, 4, 4), kwargs={"stride": 2}),
    Case((16, 32), (1, 16, 5, 5), kwargs={"stride": 2}),
    Case((16, 16), (1, 16, 7, 7), kwargs={"stride": 3}),  # a rule written `stride == 2` fails
    Case((16, 8), (1, 16, 4, 4)),  # fewer channels: x cannot be added either
    # equal counts made separately: `in_channels is not out_channels` holds for ints above
    # 256 even when they are equal (CPython shares only the small ones)
    Case((int("300"), int("300")), (1, 300, 2, 2)),
]




def checks(framework: str):
    battery = keras_guarded(SPEC, block_checks(SPEC))
    return insert_rule(battery, projection_rule(SPEC, RULE_CASES, why, RULE))
