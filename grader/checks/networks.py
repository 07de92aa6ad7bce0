"""The check battery for a whole ResNet (2-D or 1-D), written once for both frameworks.

An exercise lists the models the grader builds (`Build`: the learner's builder,
its arguments and the layout it should produce) in a `NetSpec` and gets, in
order: api, a per-stage shape trace, exact parameter counts with a per-layer
diff, torchvision's state_dict keys (torch, when a reference list is given),
structure, function (the whole network's data flow recomputed from the
learner's own layers), gradients and a training run.

The expected layers of any ResNet come from one closed form (`expected_layers`),
so a count, a structure diff or a key list is never typed in by hand.
"""

from __future__ import annotations

import json
import math
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import Check, Context, close, fail, fmt_shape, max_rel_diff
from . import spec as S
from . import training as T

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
TRACE = ("stem", "layer1", "layer2", "layer3", "layer4", "pool", "fc")
MAX_LINES = 12


@dataclass(frozen=True)
class Build:
    """One model the grader builds: `fn(**kwargs)` and the network it should be."""

    fn: str  # the learner's builder function or class
    kwargs: tuple[tuple[str, Any], ...]
    block: str  # "basic" | "bottleneck"
    layout: tuple[int, ...]  # blocks per stage
    num_classes: int
    in_channels: int
    width: int
    dims: int = 2

    @classmethod
    def of(cls, fn: str, block: str, layout: tuple[int, ...], defaults: dict[str, Any],
           dims: int = 2, **kwargs: Any) -> Build:
        args = {**defaults, **kwargs}
        return cls(fn, tuple(kwargs.items()), block, tuple(args.get("layers", layout)),
                   args["num_classes"], args["in_channels"], args["width"], dims)

    def text(self) -> str:
        return f"{self.fn}({', '.join(f'{k}={v!r}' for k, v in self.kwargs)})"

    @property
    def expansion(self) -> int:
        return EXPANSION[self.block]

    def stage_channels(self) -> list[int]:
        return [self.width * 2**i * self.expansion for i in range(len(self.layout))]

    def small_input(self, batch: int = 1) -> tuple[int, ...]:
        """The smallest input every stage still sees (32x32, or 64 steps in 1-D)."""
        return (batch, self.in_channels, *([64] if self.dims == 1 else [32, 32]))


