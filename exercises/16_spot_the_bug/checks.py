"""Checks for 16_spot_the_bug: four repaired answers per framework, one check each.

Each item runs the learner's repaired code on a few inputs and compares what it does
with what the statement asks; when it differs, the message names the flaw the
original answer had (or another known mistake). No item depends on another, so one
broken answer never hides the verdict on the others. Residual-block items reuse the
block battery (items.py); the other items are in driver_torch.py and driver_tf.py,
which import their framework inside their functions.
"""

from resnet_kata.checks import Check
from resnet_kata.checks.blocks import BlockSpec, Case
from resnet_kata.checks.residual import add_mistakes
from resnet_kata.checks.spec import BN, Conv, Seq

from .driver_tf import AudioCase, ClipRun, ClipSpec, audio_item, clipping_item
from .driver_torch import DepthSpec, depth_item, head_item
from .items import BlockItem, block_item, warmup_item
from .references import Warmup

# -- residual blocks: torch item 1 (the skip adds) and tf item 1 (a shortcut at every stride)


def _first(A, b, x, training):
    return A.relu(A.call(b.bn1, A.call(b.conv1, x, training), training))


def _branch(A, b, x, training):
    return A.call(b.bn2, A.call(b.conv2, _first(A, b, x, training), training), training)


def _identity(A, b, x, training):
    downsample = getattr(b, "downsample", None)
    return x if downsample is None else A.call(downsample, x, training)


def flow(A, b, x, training):
    return A.relu(_branch(A, b, x, training) + _identity(A, b, x, training))


# the named wrong wirings of a block with the right layers, for the battery's function check
BLOCK_MISTAKES = {
    **add_mistakes(_branch, "bn2"),
    "the skip adds relu(bn1(conv1(x))), the output of the first conv, instead of the block's "
    "input x; the shortcut carries x itself (or downsample(x)) to the add":
        lambda A, b, x, t: A.relu(
            A.call(b.bn2, A.call(b.conv2, _first(A, b, x, t), t), t) + _first(A, b, x, t)),
    "the ReLU comes before bn1 (conv1 - ReLU - bn1): each conv is followed by its BN, then the "
    "ReLU":
        lambda A, b, x, t: A.relu(A.call(b.bn2, A.call(b.conv2, A.call(
            b.bn1, A.relu(A.call(b.conv1, x, t)), t), t), t) + _identity(A, b, x, t)),
    "bn2 is applied after the add: it belongs on the branch, before the add, "
    "relu(bn2(conv2(.)) + shortcut)":
        lambda A, b, x, t: A.relu(A.call(b.bn2, A.call(
            b.conv2, _first(A, b, x, t), t) + _identity(A, b, x, t), t)),
    "x is added twice (once before the final ReLU and once after it)":
        lambda A, b, x, t: A.relu(_branch(A, b, x, t) + _identity(A, b, x, t)) + _identity(A, b, x, t),
}


def add_layers(channels: int) -> dict:
    return {"conv1": Conv(channels, channels, 3), "bn1": BN(channels),
            "conv2": Conv(channels, channels, 3), "bn2": BN(channels)}


def _concat_shape(case: Case, got: tuple) -> str:
    if len(got) == 4 and got[1] == 2 * case.in_shape[1]:
        return ("Twice the channels: the skip concatenates x to the branch (torch.cat), which is "
                "DenseNet's connection. A residual block adds, y = F(x) + x: same shape in and "
                "out, no extra parameters, the gradient reaches x unchanged.")
    return "A residual block at stride 1 returns its input's shape."


ADD_SPEC = BlockSpec(
    cls="ResidualBlock",
    signature="ResidualBlock(channels)",
    attrs=("conv1", "bn1", "conv2", "bn2"),
    layers=add_layers,
    flow=flow,
    shape_cases=[
        Case((8,), (4, 8, 6, 5), (4, 8, 6, 5)),
        Case((16,), (2, 16, 4, 4), (2, 16, 4, 4)),
        Case((3,), (1, 3, 1, 1), (1, 3, 1, 1)),
    ],
    function_cases=[Case((8,), (4, 8, 6, 5), (4, 8, 6, 5)), Case((16,), (2, 16, 4, 4), (2, 16, 4, 4))],
    count_formula="18C² + 4C: two 3x3 convs and two BNs, and nothing for the skip",
    wrong_flows=BLOCK_MISTAKES,
    zero_branch=("bn2", Case((8,), (4, 8, 5, 5), (4, 8, 5, 5))),
)

