"""Checks for 15_cbam: ChannelAttention, SpatialAttention, CBAM and CBAMBasicBlock."""

from dataclasses import replace

from resnet_kata.checks import Check, CheckFailed
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
from resnet_kata.checks.spec import Conv, Dense

from .attention import SA_BIAS, channel_checks, module_checks, reword_block, spatial_checks
from .flows import ca_gate, ca_scale, cbam_scale, sa_scale
from .wrong_flows import CA_WRONG_FLOWS, CBAM_WRONG_FLOWS, SA_WRONG_FLOWS


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

# (args, kwargs, hidden width) for the hidden-width check; the inputs of the gate probes
CHANNEL_HIDDEN = [((16,), {}, 1), ((8,), {"reduction": 16}, 1), ((64,), {"reduction": 16}, 4),
                  ((32,), {"reduction": 4}, 8), ((256,), {}, 16)]  # 256: the default 16, not 15 or 17
CHANNEL_GATE = Case((32,), (4, 32, 5, 6), kwargs={"reduction": 4})
CHANNEL_POOLING = Case((32,), (4, 32, 6, 6), kwargs={"reduction": 4})

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
        Case((256,), (1, 256, 3, 3)),  # the default reduction: hidden 16
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


ON_BRANCH = BranchModule(attr="cbam", name="CBAM", verb="refines", layers=cbam_layers, scale=cbam_scale)
_branch = ON_BRANCH.branch

WRONG = ON_BRANCH.wrong_flows({
    "only the channel gate is applied on the branch: `cbam.spatial` is skipped":
        lambda A, b, x, t: A.relu(ca_scale(A, b.cbam.channel, _branch(A, b, x, t))
                                  + shortcut(A, b, x, t)),
    "the channel gate is computed from the block's input x; CBAM takes bn2's output":
        lambda A, b, x, t: A.relu(
            sa_scale(A, b.cbam.spatial, _branch(A, b, x, t) * ca_gate(A, b.cbam.channel, x))
            + shortcut(A, b, x, t)
        ),
})

RULE_CASES = [
    Case((16, 16), (1, 16, 4, 4)),
    Case((8, 16), (1, 8, 4, 4)),
    Case((16, 16, 2), (1, 16, 5, 5)),
    Case((16, 8), (1, 16, 4, 4)),  # fewer channels: x cannot be added either
    # equal counts made separately: `in_channels is not out_channels` holds for ints above
    # 256 even when they are equal (CPython shares only the small ones)
    Case((int("300"), int("300")), (1, 300, 2, 2)),
]

SPEC = BlockSpec(
    cls="CBAMBasicBlock",
    signature="CBAMBasicBlock(in_channels, out_channels, stride=1, reduction=16)",
    attrs=("conv1", "bn1", "conv2", "bn2", "cbam", "downsample"),
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


def _rule_layers(*args, **kwargs) -> dict:
    """The block's layers for the shortcut rule, with CBAM as one unit: the rule counts the
    parameters outside the listed layers as shortcut parameters, and CBAM's own (a second
    MLP, a BN after the spatial conv) are not; the params check names those."""
    layers = {k: v for k, v in ON_BRANCH.block_layers(*args, **kwargs).items()
              if not k.startswith("cbam.")}
    return {**layers, "cbam": Dense(0, 0)}


SHORTCUT_WHERE = (" The parameters named here sit outside conv1, bn1, conv2, bn2 and cbam, where "
                  "only a shortcut could add them; extra parameters inside `cbam` are reported by "
                  "the params check, not here.")


def _shortcut_rule() -> Check:
    rule = projection_rule(replace(SPEC, layers=_rule_layers), RULE_CASES, basic_why, BASIC_RULE)
    inner = rule.run

    def run(ctx):
        try:
            return inner(ctx)
        except CheckFailed as exc:
            if "should have no shortcut parameters" in exc.message:
                exc.message += SHORTCUT_WHERE
                exc.args = (exc.message,)
            raise

    return replace(rule, run=run)


def checks(framework: str):
    block = insert_rule(reword_block(block_checks(SPEC), "cbam.spatial.conv"), _shortcut_rule())
    return [
        *channel_checks(CHANNEL, CHANNEL_HIDDEN, CHANNEL_GATE, CHANNEL_POOLING),
        *spatial_checks(SPATIAL, Case((), (3, 6, 7, 9))),
        *module_checks(CBAM_SPEC),
        *block,
    ]
