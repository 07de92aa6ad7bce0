"""The ImageNet ResNets of 04_resnet: expected layers, stage shapes, reference flow, named mistakes.

The expected layers of any of them come from one closed form (`expected_layers`),
so a count, a structure diff or a key list is never typed in by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_kata.checks import spec as S
from resnet_kata.checks.networks import (
    Build,
    Network,
    Tap,
    layout_of,
    residual_block_flow,
    stage_blocks,
    stage_taps,
    stem_stages_head_flow,
)

STAGES = ("layer1", "layer2", "layer3", "layer4")
TRACE = ("stem", *STAGES, "pool", "fc")
STRIDES = (1, 2, 2, 2)
EXPANSION = {"basic": 1, "bottleneck": 4}
# (block, blocks per stage) of the ResNets of He et al., to name a layout a learner used
KNOWN = {
    "ResNet-18": ("basic", (2, 2, 2, 2)),
    "ResNet-34": ("basic", (3, 4, 6, 3)),
    "ResNet-50": ("bottleneck", (3, 4, 6, 3)),
    "ResNet-101": ("bottleneck", (3, 4, 23, 3)),
    "ResNet-152": ("bottleneck", (3, 8, 36, 3)),
}
WRONG = {
    "relu before add": "a block applies ReLU to its branch before the add (the ReLU belongs after it)",
    "no final relu": "a block returns branch + shortcut without the ReLU after the add",
    "no skip": "a block never adds its shortcut back",
    "no stem relu": "the stem has no ReLU between bn1 and the max pool",
    "shortcut bn skipped": (
        "a block's shortcut skips its BatchNorm: `downsample[1]` is never applied, only the 1x1 conv"
    ),
    "shortcut bn other mode": (
        "a block's shortcut BatchNorm ran in the other mode from the model's: do not call "
        ".eval()/.train() on `downsample` inside forward (Keras: downsample(x, training=training))"
    ),
    "pool by height": (
        "the global average pool uses a square window the size of the feature map's height "
        "(torch avg_pool2d(x, x.size(2)), Keras a pool_size of x.shape[1]): on a non-square map it "
        "averages only part of it. Average "
        "over all of H and W (a mean over dims (2, 3), AdaptiveAvgPool2d(1), "
        "GlobalAveragePooling2D)"
    ),
}


@dataclass(frozen=True)
class ResNetBuild(Build):
    """A builder call and the ResNet it should return."""

    block: str  # "basic" | "bottleneck"
    layout: tuple[int, ...]  # blocks per stage
    num_classes: int
    in_channels: int
    width: int

    @classmethod
    def of(cls, fn: str, block: str, layout: tuple[int, ...], defaults: dict[str, Any],
           **kwargs: Any) -> ResNetBuild:
        args = {**defaults, **kwargs}
        return cls(fn, tuple(kwargs.items()), block, tuple(args.get("layers", layout)),
                   args["num_classes"], args["in_channels"], args["width"])

    @property
    def expansion(self) -> int:
        return EXPANSION[self.block]

    def stage_channels(self) -> list[int]:
        return [self.width * 2**i * self.expansion for i in range(len(self.layout))]


def expected_layers(b: ResNetBuild) -> dict[str, S.Spec]:
    """Every layer of the ResNet `b` describes, by torchvision's path."""
    out: dict[str, S.Spec] = {
        "conv1": S.Conv(b.in_channels, b.width, 7, stride=2),
        "bn1": S.BN(b.width),
    }
    cin = b.width
    for i, (blocks, first_stride) in enumerate(zip(b.layout, STRIDES, strict=True)):
        planes = b.width * 2**i
        cout = planes * b.expansion
        for j in range(blocks):
            p = f"layer{i + 1}.{j}"
            s = first_stride if j == 0 else 1
            if b.block == "basic":
                out |= {f"{p}.conv1": S.Conv(cin, planes, 3, stride=s), f"{p}.bn1": S.BN(planes),
                        f"{p}.conv2": S.Conv(planes, planes, 3), f"{p}.bn2": S.BN(planes)}
            else:  # the stride on the 3x3 conv2, as torchvision ("v1.5")
                out |= {f"{p}.conv1": S.Conv(cin, planes, 1), f"{p}.bn1": S.BN(planes),
                        f"{p}.conv2": S.Conv(planes, planes, 3, stride=s),
                        f"{p}.bn2": S.BN(planes),
                        f"{p}.conv3": S.Conv(planes, cout, 1), f"{p}.bn3": S.BN(cout)}
            needs_projection = s != 1 or cin != cout
            out[f"{p}.downsample"] = (
                S.Seq((S.Conv(cin, cout, 1, stride=s), S.BN(cout))) if needs_projection else None
            )
            cin = cout
    out["fc"] = S.Dense(cin, b.num_classes)
    return out


