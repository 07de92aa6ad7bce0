"""Checks for 07_depthwise_separable: DepthwiseSeparableConv and cost_ratio."""

from dataclasses import replace

from resnet_kata.checks.blocks import BlockSpec, Case, TrainSpec, block_checks
from resnet_kata.checks.probes import activation_check, channelwise_check, formula_check, relu6
from resnet_kata.checks.spec import BN, Conv


def layers(in_channels: int, out_channels: int, stride: int = 1) -> dict:
    return {
        "depthwise": Conv(in_channels, in_channels, 3, stride=stride, groups=in_channels),
        "bn1": BN(in_channels),
        "pointwise": Conv(in_channels, out_channels, 1),
        "bn2": BN(out_channels),
    }


def _first(A, b, x, t, act=None):
    return (act or A.relu)(A.call(b.bn1, A.call(b.depthwise, x, t), t))


def _second(A, b, h, t, act=None):
    return (act or A.relu)(A.call(b.bn2, A.call(b.pointwise, h, t), t))


def flow(A, b, x, t):
    return _second(A, b, _first(A, b, x, t), t)


WRONG = {
    "the ReLU after bn1 is missing":
        lambda A, b, x, t: _second(A, b, _first(A, b, x, t, act=lambda v: v), t),
    "the ReLU after bn2 is missing (the block ends with a ReLU)":
        lambda A, b, x, t: _second(A, b, _first(A, b, x, t), t, act=lambda v: v),
    "the input is added back: this block has no shortcut":
        lambda A, b, x, t: A.relu(A.call(b.bn2, A.call(b.pointwise, _first(A, b, x, t), t), t) + x),
    "each ReLU comes before its BatchNorm; the order is conv - BN - ReLU":
        lambda A, b, x, t: A.call(b.bn2, A.relu(A.call(b.pointwise, A.call(
            b.bn1, A.relu(A.call(b.depthwise, x, t)), t), t)), t),
    "the pointwise conv runs before the depthwise conv (3x3 depthwise first, then 1x1)":
        lambda A, b, x, t: A.relu(A.call(b.bn2, A.call(b.depthwise, A.relu(
            A.call(b.bn1, A.call(b.pointwise, x, t), t)), t), t)),
}

RELU6 = {
    "ReLU6 after both BNs":
        lambda A, b, x, t: _second(A, b, _first(A, b, x, t, act=lambda v: relu6(A, v)), t,
                                   act=lambda v: relu6(A, v)),
    "ReLU6 after bn1":
        lambda A, b, x, t: _second(A, b, _first(A, b, x, t, act=lambda v: relu6(A, v)), t),
    "ReLU6 after bn2":
        lambda A, b, x, t: _second(A, b, _first(A, b, x, t), t, act=lambda v: relu6(A, v)),
}

DEPTHWISE = (
    "A depthwise conv gives every channel its own 3x3 filter: torch nn.Conv2d(in, in, 3, "
    "groups=in), Keras DepthwiseConv2D(3) or Conv2D(in, 3, groups=in)."
)

SPEC = BlockSpec(
    cls="DepthwiseSeparableConv",
    signature="DepthwiseSeparableConv(in_channels, out_channels, stride=1)",
    attrs=("depthwise", "bn1", "pointwise", "bn2"),
    layers=layers,
    flow=flow,
    shape_cases=[
        Case((16, 32), (2, 16, 8, 8), (2, 32, 8, 8)),
        Case((8, 16, 2), (1, 8, 7, 7), (1, 16, 4, 4)),
        Case((24, 12), (3, 24, 5, 9), (3, 12, 3, 5), kwargs={"stride": 2}),
        Case((3, 8), (2, 3, 1, 1), (2, 8, 1, 1)),
    ],
    function_cases=[
        Case((8, 16, 2), (4, 8, 7, 7), (4, 16, 4, 4)),
        Case((16, 16), (2, 16, 5, 6), (2, 16, 5, 6)),
    ],
    count_formula="9·in + in·out + 2·in + 2·out: a depthwise 3x3 with one filter per input "
    "channel, a pointwise 1x1, two BNs",
    likely={
        ("depthwise", "groups"): "groups must be in_channels (groups=1 is a standard 3x3 conv, "
        "in·in·9 weights; a value in between is a grouped conv, ResNeXt's). " + DEPTHWISE,
        ("depthwise", "stride"): "the stride belongs on the depthwise 3x3 conv",
        ("pointwise", "stride"): "the stride is on the pointwise 1x1 conv; this exercise wants it "
        "on the depthwise 3x3 conv (a strided 1x1 drops 3 of every 4 positions unseen)",
        ("depthwise", "channels"): "the depthwise conv keeps the channel count (depth multiplier "
        "1); the pointwise 1x1 changes it to out_channels",
        ("depthwise", "kernel"): "the depthwise conv is 3x3",
        ("pointwise", "kernel"): "the pointwise conv is 1x1: it only mixes channels",
        ("bn1", "channels"): "bn1 normalises the depthwise output: in_channels",
    },
    wrong_flows=WRONG,
    training=TrainSpec(blocks=lambda cls: [cls(8, 16, 2), cls(16, 32)], features=32),
)


def cost_ratio(in_channels: int, out_channels: int, k: int = 3) -> float:
    """Depthwise k·k·in plus pointwise in·out mult-adds per position, over k·k·in·out."""
    return 1 / out_channels + 1 / k**2


RATIO_CASES = [
    ((32, 64), {}),
    ((32, 64), {"k": 3}),
    ((16, 16, 3), {}),
    ((3, 128), {"k": 5}),
    ((64, 256, 1), {}),
    ((128, 10), {"k": 7}),
    ((1, 1), {}),
]

WRONG_RATIOS = {
    "standard over separable, the inverse of the ratio asked for":
        lambda i, o, k=3: 1 / (1 / o + 1 / k**2),
    "1/out only: the depthwise conv's own cost, 1/k², is missing":
        lambda i, o, k=3: 1 / o,
    "1/k² only: the pointwise conv's cost, 1/out, is missing":
        lambda i, o, k=3: 1 / k**2,
    "1/in + 1/k²: the pointwise term depends on out_channels, not in_channels":
        lambda i, o, k=3: 1 / i + 1 / k**2,
    "1/out + 1/k: the depthwise term is 1/k² (a k x k kernel has k² taps)":
        lambda i, o, k=3: 1 / o + 1 / k,
    "the product 1/(out·k²) instead of the sum 1/out + 1/k²":
        lambda i, o, k=3: 1 / (o * k**2),
    "the saving 1 - ratio instead of the ratio":
        lambda i, o, k=3: 1 - (1 / o + 1 / k**2),
    "a percentage: return the plain ratio":
        lambda i, o, k=3: 100 * (1 / o + 1 / k**2),
}


def checks(framework: str):
    ratio = formula_check(
        "cost_ratio", "cost_ratio: separable vs standard mult-adds", "cost_ratio",
        "cost_ratio(in_channels, out_channels, k=3)", "1/out + 1/k²", cost_ratio,
        RATIO_CASES, WRONG_RATIOS,
    )
    probes = [
        channelwise_check(SPEC, Case((16, 16), (2, 16, 6, 5), (2, 16, 6, 5)), "depthwise", DEPTHWISE),
        activation_check(SPEC, Case((8, 16), (4, 8, 6, 6), (4, 16, 6, 6)), RELU6),
    ]
    # cost_ratio first: it does not depend on the block, whose api check is a gate
    return [ratio, *block_checks(replace(SPEC, extra=probes))]
