"""Checks for 15_cbam: ChannelAttention, SpatialAttention, CBAM and CBAMBasicBlock."""

from grader.checks.blocks import BlockSpec, Case, TrainSpec, block_checks
from grader.checks.cbam import (
    CA_WRONG_FLOWS,
    CBAM_WRONG_FLOWS,
    SA_BIAS,
    SA_WRONG_FLOWS,
    ca_gate,
    ca_scale,
    cbam_scale,
    channel_checks,
    module_checks,
    reword_block,
    sa_scale,
    spatial_checks,
)
from grader.checks.probes import GateCases
from grader.checks.residual import SHORTCUT_LIKELY, add_mistakes, insert_rule, projection_rule, shortcut
from grader.checks.spec import BN, Conv, Dense, Seq


def hidden(channels: int, reduction: int = 16) -> int:
    return max(1, channels // reduction)


def channel_layers(channels: int, reduction: int = 16) -> dict:
    h = hidden(channels, reduction)
    return {"fc1": Dense(channels, h, conv_ok=True), "fc2": Dense(h, channels, conv_ok=True)}


def spatial_layers(kernel_size: int = 7) -> dict:
    return {"conv": Conv(2, 1, kernel_size)}


def cbam_layers(channels: int, reduction: int = 16, kernel_size: int = 7) -> dict:
    return {
        **{f"channel.{k}": v for k, v in channel_layers(channels, reduction).items()},
        **{f"spatial.{k}": v for k, v in spatial_layers(kernel_size).items()},
    }


MLP_LIKELY = {
    ("fc1", "bias"): "the shared MLP's fc1 and fc2 keep their biases (no BatchNorm follows them)",
    ("fc2", "bias"): "the shared MLP's fc1 and fc2 keep their biases (no BatchNorm follows them)",
    ("fc1", "channels"): "fc1 maps the C pooled values to max(1, C // reduction); the average and "
    "max descriptors each pass through it on their own (not concatenated)",
}
CONV_LIKELY = {
    ("conv", "channels"): "the conv reads the 2-channel map [mean over C, max over C] and writes "
    "1 channel, the gate",
    ("conv", "kernel"): "the conv is kernel_size x kernel_size (7 by default)",
    ("conv", "stride"): "the conv has stride 1: the gate keeps the input's H and W",
}

CHANNEL = BlockSpec(
    cls="ChannelAttention",
    signature="ChannelAttention(channels, reduction=16)",
    attrs=("fc1", "fc2"),
    layers=channel_layers,
    flow=lambda A, m, x, t: ca_scale(A, m, x),
    shape_cases=[
        Case((16,), (2, 16, 8, 8), (2, 16, 8, 8)),
        Case((32,), (1, 32, 7, 7), (1, 32, 7, 7), kwargs={"reduction": 4}),
        Case((8,), (3, 8, 5, 9), (3, 8, 5, 9)),
        Case((64,), (2, 64, 1, 1), (2, 64, 1, 1)),
    ],
    function_cases=[
        Case((32,), (4, 32, 6, 5), kwargs={"reduction": 4}),
        Case((8,), (3, 8, 5, 5)),
    ],
    count_formula="2·C·h + h + C with h = max(1, C // reduction): ONE MLP, fc1 and fc2 with biases",
    likely=MLP_LIKELY,
    wrong_flows=CA_WRONG_FLOWS,
)

CHANNEL_GATES = GateCases(
    hidden=[((16,), {}, 1), ((8,), {"reduction": 16}, 1), ((64,), {"reduction": 16}, 4),
            ((32,), {"reduction": 4}, 8)],
    gate=Case((32,), (4, 32, 5, 6), kwargs={"reduction": 4}),
    squeeze=Case((32,), (4, 32, 6, 6), kwargs={"reduction": 4}),
)

SPATIAL = BlockSpec(
    cls="SpatialAttention",
    signature="SpatialAttention(kernel_size=7)",
    attrs=("conv",),
    layers=spatial_layers,
    flow=lambda A, m, x, t: sa_scale(A, m, x),
    shape_cases=[
        Case((), (2, 16, 8, 8), (2, 16, 8, 8)),
        Case((), (1, 4, 7, 7), (1, 4, 7, 7)),
        Case((3,), (3, 8, 5, 9), (3, 8, 5, 9)),
        Case((), (2, 3, 4, 3), (2, 3, 4, 3)),
    ],
    function_cases=[
        Case((), (3, 16, 9, 7)),
        Case((3,), (2, 5, 6, 6)),
    ],
    count_formula="2·k·k: one k x k conv from the 2-channel [mean, max] map to 1 channel, no bias",
    likely={**CONV_LIKELY, ("conv", "bias"): SA_BIAS},
    wrong_flows=SA_WRONG_FLOWS,
)

CBAM_SPEC = BlockSpec(
    cls="CBAM",
    signature="CBAM(channels, reduction=16, kernel_size=7)",
    attrs=("channel", "spatial"),
    layers=cbam_layers,
    flow=lambda A, m, x, t: cbam_scale(A, m, x),
    shape_cases=[
        Case((16,), (2, 16, 8, 8), (2, 16, 8, 8)),
        Case((8,), (1, 8, 5, 9), (1, 8, 5, 9), kwargs={"kernel_size": 3}),
    ],
    function_cases=[
        Case((32,), (3, 32, 7, 6), kwargs={"reduction": 4}),
        Case((8,), (2, 8, 5, 5), kwargs={"kernel_size": 3}),
    ],
    count_formula="2·C·h + h + C for the channel MLP (h = max(1, C // reduction)) + 2·k·k for "
    "the spatial conv",
    likely={
        **{(f"channel.{p}", f): m for (p, f), m in MLP_LIKELY.items()},
        **{(f"spatial.{p}", f): m for (p, f), m in CONV_LIKELY.items()},
        ("spatial.conv", "bias"): SA_BIAS,
    },
    wrong_flows=CBAM_WRONG_FLOWS,
)


def block_layers(in_channels: int, out_channels: int, stride: int = 1, reduction: int = 16) -> dict:
    projection = stride != 1 or in_channels != out_channels
    cbam = {f"cbam.{k}": v for k, v in cbam_layers(out_channels, reduction).items()}
    return {
        "conv1": Conv(in_channels, out_channels, 3, stride=stride),
        "bn1": BN(out_channels),
        "conv2": Conv(out_channels, out_channels, 3),
        "bn2": BN(out_channels),
        **cbam,
        "downsample": Seq((Conv(in_channels, out_channels, 1, stride=stride), BN(out_channels)))
        if projection else None,
    }


def _first(A, b, x, t):
    return A.relu(A.call(b.bn1, A.call(b.conv1, x, t), t))


def _branch(A, b, x, t):
    return A.call(b.bn2, A.call(b.conv2, _first(A, b, x, t), t), t)


def _cbam(A, b, y):
    return cbam_scale(A, b.cbam, y)


def _cbam_branch(A, b, x, t):
    return _cbam(A, b, _branch(A, b, x, t))


def flow(A, b, x, t):
    return A.relu(_cbam_branch(A, b, x, t) + shortcut(A, b, x, t))


WRONG = {
    "CBAM refines the sum after the add; it belongs on the residual branch, after bn2 and "
    "before the add":
        lambda A, b, x, t: A.relu(_cbam(A, b, _branch(A, b, x, t) + shortcut(A, b, x, t))),
    "CBAM refines the block's output after the final ReLU; it belongs on the residual branch, "
    "after bn2 and before the add":
        lambda A, b, x, t: _cbam(A, b, A.relu(_branch(A, b, x, t) + shortcut(A, b, x, t))),
    "CBAM refines the shortcut instead of the residual branch":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t) + _cbam(A, b, shortcut(A, b, x, t))),
    "CBAM sits between conv2 and bn2; it goes after bn2":
        lambda A, b, x, t: A.relu(
            A.call(b.bn2, _cbam(A, b, A.call(b.conv2, _first(A, b, x, t), t)), t)
            + shortcut(A, b, x, t)
        ),
    "only the channel gate is applied on the branch: `cbam.spatial` is skipped":
        lambda A, b, x, t: A.relu(ca_scale(A, b.cbam.channel, _branch(A, b, x, t))
                                  + shortcut(A, b, x, t)),
    "the channel gate is computed from the block's input x; CBAM takes bn2's output":
        lambda A, b, x, t: A.relu(
            sa_scale(A, b.cbam.spatial, _branch(A, b, x, t) * ca_gate(A, b.cbam.channel, x))
            + shortcut(A, b, x, t)
        ),
    "CBAM is never applied: the branch skips `cbam`":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t) + shortcut(A, b, x, t)),
    **add_mistakes(_cbam_branch, "CBAM"),
}