def expected_trace(b: ResNetBuild, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Canonical output shape of each stage: every stride-2 step gives ceil(size / 2)."""
    n, sizes = in_shape[0], tuple(in_shape[2:])

    def half(s: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(-(-v // 2) for v in s)

    sizes = half(half(sizes))
    out = {"stem": (n, b.width, *sizes)}
    for i, ch in enumerate(b.stage_channels()):
        if STRIDES[i] == 2:
            sizes = half(sizes)
        out[f"layer{i + 1}"] = (n, ch, *sizes)
    out["pool"] = (n, b.stage_channels()[-1])
    out["fc"] = (n, b.num_classes)
    return out


def name_layout(block: str, layout: tuple[int, ...]) -> str:
    names = [n for n, (blk, lay) in KNOWN.items() if blk == block and lay == layout]
    return f" (the {names[0]} layout)" if names else ""


def layout_line(A: Any, model: Any, b: ResNetBuild) -> str:
    found = layout_of(A, model, STAGES)
    if found == b.layout:
        return ""
    return (f"Blocks per stage: yours {found}{name_layout(b.block, found)}, expected "
            f"{b.layout}{name_layout(b.block, b.layout)}.")


def _pools(A: Any) -> dict[str, Callable[[Any], Any]]:
    """The stem's max pool (3, stride 2, padding 1), as each framework may write it."""
    if A.name == "torch":
        from torch.nn import functional as F

        return {"padding 1": lambda x: F.max_pool2d(x, 3, 2, 1)}
    import keras

    ops = keras.ops

    def padded(x: Any) -> Any:
        return ops.max_pool(ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=-np.inf),
                            3, 2, padding="valid")

    return {'padding="same"': lambda x: ops.max_pool(x, 3, 2, padding="same"), "padding 1": padded}


def _block_flow(A: Any, blk: Any, x: Any, t: bool, bug: str) -> Any:
    """One block from its own layers; the shortcut's BN skipped or in the other mode for the
    two shortcut mistakes, the kit's flow (and its named mistakes) otherwise."""
    if bug not in ("shortcut bn skipped", "shortcut bn other mode"):
        return residual_block_flow(A, blk, x, t, bug)
    ds = A.get(blk, "downsample")
    if ds is None:
        return residual_block_flow(A, blk, x, t)
    convs = ["conv1", "conv2", "conv3"] if A.get(blk, "conv3") is not None else ["conv1", "conv2"]
    h = x
    for i, name in enumerate(convs, start=1):
        h = A.call(A.get(blk, f"bn{i}"), A.call(A.get(blk, name), h, t), t)
        if i < len(convs):
            h = A.relu(h)
    short = A.call(A.get(ds, "0"), x, t)
    if bug == "shortcut bn other mode":
        bn = A.get(ds, "1")
        A.set_mode(bn, not t)
        try:
            short = A.call(bn, short, not t)
        finally:
            A.set_mode(bn, t)
    return A.relu(h + short)


