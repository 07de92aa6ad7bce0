"""The 1-D ResNet of 05_resnet1d_audio: expected layers, stage lengths, reference flow, named mistakes.

ResNet-18's layout over time (basic blocks, any blocks per stage): the expected
layers come from one closed form (`expected_layers`), so a count or a structure
diff is never typed in by hand.
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
# blocks per stage of the basic-block ResNets of He et al., to name a layout a learner used
KNOWN = {"ResNet-18": (2, 2, 2, 2), "ResNet-34": (3, 4, 6, 3)}
WRONG = {
    "relu before add": "a block applies ReLU to its branch before the add (the ReLU belongs after it)",
    "no final relu": "a block returns branch + shortcut without the ReLU after the add",
    "no skip": "a block never adds its shortcut back",
    "no stem relu": "the stem has no ReLU between bn1 and the max pool",
    "max over time": "the head takes the MAXIMUM over time; the global pool is an average "
                     "(torch x.mean(dim=2), Keras ops.mean(x, axis=1))",
}


@dataclass(frozen=True)
class Net1DBuild(Build):
    """A constructor call and the 1-D ResNet it should return."""

    layout: tuple[int, ...]  # blocks per stage
    num_classes: int
    in_channels: int
    width: int

    @classmethod
    def of(cls, fn: str, defaults: dict[str, Any], **kwargs: Any) -> Net1DBuild:
        args = {**defaults, **kwargs}
        return cls(fn, tuple(kwargs.items()), tuple(args["layers"]), args["num_classes"],
                   args["in_channels"], args["width"])

    def stage_channels(self) -> list[int]:
        return [self.width * 2**i for i in range(len(self.layout))]


def expected_layers(b: Net1DBuild) -> dict[str, S.Spec]:
    """Every layer of the network `b` describes, by path (torchvision's names, in 1-D)."""
    out: dict[str, S.Spec] = {
        "conv1": S.Conv(b.in_channels, b.width, 7, stride=2, dims=1),
        "bn1": S.BN(b.width),
    }
    cin = b.width
    for i, (blocks, first_stride) in enumerate(zip(b.layout, STRIDES, strict=True)):
        cout = b.width * 2**i
        for j in range(blocks):
            p = f"layer{i + 1}.{j}"
            s = first_stride if j == 0 else 1
            out |= {f"{p}.conv1": S.Conv(cin, cout, 3, stride=s, dims=1), f"{p}.bn1": S.BN(cout),
                    f"{p}.conv2": S.Conv(cout, cout, 3, dims=1), f"{p}.bn2": S.BN(cout)}
            needs_projection = s != 1 or cin != cout
            out[f"{p}.downsample"] = (
                S.Seq((S.Conv(cin, cout, 1, stride=s, dims=1), S.BN(cout))) if needs_projection
                else None
            )
            cin = cout
    out["fc"] = S.Dense(cin, b.num_classes)
    return out


def expected_trace(b: Net1DBuild, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Canonical output shape of each stage: every stride-2 step gives ceil(length / 2)."""
    n, length = in_shape[0], in_shape[2]

    def half(v: int) -> int:
        return -(-v // 2)

    length = half(half(length))
    out = {"stem": (n, b.width, length)}
    for i, ch in enumerate(b.stage_channels()):
        if STRIDES[i] == 2:
            length = half(length)
        out[f"layer{i + 1}"] = (n, ch, length)
    out["pool"] = (n, b.stage_channels()[-1])
    out["fc"] = (n, b.num_classes)
    return out


def name_layout(layout: tuple[int, ...]) -> str:
    names = [n for n, lay in KNOWN.items() if lay == layout]
    return f" (the {names[0]} layout)" if names else ""


def _pools(A: Any) -> dict[str, Callable[[Any], Any]]:
    """The stem's max pool (3, stride 2, padding 1), as each framework may write it."""
    if A.name == "torch":
        from torch.nn import functional as F

        return {"padding 1": lambda x: F.max_pool1d(x, 3, 2, 1)}
    import keras

    ops = keras.ops

    def padded(x: Any) -> Any:
        return ops.max_pool(ops.pad(x, [[0, 0], [1, 1], [0, 0]], constant_values=-np.inf), 3, 2,
                            padding="valid")

    return {'padding="same"': lambda x: ops.max_pool(x, 3, 2, padding="same"), "padding 1": padded}


class ResNet1DNet(Network):
    """ResNet-18's layout over time: 1-D convs, a global average over time, logits."""

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

    def layers(self, b: Net1DBuild) -> dict[str, S.Spec]:
        return expected_layers(b)

    def trace(self, b: Net1DBuild, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return expected_trace(b, in_shape)

    def small_input(self, b: Net1DBuild) -> tuple[int, ...]:
        """The smallest input every stage still sees (64 steps)."""
        return (1, b.in_channels, 64)

    def taps(self, A: Any, model: Any) -> list[Tap]:
        return stage_taps(A, model, STAGES, head="fc", stem_row="stem", pool_row="pool")

    def variants(self, A: Any, b: Net1DBuild) -> dict[str, Any]:
        return _pools(A)

    def flow(self, A: Any, model: Any, x: Any, training: bool, variant: Any, mistake: str = ""
             ) -> Any:
        if mistake == "max over time":
            h = variant(A.relu(A.call(model.bn1, A.call(model.conv1, x, training), training)))
            for stage in STAGES:
                for blk in stage_blocks(A, model, stage):
                    h = residual_block_flow(A, blk, h, training)
            return A.call(model.fc, A.flatten(A.spatial_max(h)), training)
        return stem_stages_head_flow(A, model, x, training, variant, STAGES, mistake)

    def layout_line(self, A: Any, model: Any, b: Net1DBuild) -> str:
        found = layout_of(A, model, STAGES)
        if found == b.layout:
            return ""
        return (f"Blocks per stage: yours {found}{name_layout(found)}, expected "
                f"{b.layout}{name_layout(b.layout)}.")

    def known_count(self, b: Net1DBuild, framework: str, count: int) -> str:
        for name, layout in KNOWN.items():
            other = Net1DBuild(b.fn, b.kwargs, layout, b.num_classes, b.in_channels, b.width)
            if layout != b.layout and S.expected_counts(expected_layers(other), framework)[0] == count:
                return f" {count:,} is exactly {name}'s count with these arguments."
        return ""

    def likely(self, b: Net1DBuild, path: str, fld: str) -> str:
        leaf = path.rsplit(".", 1)[-1]
        if fld == "stride" and path.startswith("layer") and leaf in ("conv1", "conv2"):
            return "in a BasicBlock the stride belongs on conv1, the first of its two convs"
        if fld == "missing" and leaf == "downsample":
            return ("this block changes the shape (stride 2 or more channels), so its shortcut needs "
                    "a 1x1 conv (with the block's stride) + BN, named `downsample`")
        if fld == "present" and leaf == "downsample":
            return "the shape does not change here, so the shortcut is the identity (no parameters)"
        if fld in ("kind", "kernel"):
            return ("a 1-D network uses Conv1d/Conv1D with one integer kernel size "
                    "(kernel_size=3, not (3, 3))")
        if path == "fc" and fld == "channels":
            return "fc maps the pooled channels of layer4 to num_classes"
        return ""

    def stage_hint(self, A: Any, b: Net1DBuild, model: Any, stage: str,
                   got: tuple[int, ...] | None, want: dict[str, tuple[int, ...]],
                   in_shape: tuple[int, ...]) -> str:
        if got is None:
            return f"`{stage}` never ran: is it called in forward/call, in order?"
        w = want[stage]
        if stage == "pool":
            prev = want["layer4"]
            if len(got) != 2:
                return ("The features reaching `fc` should be (N, C): a global average over time, "
                        "then flatten.")
            if got[1] == math.prod(prev[1:]) and math.prod(prev[2:]) > 1:
                return ("The features were flattened without the global average pool: that ties "
                        "the model to one input length. Average over time first.")
            if got[1] in prev[2:] and got[1] != w[1]:
                return ("The pool averaged over the channels instead of time: torch averages "
                        "dim=2 of (N, C, L), Keras axis=1 of (N, L, C).")
            return f"`fc` receives {got[1]} features; layer4 outputs {prev[1]} channels."
        if stage == "fc":
            return f"`fc` should output num_classes={b.num_classes} values per example."
        if len(got) != len(w):
            return f"The {stage} output has {len(got)} dimensions, expected {len(w)}."
        if got[1] != w[1]:
            if stage == "stem":
                return f"conv1 should output width={b.width} channels."
            i = int(stage[-1])
            return f"{stage} should output {w[1]} channels (width x {2 ** (i - 1)})."
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
            return (f"{stage} must keep the length (stride 1: the max pool already downsampled); "
                    "a stride of 2 belongs to the first block of layer2, layer3 and layer4.")
        if tuple(got[2:]) == tuple(before[2:]):
            return (f"{stage} does not halve the length: its first block needs stride 2, on conv1 "
                    "and on the downsample conv.")
        return f"{stage} should halve the length exactly once, in its first block."


NET = ResNet1DNet()
