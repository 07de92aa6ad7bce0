"""Checks for 03_bottleneck: Bottleneck(in_channels, width, stride=1), expansion 4, stride on conv2."""

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

from .expansion import expansion_check

EXPANSION = 4


def _stride(case: Case) -> int:
    return case.args[2] if len(case.args) > 2 else case.kwargs.get("stride", 1)


def layers(in_channels: int, width: int, stride: int = 1) -> dict:
    out = EXPANSION * width
    return {
        "conv1": Conv(in_channels, width, 1),
        "bn1": BN(width),
        "conv2": Conv(width, width, 3, stride=stride),
        "bn2": BN(width),
        "conv3": Conv(width, out, 1),
        "bn3": BN(out),
        "downsample": Seq((Conv(in_channels, out, 1, stride=stride), BN(out)))
        if stride != 1 or in_channels != out else None,
    }


def _branch(A, b, x, t, relu1=True, relu2=True, second_bn="bn2"):
    h = A.call(b.bn1, A.call(b.conv1, x, t), t)
    h = A.relu(h) if relu1 else h
    h = A.call(getattr(b, second_bn), A.call(b.conv2, h, t), t)
    h = A.relu(h) if relu2 else h
    return A.call(b.bn3, A.call(b.conv3, h, t), t)


def flow(A, b, x, t):
    return A.relu(_branch(A, b, x, t) + shortcut(A, b, x, t))


WRONG = {
    **add_mistakes(_branch, "bn3"),
    "no ReLU between bn1 and conv2":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t, relu1=False) + shortcut(A, b, x, t)),
    "no ReLU between bn2 and conv3":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t, relu2=False) + shortcut(A, b, x, t)),
    "bn1 is applied twice: the BatchNorm after conv2 is bn2":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t, second_bn="bn1") + shortcut(A, b, x, t)),
}


def why(case: Case) -> str:
    cin, width, s = case.args[0], case.args[1], _stride(case)
    out = EXPANSION * width
    if s != 1 and cin != out:
        return f"stride {s} shrinks H and W and the channels change ({cin} -> 4·{width} = {out})"
    if s != 1:
        every = "" if s == 2 else f" (every stride other than 1 needs it, {s} as much as 2)"
        return (f"stride {s} shrinks H and W, even though in_channels already equals "
                f"4·{width} = {out}{every}")
    if cin != out:
        return (f"the channels change ({cin} -> 4·{width} = {out}) even at stride 1, as in "
                "ResNet-50's first block (64 -> 256)")
    return f"stride 1 with in_channels = 4·{width} = {out} leaves x the branch's shape"


RULE = ("The rule: `downsample` = 1x1 conv in_channels -> 4·width (the block's stride, no bias) "
        "then BN exactly when stride != 1 or in_channels != 4·width; otherwise None.")

V1 = ("the stride is on conv1; this exercise wants it on the 3x3 conv2. A strided 1x1 conv1 is "
      "ResNet v1 (the paper, keras.applications) and ignores 3 of every 4 input positions; "
      "torchvision (v1.5) strides the 3x3 conv2")

LIKELY = {
    **SHORTCUT_LIKELY,
    ("downsample", "present"): (
        "with stride 1 and in_channels == 4·width the shortcut is x itself; create the "
        "projection only when the branch changes x's shape"
    ),
    ("downsample", "missing"): (
        "a projection is needed whenever stride != 1 or in_channels != 4·width, also at stride 1"
    ),
    ("conv1", "stride"): V1,
    ("conv2", "stride"): "the 3x3 conv2 carries the block's stride (torchvision v1.5)",
    ("conv3", "stride"): (
        "the stride is on conv3, the 1x1 expand; this exercise wants it on the 3x3 conv2"
    ),
    ("conv1", "kernel"): "conv1 is the 1x1 reduce (in_channels -> width)",
    ("conv2", "kernel"): "conv2 is the 3x3 conv (width -> width)",
    ("conv3", "kernel"): "conv3 is the 1x1 expand (width -> 4·width)",
    ("conv1", "channels"): "conv1 reduces in_channels -> width",
    ("conv2", "channels"): "conv2 keeps width -> width",
    ("conv3", "channels"): "conv3 expands width -> expansion·width = 4·width",
    ("bn3", "channels"): "bn3 normalises conv3's 4·width channels",
}

SPEC = BlockSpec(
    cls="Bottleneck",
    signature="Bottleneck(in_channels, width, stride=1)",
    attrs=("conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "downsample"),
    layers=layers,
    flow=flow,
    shape_cases=[
        Case((16, 4), (2, 16, 8, 8), (2, 16, 8, 8)),
        Case((8, 4), (1, 8, 7, 7), (1, 16, 4, 4), {"stride": 2}),
        Case((6, 3), (3, 6, 5, 9), (3, 12, 5, 9)),
        Case((20, 5, 2), (2, 20, 6, 11), (2, 20, 3, 6)),
        Case((8, 2), (2, 8, 1, 1), (2, 8, 1, 1)),
        Case((3, 2), (2, 3, 2, 1), (2, 8, 1, 1), {"stride": 2}),
    ],
    function_cases=[
        Case((16, 4), (4, 16, 6, 5), (4, 16, 6, 5)),
        Case((8, 4), (3, 8, 5, 7), (3, 16, 5, 7)),
        Case((24, 8), (2, 24, 7, 6), (2, 32, 4, 3), {"stride": 2}),
    ],
    count_formula=("in·w + 9w² + 4w² for the 1x1, 3x3 and 1x1 convs, 2w + 2w + 8w for the BNs, "
                   "plus 4w·in + 8w when there is a projection"),
    likely=LIKELY,
    wrong_flows=WRONG,
    zero_branch=("bn3", Case((16, 4), (4, 16, 5, 5), (4, 16, 5, 5))),
    training=TrainSpec(blocks=lambda cls: [cls(8, 8, stride=2), cls(32, 8)], features=32,
                       steps=40),  # a zero-init last BN gamma learns slower here
)

RULE_CASES = [
    Case((64, 16), (1, 64, 4, 4)),
    Case((64, 64), (1, 64, 4, 4)),
    Case((128, 32), (1, 128, 4, 4), kwargs={"stride": 2}),
    Case((256, 64), (1, 256, 3, 3)),
    Case((32, 8), (1, 32, 7, 7), kwargs={"stride": 3}),  # a rule written `stride == 2` fails
    Case((64, 8), (1, 64, 4, 4)),  # 64 -> 32 channels: fewer, x cannot be added either
    # 1024 in and 4 x 256 out are equal ints but two objects: `in_channels is not
    # out_channels` holds for them (CPython shares only the ints up to 256)
    Case((1024, 256), (1, 1024, 2, 2)),
]




def checks(framework: str):
    battery = keras_guarded(SPEC, block_checks(SPEC))
    battery = insert_rule(battery, projection_rule(SPEC, RULE_CASES, why, RULE))
    battery.insert(1, expansion_check(SPEC, EXPANSION, Case((16, 4), (2, 16, 8, 8)), width=4))
    return battery