def why(case: Case) -> str:
    cin, cout = case.args[:2]
    stride = case.args[2] if len(case.args) > 2 else case.kwargs.get("stride", 1)
    if stride != 1:
        return f"stride {stride} shrinks H and W"
    if cin != cout:
        return f"the channels change ({cin} -> {cout}) at stride 1"
    return f"stride 1 with {cin} channels in and out leaves x the branch's shape"


RULE = ("The rule (exercise 02): `downsample` = 1x1 conv (the block's stride, no bias) then BN "
        "exactly when stride != 1 or in_channels != out_channels; otherwise None.")

RULE_CASES = [
    Case((16, 16), (1, 16, 4, 4)),
    Case((8, 16), (1, 8, 4, 4)),
    Case((16, 16, 2), (1, 16, 5, 5)),
]

SPEC = BlockSpec(
    cls="CBAMBasicBlock",
    signature="CBAMBasicBlock(in_channels, out_channels, stride=1, reduction=16)",
    attrs=("conv1", "bn1", "conv2", "bn2", "cbam", "downsample"),
    layers=block_layers,
    flow=flow,
    shape_cases=[
        Case((16, 16), (2, 16, 8, 8), (2, 16, 8, 8)),
        Case((16, 32, 2), (1, 16, 7, 7), (1, 32, 4, 4)),
        Case((8, 16), (3, 8, 5, 9), (3, 16, 5, 9)),
        Case((4, 4), (2, 4, 1, 1), (2, 4, 1, 1)),
    ],
    function_cases=[
        Case((32, 32), (2, 32, 5, 6), (2, 32, 5, 6), kwargs={"reduction": 8}),
        Case((16, 32, 2), (4, 16, 7, 7), (4, 32, 4, 4), kwargs={"reduction": 4}),
    ],
    count_formula="9·in·out + 9·out² + 4·out for the convs and BNs, 2·out·h + h + out for the "
    "channel MLP (h = max(1, out // reduction)), 98 for the 7x7 spatial conv, plus in·out + 2·out "
    "for a projection",
    likely={
        **SHORTCUT_LIKELY,
        ("conv1", "stride"): "the stride belongs on conv1, the first 3x3 conv",
        ("conv2", "stride"): "conv2 has stride 1; the stride belongs on conv1",
        **{(f"cbam.{p}", f): m for (p, f), m in CBAM_SPEC.likely.items()},
        ("cbam.channel.fc1", "channels"): "`cbam` is CBAM(out_channels, reduction): fc1 maps out "
        "to max(1, out // reduction)",
    },
    wrong_flows=WRONG,
    zero_branch=("bn2", Case((16, 16), (4, 16, 5, 5), (4, 16, 5, 5), kwargs={"reduction": 4})),
    training=TrainSpec(
        blocks=lambda cls: [cls(8, 16, 2, reduction=4), cls(16, 16, reduction=4)], features=16
    ),
)


def checks(framework: str):
    block = insert_rule(reword_block(block_checks(SPEC), "cbam.spatial.conv"),
                        projection_rule(SPEC, RULE_CASES, why, RULE))
    return [
        *channel_checks(CHANNEL, CHANNEL_GATES),
        *spatial_checks(SPATIAL, Case((), (3, 6, 7, 9))),
        *module_checks(CBAM_SPEC),
        *block,
    ]