def _square_pool(A: Any, h: Any) -> Any:
    """An average pool whose window is the map's height (the wrong global pool), flattened."""
    if A.name == "torch":
        from torch.nn import functional as F

        return F.avg_pool2d(h, int(h.shape[2])).flatten(1)
    import keras

    pooled = keras.ops.average_pool(h, int(h.shape[1]), padding="valid")
    if int(pooled.shape[1]) * int(pooled.shape[2]) != 1:
        raise ValueError("not one window")
    return keras.ops.reshape(pooled, (int(pooled.shape[0]), -1))


def network_flow(A: Any, model: Any, x: Any, t: bool, pool: Callable[[Any], Any],
                 mistake: str = "") -> Any:
    """The ResNet from the learner's own layers, or one of its named wrong versions."""
    if mistake not in ("shortcut bn skipped", "shortcut bn other mode", "pool by height"):
        return stem_stages_head_flow(A, model, x, t, pool, STAGES, mistake)
    h = pool(A.relu(A.call(model.bn1, A.call(model.conv1, x, t), t)))
    for stage in STAGES:
        for blk in stage_blocks(A, model, stage):
            h = _block_flow(A, blk, h, t, mistake)
    pooled = _square_pool(A, h) if mistake == "pool by height" else A.flatten(A.spatial_mean(h))
    return A.call(model.fc, pooled, t)