def expected_layers(b: Build) -> dict[str, S.Spec]:
    """Every layer of the ResNet `b` describes, by torchvision's path."""
    d = b.dims
    out: dict[str, S.Spec] = {
        "conv1": S.Conv(b.in_channels, b.width, 7, stride=2, dims=d),
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
                out |= {f"{p}.conv1": S.Conv(cin, planes, 3, stride=s, dims=d), f"{p}.bn1": S.BN(planes),
                        f"{p}.conv2": S.Conv(planes, planes, 3, dims=d), f"{p}.bn2": S.BN(planes)}
            else:  # the stride on the 3x3 conv2, as torchvision ("v1.5")
                out |= {f"{p}.conv1": S.Conv(cin, planes, 1, dims=d), f"{p}.bn1": S.BN(planes),
                        f"{p}.conv2": S.Conv(planes, planes, 3, stride=s, dims=d),
                        f"{p}.bn2": S.BN(planes),
                        f"{p}.conv3": S.Conv(planes, cout, 1, dims=d), f"{p}.bn3": S.BN(cout)}
            needs_projection = s != 1 or cin != cout
            out[f"{p}.downsample"] = (
                S.Seq((S.Conv(cin, cout, 1, stride=s, dims=d), S.BN(cout))) if needs_projection
                else None
            )
            cin = cout
    out["fc"] = S.Dense(cin, b.num_classes)
    return out


def expected_trace(b: Build, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
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


@dataclass
class NetTrain:
    """A short training run of a model built by the learner's own builder."""

    build: Build
    data: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    in_shape: tuple[int, ...]
    steps: int
    target: float
    task: str
    batch: int = 32
    lr: float = 1e-2
    gpu_build: Build | None = None  # what to train instead when a GPU is there


@dataclass
class NetSpec:
    fns: tuple[str, ...]  # the names the learner's file must define
    signature: str  # shown when a constructor call fails
    api: Build
    attrs: tuple[str, ...]
    traces: list[tuple[Build, tuple[int, ...]]]
    counts: list[Build]
    structure: list[Build]
    function: list[tuple[Build, tuple[int, ...]]]
    # (name, build) pairs checked key for key against a measured state_dict (torch)
    reference: Path | None = None
    reference_builds: list[tuple[str, Build]] = field(default_factory=list)
    # (substring of an exception's text, sentence naming the likely mistake)
    error_hints: list[tuple[str, str]] = field(default_factory=list)
    training: NetTrain | None = None


# -- building ------------------------------------------------------------------


def _canon(A: Any, shape: Any) -> tuple[int, ...] | None:
    """A framework tensor's shape in the canonical channels-first layout."""
    try:
        s = tuple(int(v) if v is not None else -1 for v in shape)
    except TypeError:
        return None
    if A.channels_last and len(s) >= 3:
        s = (s[0], s[-1], *s[1:-1])
    return s


def shown(A: Any, shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "-"
    if A.channels_last and len(shape) >= 3:
        shape = (shape[0], *shape[2:], shape[1])
    return fmt_shape(shape)


def raised(ctx: Context, exc: BaseException) -> str:
    """An exception in one line, with the learner's line that raised it."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    if text.startswith("Exception encountered when calling"):  # Keras wraps the original
        parts = [p.strip() for p in text.split("\n\n")]
        inner = [p for p in parts[1:] if not p.startswith("Arguments received")]
        text = inner[0] if inner else parts[0]
    first = text.splitlines()[0] if text else ""
    where = ""
    mine = getattr(ctx.module, "__file__", None)
    if mine:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if f.filename and Path(f.filename).resolve() == Path(mine).resolve()]
        if frames:
            f = frames[-1]
            where = f" ({Path(mine).name}, line {f.lineno}" + (f": `{f.line.strip()}`)" if f.line else ")")
    return f"{type(exc).__name__}: {first}{where}"


def _hint(spec: NetSpec, text: str) -> str:
    found = [h for key, h in spec.error_hints if key in text]
    return f" {found[0]}" if found else ""


def construct(ctx: Context, spec: NetSpec, b: Build) -> Any:
    fn = ctx.get(b.fn, "builder")
    try:
        model = fn(**dict(b.kwargs))
    except NotImplementedError:
        raise  # the worker says "not implemented yet" and shows the TODO's line
    except TypeError as exc:
        fail(f"`{b.text()}` raised TypeError: {exc}. The statement's signature is "
             f"`{spec.signature}`.")
    except Exception as exc:  # noqa: BLE001 - the learner's constructor may raise anything
        text = raised(ctx, exc)
        fail(f"`{b.text()}` raised {text}.{_hint(spec, text)}")
    if not ctx.A.is_model(model):
        fail(f"`{b.text()}` must return a {ctx.A.module_base}; got {type(model).__name__}.")
    return model


def prepared(ctx: Context, spec: NetSpec, b: Build, in_shape: tuple[int, ...] | None = None) -> Any:
    """The learner's model for `b`, weights created (Keras) and on the device.

    Built once per grading and shared by the checks (each restores what it
    changes): Keras takes seconds to create a ResNet-50's weights. A model
    built for one input size takes any other.
    """
    key = ("model", b)
    if key in ctx.store:
        return ctx.store[key]
    model = construct(ctx, spec, b)
    shape = in_shape or b.small_input()
    try:
        model = ctx.A.prepare(model, shape)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001
        text = raised(ctx, exc)
        fail(f"Calling `{b.text()}` on an input of shape {shown(ctx.A, shape)} raised "
             f"{text}.{_hint(spec, text)} The `shapes` check traces where it goes wrong.")
    ctx.store[key] = model
    return model


def stage_blocks(A: Any, model: Any, stage: int) -> list[Any]:
    blocks = []
    while (blk := A.get(model, f"layer{stage}.{len(blocks)}")) is not None:
        blocks.append(blk)
    return blocks


def layout_of(A: Any, model: Any) -> tuple[int, ...]:
    return tuple(len(stage_blocks(A, model, i)) for i in range(1, 5))


def name_layout(block: str, layout: tuple[int, ...]) -> str:
    names = [n for n, (blk, lay) in KNOWN.items() if blk == block and lay == layout]
    return f" (the {names[0]} layout)" if names else ""


# -- the per-stage shape trace -------------------------------------------------


def _tap(A: Any, layer: Any, on_in: Callable[[Any], None], on_out: Callable[[Any], None]
         ) -> Callable[[], None]:
    """Watch one layer's input and output while the learner's own forward runs."""
    if A.name == "torch":
        def pre(module: Any, args: tuple[Any, ...]) -> None:  # returning None keeps the input
            on_in(args[0] if args else None)

        def post(module: Any, args: tuple[Any, ...], out: Any) -> None:
            on_out(out)

        h1, h2 = layer.register_forward_pre_hook(pre), layer.register_forward_hook(post)
        return lambda: (h1.remove(), h2.remove())
    # Keras layers have no hooks; wrap this instance's `call` (undone by deleting it)
    original = layer.call

    def call(*args: Any, **kwargs: Any) -> Any:
        on_in(args[0] if args else None)
        out = original(*args, **kwargs)
        on_out(out)
        return out

    layer.call = call
    return lambda: layer.__dict__.pop("call", None)


def _stage_ends(A: Any, model: Any, stage: int) -> tuple[Any, Any]:
    """(layer whose input is the stage's input, layer whose output is its output).

    The first and last blocks rather than the container, so a forward that loops
    over a stage's blocks itself is traced too.
    """
    blocks = stage_blocks(A, model, stage)
    if blocks:
        return blocks[0], blocks[-1]
    layer = A.get(model, f"layer{stage}")
    return layer, layer


def trace(ctx: Context, spec: NetSpec, b: Build, in_shape: tuple[int, ...]
          ) -> tuple[dict[str, tuple[int, ...] | None], tuple[int, ...] | None, Any, str]:
    """Run the learner's model once in eval mode, recording each stage's output shape.

    Returns (shapes by stage, the model's output shape, the model, where it
    raised and what: "" if it did not).
    """
    A = ctx.A
    cached = ctx.store.get(("model", b))
    model = cached if cached is not None else construct(ctx, spec, b)
    seen: dict[str, tuple[int, ...] | None] = {}
    entered: list[str] = []
    taps: dict[int, tuple[Any, list[Callable[[Any], None]], list[Callable[[Any], None]]]] = {}

    def watch(layer: Any, on_in: Callable[[Any], None] | None = None,
              on_out: Callable[[Any], None] | None = None) -> None:
        if layer is None or not A.is_model(layer):
            return
        entry = taps.setdefault(id(layer), (layer, [], []))
        entry[1].extend([on_in] if on_in else [])
        entry[2].extend([on_out] if on_out else [])

    def rec(name: str) -> Callable[[Any], None]:
        return lambda t: seen.__setitem__(name, _canon(A, getattr(t, "shape", ())))

    def enter(name: str) -> Callable[[Any], None]:
        return lambda t: entered.append(name)

    for i in range(1, 5):
        first, last = _stage_ends(A, model, i)
        watch(first, enter(f"layer{i}"))
        watch(last, on_out=rec(f"layer{i}"))
    watch(_stage_ends(A, model, 1)[0], rec("stem"))
    watch(A.get(model, "fc"), enter("fc"), rec("fc"))
    watch(A.get(model, "fc"), rec("pool"))
    undo = [
        _tap(A, layer, lambda t, fs=ins: [f(t) for f in fs], lambda t, fs=outs: [f(t) for f in fs])
        for layer, ins, outs in taps.values()
    ]
    out_shape, where = None, ""
    try:
        if cached is None:
            model = A.prepare(model, in_shape)
            seen.clear()
            entered.clear()
        out_shape = tuple(A.forward(model, np.zeros(in_shape, np.float32), False).shape)
        if cached is None:
            ctx.store[("model", b)] = model
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported with the trace up to the failure
        where = (entered[-1] if entered else "the stem") + ": " + raised(ctx, exc)
    finally:
        for u in reversed(undo):
            u()
    return seen, out_shape, model, where


def _trace_table(A: Any, want: dict[str, tuple[int, ...]], got: dict[str, Any]) -> str:
    rows = [("stage", "yours", "expected")]
    rows += [(name, shown(A, got.get(name)), shown(A, want[name])) for name in TRACE]
    w0, w1 = (max(len(r[i]) for r in rows) for i in (0, 1))
    lines = []
    for r in rows:
        mark = "" if r is rows[0] or r[1] in (r[2], "-") else "   <- differs"
        lines.append(f"    {r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}{mark}")
    return "\n".join(lines)


def _stage_hint(A: Any, b: Build, model: Any, stage: str, got: tuple[int, ...] | None,
                want: dict[str, tuple[int, ...]], in_shape: tuple[int, ...]) -> str:
    """The likely mistake behind the first stage whose shape is off."""
    size = "length" if b.dims == 1 else "size"
    if got is None:
        return f"`{stage}` never ran: is it called in forward/call, in order?"
    w = want[stage]
    if stage == "pool":
        prev = want["layer4"]
        if len(got) != 2:
            return ("The features reaching `fc` should be (N, C): a global average over "
                    + ("time" if b.dims == 1 else "H and W") + ", then flatten.")
        if got[1] == math.prod(prev[1:]) and math.prod(prev[2:]) > 1:
            return ("The features were flattened without the global average pool: that ties "
                    f"the model to one input {size}. Average over "
                    + ("time" if b.dims == 1 else "H and W") + " first.")
        if got[1] in prev[2:] and got[1] != w[1]:
            return ("The pool averaged over the channels instead of "
                    + ("time" if b.dims == 1 else "space")
                    + (": torch averages dim=2 of (N, C, L), Keras axis=1 of (N, L, C)." if b.dims == 1
                       else ": torch averages dims (2, 3), Keras axes (1, 2)."))
        return f"`fc` receives {got[1]} features; layer4 outputs {prev[1]} channels."
    if stage == "fc":
        return f"`fc` should output num_classes={b.num_classes} values per example."
    if len(got) != len(w):
        return f"The {stage} output has {len(got)} dimensions, expected {len(w)}."
    if got[1] != w[1]:
        if stage == "stem":
            return f"conv1 should output width={b.width} channels."
        i = int(stage[-1])
        rule = f"width x {2 ** (i - 1)}" + (" x 4 (the bottleneck's expansion)" if b.block == "bottleneck"
                                            else "")
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
        return (f"{stage} must keep the {size} (stride 1: the max pool already downsampled); "
                "a stride of 2 belongs to the first block of layer2, layer3 and layer4.")
    if tuple(got[2:]) == tuple(before[2:]):
        where = "the 3x3 conv2" if b.block == "bottleneck" else "conv1"
        return (f"{stage} does not halve the {size}: its first block needs stride 2, on {where} "
                "and on the downsample conv.")
    return f"{stage} should halve the {size} exactly once, in its first block."


def _first_diffs(A: Any, model: Any, b: Build, fields: tuple[str, ...]) -> list[str]:
    try:
        diffs = S.compare(A, model, expected_layers(b))
    except Exception:  # noqa: BLE001 - a half-built model: the trace says enough
        return []
    return [f"{m}: {_likely(b, p, f)}".rstrip(": ") for p, f, m in diffs if f in fields][:4]


def _shapes(spec: NetSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        for b, in_shape in spec.traces:
            want = expected_trace(b, in_shape)
            got, out_shape, model, crashed = trace(ctx, spec, b, in_shape)
            head = f"`{b.text()}` on input {shown(A, in_shape)}"
            if crashed:
                causes = _first_diffs(A, model, b, ("missing", "present", "kernel", "kind", "stride",
                                                    "channels"))
                text = crashed.split(": ", 1)[-1]
                off = next((s for s in TRACE if got.get(s) not in (None, want[s])), "")
                if off:
                    causes.insert(0, f"the {off} output is {shown(A, got[off])}, expected "
                                  f"{shown(A, want[off])}. "
                                  + _stage_hint(A, b, model, off, got[off], want, in_shape))
                fail(
                    f"{head} raised an error in {crashed}.{_hint(spec, text)}\n"
                    f"  Stage outputs up to there:\n{_trace_table(A, want, got)}"
                    + ("\n  Likely cause:\n" + "\n".join(f"    - {c}" for c in causes) if causes else ""),
                    trace={k: list(v) if v else None for k, v in got.items()},
                )
            for stage in TRACE:
                if got.get(stage) != want[stage]:
                    fail(
                        f"{head}: the {stage} output is {shown(A, got.get(stage))}, expected "
                        f"{shown(A, want[stage])}. "
                        + _stage_hint(A, b, model, stage, got.get(stage), want, in_shape)
                        + f"\n{_trace_table(A, want, got)}",
                        trace={k: list(v) if v else None for k, v in got.items()},
                    )
            if out_shape != want["fc"]:
                fail(f"{head} returned {shown(A, out_shape)} while `fc` output {shown(A, want['fc'])}: "
                     "return fc's output as it is (logits), with nothing after it.")
        first = spec.traces[0]
        sizes = [expected_trace(first[0], first[1])[f"layer{i}"][2] for i in range(1, 5)]
        return (f"Stage outputs match for {len(spec.traces)} inputs (batch sizes, odd sizes and "
                f"channel counts vary); {shown(A, first[1])} gives {'/'.join(map(str, sizes))}.")

    return run


# -- counts, keys and structure -------------------------------------------------


def _likely(b: Build, path: str, fld: str) -> str:
    """A sentence naming the likely mistake behind one structure difference."""
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
    if fld in ("kind", "kernel") and b.dims == 1:
        return ("a 1-D network uses Conv1d/Conv1D with one integer kernel size "
                "(kernel_size=3, not (3, 3))")
    if path == "conv1" and fld == "kernel":
        return "the stem is one 7x7 conv with stride 2 (the ImageNet ResNet; not a CIFAR-style 3x3)"
    if path == "fc" and fld == "channels":
        return "fc maps the pooled channels of layer4 to num_classes"
    return ""


def _group_paths(paths: list[str], universe: list[str]) -> list[str]:
    """The fewest prefixes covering `paths` such that everything under each is in `paths`.

    So 5 missing keys under `layer2.0.downsample` read as one line.
    """
    chosen: list[str] = []
    wanted = set(paths)
    for p in paths:
        if any(p == c or p.startswith(c + ".") for c in chosen):
            continue
        parts = p.split(".")
        for n in range(1, len(parts) + 1):
            prefix = ".".join(parts[:n])
            under = [u for u in universe if u == prefix or u.startswith(prefix + ".")]
            if under and all(u in wanted for u in under):
                chosen.append(prefix)
                break
    return chosen


def _cap(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LINES:
        return lines
    return lines[:MAX_LINES] + [f"... and {len(lines) - MAX_LINES} more"]


def layer_diff(A: Any, model: Any, b: Build) -> list[str]:
    """Per-layer differences from the expected network, a whole block or shortcut per line."""
    expected = expected_layers(b)
    diffs = S.compare(A, model, expected)
    missing = [p for p, f, _ in diffs if f == "missing"]
    lines = []
    for prefix in _group_paths(missing, [p for p, s in expected.items() if s is not None]):
        if prefix.endswith("downsample"):
            lines.append(f"`{prefix}` missing: {_likely(b, prefix, 'missing')}")
        elif prefix in expected:
            lines.append(f"`{prefix}` missing: expected {expected[prefix].describe()}")
        else:
            lines.append(f"`{prefix}` missing (a whole block or stage)")
    said: set[str] = set()
    for p, f, m in diffs:
        if f == "missing":
            continue
        head, _, tail = m.partition(": ")
        if tail in said and not any(c.isdigit() for c in tail):
            m = head  # the same general explanation was given a line above
        said.add(tail)
        why = _likely(b, p, f)
        lines.append(m + (f": {why}" if why and why not in said else ""))
        said.add(why)
    named = {p for p, f, _ in diffs if f == "present"}
    extra = S.unexpected_params(A, model, expected)
    lines += [f"unexpected parameters in `{p}` ({n:,})" for p, n in extra if p not in named]
    return lines


def _layout_line(A: Any, model: Any, b: Build) -> str:
    found = layout_of(A, model)
    if found == b.layout:
        return ""
    return (f"Blocks per stage: yours {found}{name_layout(b.block, found)}, expected "
            f"{b.layout}{name_layout(b.block, b.layout)}.")


def _known_count(b: Build, framework: str, count: int) -> str:
    for name, (block, layout) in KNOWN.items():
        other = Build(b.fn, b.kwargs, block, layout, b.num_classes, b.in_channels, b.width, b.dims)
        if (block, layout) != (b.block, b.layout) and \
                S.expected_counts(expected_layers(other), framework)[0] == count:
            return f" {count:,} is exactly {name}'s count with these arguments."
    return ""


def _params(spec: NetSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        done = []
        for b in spec.counts:
            model = prepared(ctx, spec, b)
            want_t, want_n = S.expected_counts(expected_layers(b), ctx.framework)
            got_t, got_n = A.count(model)
            if (got_t, got_n) != (want_t, want_n):
                what, want = f"{got_t:,} trainable", f"{want_t:,} trainable"
                if ctx.framework == "tf":
                    what += f" + {got_n:,} non-trainable"
                    want += f" + {want_n:,} non-trainable (2 x the BN channels: moving mean and variance)"
                layout = _layout_line(A, model, b)
                lines = _cap(layer_diff(A, model, b))
                fail(
                    f"`{b.text()}` has {what} parameters; expected {want}."
                    + _known_count(b, ctx.framework, got_t)
                    + (f"\n  {layout}" if layout else "")
                    + ("\n" + "\n".join(f"  - {line}" for line in lines) if lines else ""),
                    expected=want_t, found=got_t, layers=lines,
                )
            done.append(f"{b.text()}: {want_t:,}" + (f" + {want_n:,}" if want_n else ""))
        return "Exact counts: " + "; ".join(done) + "."

    return run


def state_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """A torch model's state_dict as {key: shape}."""
    return {k: tuple(int(s) for s in v.shape) for k, v in model.state_dict().items()}


def key_diff(found: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]]) -> list[str]:
    """Missing keys, unexpected keys and shape mismatches, a module per line."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    lines = []
    for prefix in _group_paths(missing, list(expected)):
        n = sum(1 for k in missing if k == prefix or k.startswith(prefix + "."))
        lines.append(f"missing: `{prefix}`" + (f" ({n} entries)" if n > 1 else ""))
    for prefix in _group_paths(unexpected, list(found)):
        n = sum(1 for k in unexpected if k == prefix or k.startswith(prefix + "."))
        lines.append(f"unexpected: `{prefix}`" + (f" ({n} entries)" if n > 1 else ""))
    for k in expected:
        if k in found and found[k] != expected[k]:
            lines.append(f"shape of `{k}`: yours {fmt_shape(found[k])}, torchvision's "
                         f"{fmt_shape(expected[k])}")
    return lines


def _key_hint(lines: list[str]) -> str:
    text = "\n".join(lines)
    if "missing: `fc`" in text:
        return " The classifier must be named `fc`."
    if re.search(r"missing: `layer\d\.\d\.downsample`", text):
        return (" A block that changes the shape needs its projection shortcut, registered as "
                "`downsample` (a Sequential of conv then BN: keys downsample.0, downsample.1).")
    if re.search(r"unexpected: `layer\d\.\d+`", text) or re.search(r"missing: `layer\d\.\d+`", text):
        return " The number of blocks per stage differs."
    return ""


def _keys(spec: NetSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        reference = json.loads(spec.reference.read_text(encoding="utf-8"))
        for name, b in spec.reference_builds:
            model = prepared(ctx, spec, b)
            want = {k: tuple(v) for k, v in reference[name]["keys_shapes"].items()}
            got = state_shapes(model)
            lines = key_diff(got, want)
            if lines:
                layout = _layout_line(ctx.A, model, b)
                fail(
                    f"The state_dict of `{b.text()}` does not match torchvision's {name}, so "
                    "`load_state_dict(torchvision_weights)` would fail."
                    + _key_hint(lines) + (f"\n  {layout}" if layout else "") + "\n"
                    + "\n".join(f"  - {line}" for line in _cap(lines)),
                    diff=lines,
                )
        counts = ", ".join(f"{name} {len(reference[name]['keys_shapes'])}"
                           for name, _ in spec.reference_builds)
        return f"state_dict keys and shapes equal torchvision's, key for key ({counts} entries)."

    return run


def _structure(spec: NetSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        for b in spec.structure:
            model = prepared(ctx, spec, b)
            diffs = S.compare(A, model, expected_layers(b))
            if diffs or layout_of(A, model) != b.layout:
                layout = _layout_line(A, model, b)
                lines = _cap(layer_diff(A, model, b))
                fail(f"In `{b.text()}`:" + (f"\n  {layout}" if layout else "") + "\n"
                     + "\n".join(f"  - {line}" for line in lines), diffs=lines)
        return ("Kernel sizes, strides, channels and biases match, layer by layer, "
                f"in {len(spec.structure)} models.")

    return run


# -- function and gradients ----------------------------------------------------


def _pools(A: Any, dims: int) -> dict[str, Callable[[Any], Any]]:
    """The stem's max pool (3, stride 2, padding 1), as each framework may write it."""
    if A.name == "torch":
        from torch.nn import functional as F

        pool = F.max_pool1d if dims == 1 else F.max_pool2d
        return {"padding 1": lambda x: pool(x, 3, 2, 1)}
    import keras

    ops = keras.ops

    def padded(x: Any) -> Any:
        pad = [[0, 0]] + [[1, 1]] * dims + [[0, 0]]
        return ops.max_pool(ops.pad(x, pad, constant_values=-np.inf), 3, 2, padding="valid")

    return {'padding="same"': lambda x: ops.max_pool(x, 3, 2, padding="same"), "padding 1": padded}


def _block_flow(A: Any, blk: Any, x: Any, t: bool, bug: str = "") -> Any:
    """One residual block's data flow, from its own conv/bn/downsample layers."""
    convs = ["conv1", "conv2", "conv3"] if A.get(blk, "conv3") is not None else ["conv1", "conv2"]
    h = x
    for i, name in enumerate(convs, start=1):
        h = A.call(A.get(blk, f"bn{i}"), A.call(A.get(blk, name), h, t), t)
        if i < len(convs):
            h = A.relu(h)
    ds = A.get(blk, "downsample")
    if ds is None:
        short = x
    elif A.get(ds, "0") is not None and A.get(ds, "1") is not None:
        short = A.call(A.get(ds, "1"), A.call(A.get(ds, "0"), x, t), t)
    else:
        short = A.call(ds, x, t)
    if bug == "relu before add":
        return A.relu(A.relu(h) + short)
    if bug == "no final relu":
        return h + short
    if bug == "no skip":
        return A.relu(h)
    return A.relu(h + short)


def reference_flow(A: Any, model: Any, x: Any, t: bool, pool: Callable[[Any], Any], bug: str = ""
                   ) -> Any:
    """The whole network recomputed from the learner's own layers."""
    h = A.call(model.bn1, A.call(model.conv1, x, t), t)
    h = pool(h if bug == "no stem relu" else A.relu(h))
    for i in range(1, 5):
        for blk in stage_blocks(A, model, i):
            h = _block_flow(A, blk, h, t, bug)
    return A.call(model.fc, A.flatten(A.spatial_mean(h)), t)


WRONG = {
    "relu before add": "a block applies ReLU to its branch before the add (the ReLU belongs after it)",
    "no final relu": "a block returns branch + shortcut without the ReLU after the add",
    "no skip": "a block never adds its shortcut back",
    "no stem relu": "the stem has no ReLU between bn1 and the max pool",
}


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _probabilities(out: np.ndarray) -> str:
    """Name a softmax or log-softmax on the model's output, if there is one."""
    if out.ndim != 2 or out.shape[1] < 2:
        return ""
    if out.min() >= -1e-6 and np.allclose(out.sum(axis=1), 1.0, atol=1e-4):
        return "softmax"
    if out.max() <= 1e-6 and np.allclose(np.exp(out).sum(axis=1), 1.0, atol=1e-4):
        return "log-softmax"
    return ""


def _function(spec: NetSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        rng = ctx.rng(11)
        for b, in_shape in spec.function:
            model = prepared(ctx, spec, b, in_shape)
            pools = _pools(A, b.dims)
            A.randomize_bn(model, rng)
            x_np = rng.normal(0.0, 1.0, in_shape).astype(np.float32)
            snap = A.snapshot(model)
            for training in (False, True):
                mode = "train" if training else "eval"
                A.restore(model, snap)
                A.set_mode(model, training)
                got = A.numpy(A.call(model, A.tensor(x_np), training))
                kind = _probabilities(got)
                if kind:
                    A.restore(model, snap)
                    rows = "every row sums to 1" if kind == "softmax" else "exp of every row sums to 1"
                    fail(f"`{b.text()}` returns probabilities ({kind}: {rows}). "
                         "Return the logits, fc's output as it is: CrossEntropyLoss and "
                         "from_logits=True apply the (log-)softmax themselves, and a second "
                         "one flattens the gradients.")
                # the pool that matched before first: each reference is a full forward pass
                order = sorted(pools, key=lambda n: n != ctx.store.get(("pool", b.dims)))
                refs = []
                for name in order:
                    A.restore(model, snap)
                    A.set_mode(model, training)
                    refs.append(A.numpy(reference_flow(A, model, A.tensor(x_np), training, pools[name])))
                    if close(got, refs[-1]):
                        ctx.store[("pool", b.dims)] = name
                        break
                else:
                    why = _diagnose(A, model, x_np, got, training, snap, pools)
                    A.restore(model, snap)
                    fail(
                        f"In {mode} mode `{b.text()}` does not compute the network's data flow "
                        f"(max relative difference {max_rel_diff(got, refs[0]):.2e}; the grader "
                        "recomputes it from your own layers: conv1, bn1, ReLU, max pool, every "
                        "block of layer1..layer4, global average pool, fc)." + why,
                        mode=mode,
                    )
            A.restore(model, snap)
        return ("The output equals the network recomputed from your own layers, train and eval "
                "mode, random BN statistics; logits, no softmax.")

    return run


def _diagnose(A: Any, model: Any, x_np: np.ndarray, got: np.ndarray, training: bool, snap: Any,
              pools: dict[str, Callable[[Any], Any]]) -> str:
    candidates = [(WRONG[bug], bug, training) for bug in WRONG]
    other = "eval" if training else "train"
    candidates.append((
        f"BatchNorm ran in {other} mode while the model was called in "
        f"{'train' if training else 'eval'} mode"
        + (": pass `training=training` to every BatchNormalization and stage call" if A.channels_last
           else ": do not call .eval()/.train() inside forward"),
        "", not training,
    ))
    for text, bug, mode in candidates:
        for pool in pools.values():
            A.restore(model, snap)
            A.set_mode(model, mode)
            try:
                ref = A.numpy(reference_flow(A, model, A.tensor(x_np), mode, pool, bug))
            except Exception:  # noqa: BLE001 - a wrong flow that does not fit this model
                continue
            if close(got, ref):
                return f" It matches: {text}."
    return (" Compare your forward with the statement's order: a ReLU after bn1 and after each "
            "block's add, the shortcut added before that ReLU, the max pool in the stem.")


def _gradients(spec: NetSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        rng = ctx.rng(12)
        b, in_shape = spec.function[0]
        model = prepared(ctx, spec, b, in_shape)
        pools = _pools(A, b.dims)
        pool = pools.get(ctx.store.get(("pool", b.dims)), next(iter(pools.values())))
        A.randomize_bn(model, rng)
        x = rng.normal(0.0, 1.0, in_shape).astype(np.float32)
        snap = A.snapshot(model)
        A.set_mode(model, True)
        y = A.numpy(A.call(model, A.tensor(x), True))
        w = rng.normal(0.0, 1.0, y.shape).astype(np.float32)
        A.restore(model, snap)
        A.set_mode(model, True)
        _, dx, g = A.grads(model, lambda t: A.call(model, t, True), x, w)
        A.restore(model, snap)
        A.set_mode(model, True)
        _, rdx, rg = A.grads(model, lambda t: reference_flow(A, model, t, True, pool), x, w)
        A.restore(model, snap)
        if not np.any(dx) and np.any(rdx):
            cuts = ("`.detach()`, `.data`, `torch.no_grad()`" if A.name == "torch"
                    else "`keras.ops.stop_gradient`, `tf.stop_gradient`")
            fail(f"No gradient reaches the input of `{b.text()}`: something cuts the graph "
                 f"({cuts} or a numpy round trip).")
        dead = [n for n in rg if np.any(rg[n]) and not np.any(g.get(n, 0))]
        if dead:
            fail(f"No gradient reaches {len(dead)} parameter tensor(s), first "
                 f"{', '.join(f'`{d}`' for d in dead[:3])}: is that layer's output used and not "
                 "detached?")
        if not close(dx, rdx):
            fail(f"The gradient with respect to the input differs from the reference's (max "
                 f"relative difference {max_rel_diff(dx, rdx):.2e}): a shortcut or a stage is cut "
                 "from the graph, or an in-place op overwrote a tensor the backward pass needs.")
        off = [n for n in rg if not close(g.get(n, np.zeros(1)), rg[n])]
        if off:
            fail(f"Gradients of {', '.join(f'`{o}`' for o in off[:3])} differ from the reference's.")
        return "Input and parameter gradients equal the reference's over a batch, in train mode."

    return run


# -- training ------------------------------------------------------------------


def on_gpu(A: Any) -> bool:
    return str(getattr(A, "device_name", "cpu")).startswith(("cuda", "gpu"))


def _training(spec: NetSpec) -> Callable[[Context], str]:
    tr = spec.training

    def run(ctx: Context) -> str:
        b = tr.gpu_build if tr.gpu_build and on_gpu(ctx.A) else tr.build
        model = ctx.A.prepare(construct(ctx, spec, b), (2, *tr.in_shape[1:]))  # a fresh model
        result = T.train_and_score(
            ctx, model, tr.data(), steps=tr.steps, batch=tr.batch, lr=tr.lr, target=tr.target,
            what=f"`{b.text()}` on {tr.task}",
        )
        return (f"`{b.text()}` reached {result.accuracy:.0%} validation accuracy on {tr.task} "
                f"(needs {tr.target:.0%}) in {tr.steps} steps, {result.seconds:.1f} s on "
                f"{getattr(ctx.A, 'device_name', 'cpu')}.")

    return run


# -- api and assembly ----------------------------------------------------------


def _api(spec: NetSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        for name in spec.fns:
            if not callable(ctx.get(name, "builder")):
                fail(f"`{name}` must be a function or class; found {type(ctx.get(name)).__name__}.")
        model = construct(ctx, spec, spec.api)
        missing = [a for a in spec.attrs if getattr(model, a, None) is None]
        if missing:
            found = [n for n, child in A.children(model).items()
                     if A.info(child).kind == "linear" and n not in spec.attrs]
            extra = ""
            if len(missing) == len(spec.attrs):
                extra = " None of the layers exists yet: is `__init__` still a TODO?"
            elif "fc" in missing and found:
                extra = (f" Your classifier is `{found[0]}`: name it `fc` (torchvision's name, the "
                         "key its pretrained weights load into).")
            fail(f"`{spec.api.text()}` has no attribute {', '.join(f'`{m}`' for m in missing)}."
                 f"{extra} The grader reads the layers by name: {', '.join(spec.attrs)}.")
        return f"{', '.join(f'`{f}`' for f in spec.fns)} defined; `{spec.api.text()}` constructs."

    return run


def net_checks(spec: NetSpec, framework: str) -> list[Check]:
    checks = [
        Check("api", "API: builders and layer names", _api(spec), gate=True),
        Check("shapes", "Shapes: a per-stage trace", _shapes(spec), needs=("api",)),
        Check("params", "Parameter count", _params(spec), needs=("api",)),
    ]
    if spec.reference is not None and framework == "torch":
        checks.append(Check("keys", "state_dict keys and shapes equal torchvision's", _keys(spec),
                            needs=("api",)))
    checks += [
        Check("structure", "Layers: kernels, strides, channels, biases", _structure(spec),
              needs=("api",)),
        Check("function", "Function: the network's data flow, train and eval", _function(spec),
              needs=("shapes",)),
        Check("gradients", "Gradients: input and every parameter", _gradients(spec),
              needs=("function",)),
    ]
    if spec.training:
        checks.append(Check("training", "Training: the network learns", _training(spec),
                            needs=("function",)))
    return checks


__all__ = ["Build", "NetSpec", "NetTrain", "expected_layers", "expected_trace", "key_diff",
           "layer_diff", "net_checks", "reference_flow", "state_shapes"]