IN = 16  # the tf item 1 cases feed 16 channels, but ResidualBlock(WIDE) is fed WIDE
WIDE = 300


def shortcut_layers(filters: int, stride: int = 1) -> dict:
    cin = WIDE if filters == WIDE else IN
    project = stride != 1 or filters != cin
    return {
        "conv1": Conv(cin, filters, 3, stride), "bn1": BN(filters),
        "conv2": Conv(filters, filters, 3), "bn2": BN(filters),
        "downsample": Seq((Conv(cin, filters, 1, stride), BN(filters))) if project else None,
    }


def _shortcut_crash(case: Case, why: str) -> str:
    if "downsample" in why and "attribute" in why:
        return ("The block reads `self.downsample`, which only exists when the block is strided: "
                "every block needs the attribute (None when x is added as is).")
    if "shape" in why.lower():
        (_, c, h, w), (_, f, oh, ow) = case.in_shape, case.out_shape
        return (f"x ({c} channels, {h}x{w}) and the branch's output ({f} channels, {oh}x{ow}) "
                "cannot be added as they are: whenever the branch changes the shape, by a stride "
                "or by a change of channels, the 1x1 projection (with the block's stride) must "
                "bring x to it. The input's channels are known in build(input_shape).")
    return ""


def _shortcut_shape(case: Case, got: tuple) -> str:
    return "conv1 carries the stride, with padding=\"same\"; the output has `filters` channels."


SHORTCUT_SPEC = BlockSpec(
    cls="ResidualBlock",
    signature="ResidualBlock(filters, stride=1)",
    attrs=("conv1", "bn1", "conv2", "bn2", "downsample"),
    layers=shortcut_layers,
    flow=flow,
    shape_cases=[
        Case((16,), (2, 16, 6, 6), (2, 16, 6, 6)),
        Case((32,), (2, 16, 6, 5), (2, 32, 6, 5)),
        Case((32,), (1, 16, 7, 7), (1, 32, 4, 4), {"stride": 2}),
        Case((16,), (2, 16, 5, 8), (2, 16, 3, 4), {"stride": 2}),
        Case((8,), (2, 16, 5, 5), (2, 8, 5, 5)),
    ],
    function_cases=[
        Case((16,), (2, 16, 6, 6), (2, 16, 6, 6)),
        Case((32,), (2, 16, 6, 5), (2, 32, 6, 5)),
        Case((32,), (2, 16, 7, 7), (2, 32, 4, 4), {"stride": 2}),
        Case((8,), (2, 16, 5, 5), (2, 8, 5, 5)),  # fewer channels: x cannot be added either
        # equal counts made separately: `C_in is not filters` holds for ints above 256 even
        # when they are equal (CPython shares only the small ones)
        Case((int(str(WIDE)),), (1, WIDE, 2, 2), (1, WIDE, 2, 2)),
    ],
    count_formula="two 3x3 convs and two BNs, plus a 1x1 conv and a BN when the shape changes",
    wrong_flows=BLOCK_MISTAKES,
    likely={
        ("downsample", "missing"): "the shape changes here (a stride or a change of channels), so "
                                   "x needs the 1x1 projection",
        ("downsample", "present"): "x already has the branch's shape: it is added as is, with no "
                                   "parameters",
    },
    zero_branch=("bn2", Case((16,), (2, 16, 5, 5), (2, 16, 5, 5))),
)

# -- the per-epoch warmup: torch item 3 and tf item 4

WARMUPS = [
    Warmup(base=0.1, warmup=5, decay=0.5),
    Warmup(base=0.3, warmup=3, decay=0.1, epochs=6),
    Warmup(base=0.05, warmup=1, decay=0.9, epochs=4),
    Warmup(base=0.2, warmup=5, decay=0.5, epochs=8, defaults=True),  # the statement's defaults
]
WARMUP_LESSON = ("The rate rises linearly to base_lr over the warmup epochs, then decays by "
                 "`decay` per epoch, as a function of the epoch alone. Multiplying by 0.1 every "
                 "epoch is an exponential decay, not a warmup.")