class ResNet(Network):
    """resnet18/34/50 as torchvision writes them, in 2-D."""

    stages = TRACE
    summary_stages = STAGES
    first_stage = "the stem"
    classifier = "fc"
    classifier_why = "torchvision's name, the key its pretrained weights load into"
    flow_text = ("conv1, bn1, ReLU, max pool, every block of layer1..layer4, global average pool, "
                 "fc")
    flow_advice = ("Compare your forward with the statement's order: a ReLU after bn1 and after "
                   "each block's add, the shortcut added before that ReLU, the max pool in the stem.")
    graph_cut = "a shortcut or a stage is cut from the graph"
    mistakes = WRONG

    def layers(self, b: ResNetBuild) -> dict[str, S.Spec]:
        return expected_layers(b)

    def trace(self, b: ResNetBuild, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return expected_trace(b, in_shape)

    def small_input(self, b: ResNetBuild) -> tuple[int, ...]:
        """The smallest input every stage still sees (32x32)."""
        return (1, b.in_channels, 32, 32)

    def taps(self, A: Any, model: Any) -> list[Tap]:
        return stage_taps(A, model, STAGES, head="fc", stem_row="stem", pool_row="pool")

    def variants(self, A: Any, b: ResNetBuild) -> dict[str, Any]:
        return _pools(A)

    def flow(self, A: Any, model: Any, x: Any, training: bool, variant: Any, mistake: str = ""
             ) -> Any:
        return network_flow(A, model, x, training, variant, mistake)

    def layout_line(self, A: Any, model: Any, b: ResNetBuild) -> str:
        return layout_line(A, model, b)

    def known_count(self, b: ResNetBuild, framework: str, count: int) -> str:
        for name, (block, layout) in KNOWN.items():
            other = ResNetBuild(b.fn, b.kwargs, block, layout, b.num_classes, b.in_channels, b.width)
            if (block, layout) != (b.block, b.layout) and \
                    S.expected_counts(expected_layers(other), framework)[0] == count:
                return f" {count:,} is exactly {name}'s count with these arguments."
        return ""

    def likely(self, b: ResNetBuild, path: str, fld: str) -> str:
        leaf = path.rsplit(".", 1)[-1]
        in_block = path.startswith("layer")
        if fld == "stride" and in_block and b.block == "bottleneck" and leaf in ("conv1", "conv2"):
            return ("in a Bottleneck the stride belongs on the 3x3 conv2 (torchvision's v1.5); "
                    "a strided 1x1 conv1 (the paper's v1, keras.applications) skips 3 of every 4 pixels")
        if fld == "stride" and in_block and leaf in ("conv1", "conv2"):
            return "in a BasicBlock the stride belongs on conv1, the first of its two convs"
        if fld == "missing" and leaf == "downsample":
            return ("this block changes the shape (stride 2 or more channels), so its shortcut needs "
                    "a 1x1 conv (with the block's stride) + BN, named `downsample`")
        if fld == "present" and leaf == "downsample":
            return "the shape does not change here, so the shortcut is the identity (no parameters)"
        if fld == "channels" and path.endswith("downsample.1"):
            return ("the projection's BatchNorm normalises the 1x1 conv's output channels; None means "
                    "it was never called (Keras creates a layer's weights on its first call): the "
                    "shortcut is downsample(x, training=training), the conv then its BatchNorm")
        if path == "conv1" and fld == "kernel":
            return "the stem is one 7x7 conv with stride 2 (the ImageNet ResNet; not a CIFAR-style 3x3)"
        if path == "fc" and fld == "channels":
            return "fc maps the pooled channels of layer4 to num_classes"
        return ""

    def stage_hint(self, A: Any, b: ResNetBuild, model: Any, stage: str,
                   got: tuple[int, ...] | None, want: dict[str, tuple[int, ...]],
                   in_shape: tuple[int, ...]) -> str:
        if got is None:
            return f"`{stage}` never ran: is it called in forward/call, in order?"
        w = want[stage]
        if stage == "pool":
            prev = want["layer4"]
            if len(got) != 2:
                return ("The features reaching `fc` should be (N, C): a global average over H and W, "
                        "then flatten.")
            if got[1] == math.prod(prev[1:]) and math.prod(prev[2:]) > 1:
                return ("The features were flattened without the global average pool: that ties "
                        "the model to one input size. Average over H and W first.")
            if got[1] in prev[2:] and got[1] != w[1]:
                return ("The pool averaged over the channels instead of space: torch averages "
                        "dims (2, 3), Keras axes (1, 2).")
            return f"`fc` receives {got[1]} features; layer4 outputs {prev[1]} channels."
        if stage == "fc":
            return f"`fc` should output num_classes={b.num_classes} values per example."
        if len(got) != len(w):
            return f"The {stage} output has {len(got)} dimensions, expected {len(w)}."
        if got[1] != w[1]:
            if stage == "stem":
                return f"conv1 should output width={b.width} channels."
            i = int(stage[-1])
            rule = f"width x {2 ** (i - 1)}" + (" x 4 (the bottleneck's expansion)"
                                                if b.block == "bottleneck" else "")
            return f"{stage} should output {w[1]} channels ({rule})."
        ins = tuple(in_shape[2:])
        if stage == "stem":
            stride = getattr(A.info(A.get(model, "conv1")), "stride", ())
            halved = tuple(-(-v // 2) for v in ins)
            if tuple(got[2:]) == halved:
                if stride and all(s == 2 for s in stride):
                    return ("The stem shrinks the input only 2x: the max pool (3, stride 2, padding 1) "
                            "after the stem's ReLU is missing.")
                return "The stem shrinks the input only 2x: conv1 needs stride 2."
            if tuple(got[2:]) == ins:
                return "The stem does not shrink the input: conv1 needs stride 2 and the max pool stride 2."
            return ("The stem should shrink the input 4x: conv1 7, stride 2, padding 3 "
                    "(Keras: padding=\"same\"), then max pool 3, stride 2, padding 1.")
        i = int(stage[-1])
        before = want["stem"] if i == 1 else want[f"layer{i - 1}"]
        if STRIDES[i - 1] == 1:
            return (f"{stage} must keep the size (stride 1: the max pool already downsampled); "
                    "a stride of 2 belongs to the first block of layer2, layer3 and layer4.")
        if tuple(got[2:]) == tuple(before[2:]):
            where = "the 3x3 conv2" if b.block == "bottleneck" else "conv1"
            return (f"{stage} does not halve the size: its first block needs stride 2, on {where} "
                    "and on the downsample conv.")
        return f"{stage} should halve the size exactly once, in its first block."


NET = ResNet()