# -- Keras item 2: 1-D sizes


def audio_counts(in_channels: int, num_classes: int) -> tuple[int, int]:
    convs = 64 * 3 * in_channels + 2 * 64 * 64 * 3
    return convs + 3 * 2 * 64 + 65 * num_classes, 3 * 2 * 64


AUDIO = [
    AudioCase((1, 10), (2, 1, 64), audio_counts(1, 10)),
    AudioCase((40, 12), (1, 40, 37), audio_counts(40, 12)),
    AudioCase((1, 10), (2, 1, 48), audio_counts(1, 10), defaults=True),  # audio_model()
]

# -- Keras item 3: clipping before the update

CLIP = ClipSpec(runs=(
    ClipRun(scale=30.0, max_norm=1.0, epochs=2, what="Exploding gradients"),
    ClipRun(scale=0.3, max_norm=1e3, epochs=1, what="Gradients under the bound"),
    # the signature's defaults: one epoch at 0.01 (32 points, one batch), and batches of 32
    ClipRun(scale=3.0, max_norm=1e3, epochs=1, what="The defaults", defaults=True, n=32),
    ClipRun(scale=1.0, max_norm=1e3, epochs=1, what="The default batch size", defaults=True),
))

# -- torch item 4: ResNet-18's layout

DEPTH = DepthSpec(
    name="resnet18", stages=(2, 2, 2, 2), params=11_689_512, tensors=62, entries=122,
    known={(3, 4, 6, 3): "ResNet-34 (21,797,672 parameters)"},
)


def checks(framework: str) -> list[Check]:
    if framework == "torch":
        return [
            Check("item1_skip", "Item 1: the skip connection adds", block_item(BlockItem(
                ADD_SPEC, crash=lambda case, why: "", shape=_concat_shape,
                lesson="The skip adds x: the block keeps its shape, adds no parameters, and "
                       "relu(x) comes out when the branch is zeroed, with the gradient flowing "
                       "through the identity. Concatenation is DenseNet's connection.",
            ))),
            Check("item2_head", "Item 2: a new head replaces fc", head_item(
                "replace_head", widths=(512, 2048), num_classes=7,
                lesson="`fc` is replaced by a fresh Linear on the pooled features (512 or 2048 "
                       "wide); no 1000-way layer is left and every pretrained key still loads "
                       "by name.",
            )),
            Check("item3_warmup", "Item 3: a LambdaLR that warms up", warmup_item(
                "warmup_scheduler", WARMUPS,
                lesson=WARMUP_LESSON + " LambdaLR multiplies the optimizer's rate by the factor "
                       "the lambda returns.",
            )),
            Check("item4_resnet18", "Item 4: ResNet-18's layout", depth_item(
                DEPTH,
                lesson="ResNet-18 has two basic blocks per stage: 1 + 2 x 8 + 1 = 18 weighted "
                       "layers and 11,689,512 parameters; (3, 4, 6, 3) is ResNet-34.",
            )),
        ]
    return [
        Check("item1_shortcut", "Item 1: a shortcut at every stride and width", block_item(BlockItem(
            SHORTCUT_SPEC, crash=_shortcut_crash, shape=_shortcut_shape,
            lesson="`downsample` exists in every block: None (no parameters) when x fits the branch, "
                   "a 1x1 conv and BN when the stride or the channel count changes, at stride 1 too.",
        ))),
        Check("item2_conv1d", "Item 2: 1-D layers for audio", audio_item(
            "audio_model", AUDIO, kernel=3, pool=2,
            lesson="Conv1D and MaxPooling1D take one integer per size (kernel 3, pool 2): the "
                   "model runs on (batch, time, channels) clips of any length.",
        )),
        Check("item3_clipping", "Item 3: clipping before the update", clipping_item(
            CLIP,
            lesson="The gradients are clipped to the global norm before SGD applies them, and "
                   "left alone under the bound. A callback runs after the update: it cannot clip.",
        )),
        Check("item4_warmup", "Item 4: a warmup for LearningRateScheduler", warmup_item(
            "warmup_schedule", WARMUPS, lesson=WARMUP_LESSON,
        )),
    ]
