"""The check battery for a whole network, written once for both frameworks.

An exercise describes the network it asks for in a `Network` (its expected
layers, each stage's output shape, the reference data flow recomputed from the
learner's own layers, and the sentences that name likely mistakes) and lists
the models the grader builds (`Build`s: the learner's builder and its
arguments) in a `NetSpec`. It gets, in order: api, a per-stage shape trace,
exact parameter counts with a per-layer diff, structure, function, gradients
and a training run. An exercise adds checks of its own around these (a
state_dict comparison, say) with the public helpers below.

Nothing here knows which network it grades: every fact about one (its layer
names, strides, known layouts, wrong data flows) comes from the `Network`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..i18n import _
from . import Check, Context, close, fail, fmt_shape, max_rel_diff
from . import spec as S
from . import training as T
from .calls import exception_text, where
from .mistakes import matches, name_mistake

MAX_LINES = 12


@dataclass(frozen=True)
class Build:
    """One model the grader builds: `fn(**kwargs)`.

    An exercise subclasses it (a frozen dataclass too) with the fields that say
    which network the call should produce; its `Network` reads those.
    """

    fn: str  # the learner's builder function or class
    kwargs: tuple[tuple[str, Any], ...]

    def text(self) -> str:
        return f"{self.fn}({', '.join(f'{k}={v!r}' for k, v in self.kwargs)})"


class Tap(NamedTuple):
    """A layer the shape trace watches while the learner's own forward runs.

    `enter`: the stage the forward pass is in once this layer receives its input
    (where a crash is reported); `before` / `after`: the trace rows that record
    this layer's input / output shape.
    """

    layer: Any
    enter: str = ""
    before: str = ""
    after: str = ""


class Network:
    """What one exercise's network should be; the battery asks it everything it needs."""

    stages: tuple[str, ...] = ()  # the shape trace's rows, in the order data flows through them
    summary_stages: tuple[str, ...] = ()  # the rows whose size the shapes check's success names
    first_stage: str = "the first layer"  # where a crash before any watched layer happened
    classifier: str = "fc"  # the attribute holding the final linear layer
    classifier_why: str = ""  # why that name matters, shown when the classifier is misnamed
    flow_text: str = "the network's layers"  # what the reference flow recomputes
    flow_advice: str = ""  # the function failure's advice when no known mistake matches
    graph_cut: str = "a part of the network is cut from the graph"  # the gradients' likely cause
    mistakes: ClassVar[dict[str, str]] = {}  # a wrong flow's key (passed to `flow`) -> the sentence naming it

    def layers(self, b: Build) -> dict[str, S.Spec]:
        """Every expected layer of the model `b` describes, by path."""
        raise NotImplementedError

    def trace(self, b: Build, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """The canonical (channels-first) output shape of every row of `stages`."""
        raise NotImplementedError

    def small_input(self, b: Build) -> tuple[int, ...]:
        """An input shape that creates the model's weights (Keras builds on the first call)."""
        raise NotImplementedError

    def taps(self, A: Any, model: Any) -> list[Tap]:
        """The layers whose inputs and outputs give the trace's rows."""
        raise NotImplementedError

    def variants(self, A: Any, b: Build) -> dict[str, Any]:
        """Correct ways to write a part of the flow that frameworks differ in; one is passed to `flow`."""
        return {"": None}

    def flow(self, A: Any, model: Any, x: Any, training: bool, variant: Any, mistake: str = ""
             ) -> Any:
        """The whole network recomputed from the learner's own layers (or a named wrong version)."""
        raise NotImplementedError

    def stage_hint(self, A: Any, b: Build, model: Any, stage: str, got: tuple[int, ...] | None,
                   want: dict[str, tuple[int, ...]], in_shape: tuple[int, ...]) -> str:
        """The likely mistake behind the first row of the trace whose shape is off."""
        return ""

    def likely(self, b: Build, path: str, fld: str) -> str:
        """A sentence naming the likely mistake behind one structure difference (`spec.compare`)."""
        return ""

    def layout_line(self, A: Any, model: Any, b: Build) -> str:
        """A line comparing the model's arrangement (blocks per stage, say) with `b`'s; '' if equal."""
        return ""

    def known_count(self, b: Build, framework: str, count: int) -> str:
        """A sentence when a wrong parameter count is exactly another known network's."""
        return ""


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
    net: Network
    fns: tuple[str, ...]  # the names the learner's file must define
    signature: str  # shown when a constructor call fails
    api: Build
    attrs: tuple[str, ...]
    traces: list[tuple[Build, tuple[int, ...]]]
    counts: list[Build]
    structure: list[Build]
    function: list[tuple[Build, tuple[int, ...]]]
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
    """A canonical shape as the learner sees it in their framework's layout ('-' if none)."""
    if shape is None:
        return "-"
    if A.channels_last and len(shape) >= 3:
        shape = (shape[0], *shape[2:], shape[1])
    return fmt_shape(shape)


def _one_line(ctx: Context, exc: BaseException) -> str:
    """`Type: first line of the message (your file, line N: `code`)`."""
    lines = exception_text(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}{where(exc, ctx.module)}"


def hint(spec: NetSpec, text: str) -> str:
    """The exercise's sentence for an exception whose text holds a known substring."""
    found = [h for key, h in spec.error_hints if key in text]
    return f" {_(found[0])}" if found else ""


def construct(ctx: Context, spec: NetSpec, b: Build) -> Any:
    fn = ctx.get(b.fn, "builder")
    try:
        model = fn(**dict(b.kwargs))
    except NotImplementedError:
        raise  # the worker says "not implemented yet" and shows the TODO's line
    except TypeError as exc:
        fail(_("`{call}` raised TypeError: {error}. The statement's signature is "
               "`{signature}`.").format(call=b.text(), error=exc, signature=spec.signature))
    except Exception as exc:  # noqa: BLE001 - the learner's constructor may raise anything
        text = _one_line(ctx, exc)
        fail(_("`{call}` raised {error}.").format(call=b.text(), error=text) + hint(spec, text))
    if not ctx.A.is_model(model):
        fail(_("`{call}` must return a {base}; got {type}.").format(
            call=b.text(), base=ctx.A.module_base, type=type(model).__name__))
    return model


def prepared(ctx: Context, spec: NetSpec, b: Build, in_shape: tuple[int, ...] | None = None) -> Any:
    """The learner's model for `b`, weights created (Keras) and on the device.

    Built once per grading and shared by the checks (each restores what it
    changes): Keras takes seconds to create a large network's weights. A model
    built for one input size takes any other.
    """
    key = ("model", b)
    if key in ctx.store:
        return ctx.store[key]
    shape = in_shape or spec.net.small_input(b)
    if b not in _run_builds(spec):
        # only read (counts, names, layer settings): built without values. A model that
        # needs them (`.item()` on a tensor) is built again for real below, which also gives
        # any failure its usual message.
        try:
            model = ctx.A.sketch(lambda: construct(ctx, spec, b), shape)
        except Exception:  # noqa: BLE001, S110 - the learner's code may raise anything
            pass
        else:
            ctx.store[key] = model
            return model
    model = construct(ctx, spec, b)
    try:
        model = ctx.A.prepare(model, shape)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001
        text = _one_line(ctx, exc)
        fail(_("Calling `{call}` on an input of shape {shape} raised {error}.").format(
            call=b.text(), shape=shown(ctx.A, shape), error=text) + hint(spec, text) + " "
            + _("The `shapes` check traces where it goes wrong."))
    ctx.store[key] = model
    return model


def _run_builds(spec: NetSpec) -> set[Build]:
    """The builds some check calls on an input (the others are only read)."""
    return {spec.api, *(b for b, _shape in spec.traces), *(b for b, _shape in spec.function)}


def stage_blocks(A: Any, model: Any, stage: str) -> list[Any]:
    """The blocks of a stage container, `stage.0`, `stage.1`, ... (none if it holds none)."""
    blocks = []
    while (blk := A.get(model, f"{stage}.{len(blocks)}")) is not None:
        blocks.append(blk)
    return blocks


def layout_of(A: Any, model: Any, stages: Sequence[str]) -> tuple[int, ...]:
    """How many blocks each of `stages` holds."""
    return tuple(len(stage_blocks(A, model, s)) for s in stages)


def stage_taps(A: Any, model: Any, stages: Sequence[str], head: str, stem_row: str,
               pool_row: str) -> list[Tap]:
    """The taps of a network made of a stem, stages of blocks and a pooled linear head.

    Each stage is watched at its first block's input and its last block's output
    rather than at the container, so a forward that loops over a stage's blocks
    itself is traced too. The stem's output is the first stage's input, the
    pooled features are the head's input, and the head's output is its own row.
    """
    def ends(stage: str) -> tuple[Any, Any]:
        blocks = stage_blocks(A, model, stage)
        if blocks:
            return blocks[0], blocks[-1]
        layer = A.get(model, stage)
        return layer, layer

    taps = []
    for stage in stages:
        first, last = ends(stage)
        taps += [Tap(first, enter=stage), Tap(last, after=stage)]
    taps.append(Tap(ends(stages[0])[0], before=stem_row))
    fc = A.get(model, head)
    taps += [Tap(fc, enter=head, after=head), Tap(fc, before=pool_row)]
    return taps


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

    def rec(name: str) -> Callable[[Any], None]:
        return lambda t: seen.__setitem__(name, _canon(A, getattr(t, "shape", ())))

    def enter(name: str) -> Callable[[Any], None]:
        return lambda t: entered.append(name)

    for tap in spec.net.taps(A, model):
        if tap.layer is None or not A.is_model(tap.layer):
            continue
        entry = taps.setdefault(id(tap.layer), (tap.layer, [], []))
        entry[1].extend([enter(tap.enter)] if tap.enter else [])
        entry[1].extend([rec(tap.before)] if tap.before else [])
        entry[2].extend([rec(tap.after)] if tap.after else [])
    undo = [
        _tap(A, layer, lambda t, fs=ins: [f(t) for f in fs], lambda t, fs=outs: [f(t) for f in fs])
        for layer, ins, outs in taps.values()
    ]
    out_shape, crashed = None, ""
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
        crashed = (entered[-1] if entered else spec.net.first_stage) + ": " + _one_line(ctx, exc)
    finally:
        for u in reversed(undo):
            u()
    return seen, out_shape, model, crashed


def trace_table(A: Any, stages: Sequence[str], want: dict[str, tuple[int, ...]],
                got: dict[str, Any]) -> str:
    """The trace as a table, yours next to the expected shape, a mark where they differ."""
    rows = [(_("stage"), _("yours"), _("expected"))]
    rows += [(name, shown(A, got.get(name)), shown(A, want[name])) for name in stages]
    from rich.cells import cell_len  # only a failure draws the table

    w0, w1 = (max(cell_len(r[i]) for r in rows) for i in (0, 1))
    lines = []
    for r in rows:
        mark = "" if r is rows[0] or r[1] in (r[2], "-") else "   " + _("<- differs")
        lines.append(f"    {_pad(r[0], w0)}  {_pad(r[1], w1)}  {r[2]}{mark}")
    return "\n".join(lines)


def _pad(text: str, width: int) -> str:
    """`text` padded to `width` terminal cells (a Chinese character takes two)."""
    from rich.cells import cell_len

    return text + " " * (width - cell_len(text))


def _first_diffs(A: Any, net: Network, model: Any, b: Build, fields: tuple[str, ...]) -> list[str]:
    try:
        diffs = S.compare(A, model, net.layers(b))
    except Exception:  # noqa: BLE001 - a half-built model: the trace says enough
        return []
    return [m + (_(": ") + why if (why := net.likely(b, p, f)) else "")
            for p, f, m in diffs if f in fields][:4]


def _shapes(spec: NetSpec) -> Callable[[Context], str]:
    net = spec.net

    def run(ctx: Context) -> str:
        A = ctx.A
        for b, in_shape in spec.traces:
            want = net.trace(b, in_shape)
            got, out_shape, model, crashed = trace(ctx, spec, b, in_shape)
            head = _("`{call}` on input {shape}").format(call=b.text(), shape=shown(A, in_shape))
            if crashed:
                causes = _first_diffs(A, net, model, b, ("missing", "present", "kernel", "kind",
                                                         "stride", "channels"))
                text = crashed.split(": ", 1)[-1]
                off = next((s for s in net.stages if got.get(s) not in (None, want[s])), "")
                if off:
                    causes.insert(0, _("the {stage} output is {got}, expected {want}.").format(
                        stage=off, got=shown(A, got[off]), want=shown(A, want[off])) + " "
                        + net.stage_hint(A, b, model, off, got[off], want, in_shape))
                fail(
                    _("{head} raised an error in {where}.").format(head=head, where=crashed)
                    + hint(spec, text) + "\n  " + _("Stage outputs up to there:") + "\n"
                    + trace_table(A, net.stages, want, got)
                    + ("\n  " + _("Likely cause:") + "\n" + "\n".join(f"    - {c}" for c in causes)
                       if causes else ""),
                    trace={k: list(v) if v else None for k, v in got.items()},
                )
            for stage in net.stages:
                if got.get(stage) != want[stage]:
                    fail(
                        _("{head}: the {stage} output is {got}, expected {want}.").format(
                            head=head, stage=stage, got=shown(A, got.get(stage)),
                            want=shown(A, want[stage])) + " "
                        + net.stage_hint(A, b, model, stage, got.get(stage), want, in_shape)
                        + f"\n{trace_table(A, net.stages, want, got)}",
                        trace={k: list(v) if v else None for k, v in got.items()},
                    )
            last = want[net.stages[-1]]
            if out_shape != last:
                fail(_("{head} returned {got} while `{fc}` output {want}: return {fc}'s output "
                       "as it is (logits), with nothing after it.").format(
                    head=head, got=shown(A, out_shape), fc=net.classifier, want=shown(A, last)))
        first = spec.traces[0]
        want = net.trace(first[0], first[1])
        sizes = [want[s][2] for s in net.summary_stages]
        return _("Stage outputs match for {n} inputs (batch sizes, odd sizes and channel counts "
                 "vary); {shape} gives {sizes}.").format(
            n=len(spec.traces), shape=shown(A, first[1]), sizes="/".join(map(str, sizes)))

    return run


# -- counts and structure --------------------------------------------------------


def group_paths(paths: list[str], universe: list[str]) -> list[str]:
    """The fewest prefixes covering `paths` such that everything under each is in `paths`.

    So 5 missing keys under one shortcut read as one line.
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


def cap(lines: list[str]) -> list[str]:
    """At most MAX_LINES lines, and how many more were left out."""
    if len(lines) <= MAX_LINES:
        return lines
    return lines[:MAX_LINES] + [_("... and {n} more").format(n=len(lines) - MAX_LINES)]


def layer_diff(A: Any, net: Network, model: Any, b: Build) -> list[str]:
    """Per-layer differences from the expected network, a whole block or shortcut per line."""
    expected = net.layers(b)
    diffs = S.compare(A, model, expected)
    missing = [p for p, f, _m in diffs if f == "missing"]
    lines = []
    for prefix in group_paths(missing, [p for p, s in expected.items() if s is not None]):
        why = net.likely(b, prefix, "missing")
        if why:
            lines.append(_("`{path}` missing: {why}").format(path=prefix, why=why))
        elif prefix in expected:
            lines.append(_("`{path}` missing: expected {spec}").format(
                path=prefix, spec=expected[prefix].describe()))
        else:
            lines.append(_("`{path}` missing (a whole block or stage)").format(path=prefix))
    said: set[str] = set()
    for p, f, m in diffs:
        if f == "missing":
            continue
        head, _sep, tail = m.partition(_(": "))
        if tail in said and not any(c.isdigit() for c in tail):
            m = head  # the same general explanation was given a line above
        said.add(tail)
        why = net.likely(b, p, f)
        lines.append(m + (_(": ") + why if why and why not in said else ""))
        said.add(why)
    named = {p for p, f, _m in diffs if f == "present"}
    extra = S.unexpected_params(A, model, expected)
    lines += [_("unexpected parameters in `{path}` ({n})").format(path=p, n=f"{n:,}")
              for p, n in extra if p not in named]
    return lines


def _params(spec: NetSpec) -> Callable[[Context], str]:
    net = spec.net

    def run(ctx: Context) -> str:
        A = ctx.A
        done = []
        for b in spec.counts:
            model = prepared(ctx, spec, b)
            want_t, want_n = S.expected_counts(net.layers(b), ctx.framework)
            got_t, got_n = A.count(model)
            if (got_t, got_n) != (want_t, want_n):
                what = _("{n} trainable").format(n=f"{got_t:,}")
                want = _("{n} trainable").format(n=f"{want_t:,}")
                if ctx.framework == "tf":
                    what += " + " + _("{n} non-trainable").format(n=f"{got_n:,}")
                    want += " + " + _("{n} non-trainable (2 x the BN channels: moving mean and "
                                      "variance)").format(n=f"{want_n:,}")
                layout = net.layout_line(A, model, b)
                lines = cap(layer_diff(A, net, model, b))
                fail(
                    _("`{call}` has {what} parameters; expected {want}.").format(
                        call=b.text(), what=what, want=want)
                    + net.known_count(b, ctx.framework, got_t)
                    + (f"\n  {layout}" if layout else "")
                    + ("\n" + "\n".join(f"  - {line}" for line in lines) if lines else ""),
                    expected=want_t, found=got_t, layers=lines,
                )
            done.append(f"{b.text()}: {want_t:,}" + (f" + {want_n:,}" if want_n else ""))
        return _("Exact counts: {counts}.").format(counts="; ".join(done))

    return run


def _structure(spec: NetSpec) -> Callable[[Context], str]:
    net = spec.net

    def run(ctx: Context) -> str:
        A = ctx.A
        for b in spec.structure:
            model = prepared(ctx, spec, b)
            diffs = S.compare(A, model, net.layers(b))
            layout = net.layout_line(A, model, b)
            if diffs or layout:
                lines = cap(layer_diff(A, net, model, b))
                fail(_("In `{call}`:").format(call=b.text()) + (f"\n  {layout}" if layout else "") + "\n"
                     + "\n".join(f"  - {line}" for line in lines), diffs=lines)
        return _("Kernel sizes, strides, channels and biases match, layer by layer, in {n} "
                 "models.").format(n=len(spec.structure))

    return run


# -- function and gradients ----------------------------------------------------


def _probabilities(out: np.ndarray) -> str:
    """Name a softmax or log-softmax on the model's output, if there is one."""
    if out.ndim != 2 or out.shape[1] < 2:
        return ""
    if out.min() >= -1e-6 and np.allclose(out.sum(axis=1), 1.0, atol=1e-4):
        return "softmax"
    if out.max() <= 1e-6 and np.allclose(np.exp(out).sum(axis=1), 1.0, atol=1e-4):
        return "log-softmax"
    return ""


VARIANT = ("flow variant",)  # ctx.store: the variant of the flow the learner's model matched


def _diagnose(A: Any, net: Network, model: Any, x_np: np.ndarray, got: np.ndarray,
              training: bool, snap: Any, variants: dict[str, Any]) -> str:
    """The known wrong flow the output matches, or the flow's general advice."""
    bn_mode = (
        _("BatchNorm ran in {bn_mode} mode while the model was called in {mode} mode: pass "
          "`training=training` to every BatchNormalization and stage call") if A.channels_last
        else _("BatchNorm ran in {bn_mode} mode while the model was called in {mode} mode: do "
               "not call .eval()/.train() inside forward")
    ).format(bn_mode=_("eval") if training else _("train"), mode=_("train") if training else _("eval"))
    candidates = [(text, mistake, training) for mistake, text in net.mistakes.items()]
    candidates.append((bn_mode, "", not training))

    def wrong(mistake: str, mode: bool, variant: Any) -> Callable[[], np.ndarray]:
        def compute() -> np.ndarray:
            A.restore(model, snap)
            A.set_mode(model, mode)
            return A.numpy(net.flow(A, model, A.tensor(x_np), mode, variant, mistake))
        return compute

    def versions() -> Iterator[tuple[str, Callable[[], np.ndarray]]]:
        for text, mistake, mode in candidates:
            for variant in variants.values():
                yield text, wrong(mistake, mode, variant)

    found = name_mistake(got, versions())
    return matches(_(found)) if found else f" {_(net.flow_advice)}".rstrip()


def _function(spec: NetSpec) -> Callable[[Context], str]:
    net = spec.net

    def run(ctx: Context) -> str:
        A = ctx.A
        rng = ctx.rng(11)
        for b, in_shape in spec.function:
            model = prepared(ctx, spec, b, in_shape)
            variants = net.variants(A, b)
            A.randomize_bn(model, rng)
            x_np = rng.normal(0.0, 1.0, in_shape).astype(np.float32)
            snap = A.snapshot(model)
            for training in (False, True):
                mode = _("train") if training else _("eval")
                A.restore(model, snap)
                A.set_mode(model, training)
                got = A.numpy(A.call(model, A.tensor(x_np), training))
                kind = _probabilities(got)
                if kind:
                    A.restore(model, snap)
                    rows = _("every row sums to 1") if kind == "softmax" else _("exp of every row sums to 1")
                    fail(_("`{call}` returns probabilities ({kind}: {rows}). Return the logits, "
                           "{fc}'s output as it is: CrossEntropyLoss and from_logits=True apply the "
                           "(log-)softmax themselves, and a second one flattens the gradients.").format(
                        call=b.text(), kind=kind, rows=rows, fc=net.classifier))
                # the variant that matched before first: each reference is a full forward pass
                order = sorted(variants, key=lambda n: n != ctx.store.get(VARIANT))
                refs = []
                for name in order:
                    A.restore(model, snap)
                    A.set_mode(model, training)
                    refs.append(A.numpy(net.flow(A, model, A.tensor(x_np), training, variants[name])))
                    if close(got, refs[-1]):
                        ctx.store[VARIANT] = name
                        break
                else:
                    why = _diagnose(A, net, model, x_np, got, training, snap, variants)
                    A.restore(model, snap)
                    fail(
                        _("In {mode} mode `{call}` does not compute the network's data flow (max "
                          "relative difference {diff:.2e}; the grader recomputes it from your own "
                          "layers: {flow}).").format(mode=mode, call=b.text(),
                                                     diff=max_rel_diff(got, refs[0]),
                                                     flow=_(net.flow_text)) + why,
                        mode="train" if training else "eval",
                    )
            A.restore(model, snap)
        return _("The output equals the network recomputed from your own layers, train and eval "
                 "mode, random BN statistics; logits, no softmax.")

    return run


def _gradients(spec: NetSpec) -> Callable[[Context], str]:
    net = spec.net

    def run(ctx: Context) -> str:
        A = ctx.A
        rng = ctx.rng(12)
        b, in_shape = spec.function[0]
        model = prepared(ctx, spec, b, in_shape)
        variants = net.variants(A, b)
        variant = variants.get(ctx.store.get(VARIANT), next(iter(variants.values())))
        A.randomize_bn(model, rng)
        x = rng.normal(0.0, 1.0, in_shape).astype(np.float32)
        snap = A.snapshot(model)
        A.set_mode(model, True)
        y = A.numpy(A.call(model, A.tensor(x), True))
        w = rng.normal(0.0, 1.0, y.shape).astype(np.float32)
        A.restore(model, snap)
        A.set_mode(model, True)
        _out, dx, g = A.grads(model, lambda t: A.call(model, t, True), x, w)
        A.restore(model, snap)
        A.set_mode(model, True)
        _ref, rdx, rg = A.grads(model, lambda t: net.flow(A, model, t, True, variant), x, w)
        A.restore(model, snap)
        if not np.any(dx) and np.any(rdx):
            cuts = ("`.detach()`, `.data`, `torch.no_grad()`" if A.name == "torch"
                    else "`keras.ops.stop_gradient`, `tf.stop_gradient`")
            fail(_("No gradient reaches the input of `{call}`: something cuts the graph ({cuts} or "
                   "a numpy round trip).").format(call=b.text(), cuts=cuts))
        dead = [n for n in rg if np.any(rg[n]) and not np.any(g.get(n, 0))]
        if dead:
            fail(_("No gradient reaches {n} parameter tensor(s), first {names}: is that layer's "
                   "output used and not detached?").format(
                n=len(dead), names=", ".join(f"`{d}`" for d in dead[:3])))
        if not close(dx, rdx):
            fail(_("The gradient with respect to the input differs from the reference's (max "
                   "relative difference {diff:.2e}): {cause}, or an in-place op overwrote a tensor "
                   "the backward pass needs.").format(diff=max_rel_diff(dx, rdx), cause=_(net.graph_cut)))
        off = [n for n in rg if not close(g.get(n, np.zeros(1)), rg[n])]
        if off:
            fail(_("Gradients of {names} differ from the reference's.").format(
                names=", ".join(f"`{o}`" for o in off[:3])))
        return _("Input and parameter gradients equal the reference's over a batch, in train mode.")

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
            what=_("`{call}` on {task}").format(call=b.text(), task=_(tr.task)),
        )
        return _("`{call}` reached {acc:.0%} validation accuracy on {task} (needs {target:.0%}) in "
                 "{steps} steps, {seconds:.1f} s on {device}.").format(
            call=b.text(), acc=result.accuracy, task=_(tr.task), target=tr.target, steps=tr.steps,
            seconds=result.seconds, device=getattr(ctx.A, "device_name", "cpu"))

    return run


# -- api and assembly ----------------------------------------------------------


def _api(spec: NetSpec) -> Callable[[Context], str]:
    net = spec.net

    def run(ctx: Context) -> str:
        A = ctx.A
        for name in spec.fns:
            if not callable(ctx.get(name, "builder")):
                fail(_("`{name}` must be a function or class; found {type}.").format(
                    name=name, type=type(ctx.get(name)).__name__))
        model = construct(ctx, spec, spec.api)
        missing = [a for a in spec.attrs if getattr(model, a, None) is None]
        if missing:
            found = [n for n, child in A.children(model).items()
                     if A.info(child).kind == "linear" and n not in spec.attrs]
            extra = ""
            if len(missing) == len(spec.attrs):
                extra = " " + _("None of the layers exists yet: is `__init__` still a TODO?")
            elif net.classifier in missing and found:
                why = f" ({_(net.classifier_why)})" if net.classifier_why else ""
                extra = " " + _("Your classifier is `{found}`: name it `{fc}`{why}.").format(
                    found=found[0], fc=net.classifier, why=why)
            fail(_("`{call}` has no attribute {names}.").format(
                call=spec.api.text(), names=", ".join(f"`{m}`" for m in missing)) + extra + " "
                + _("The grader reads the layers by name: {names}.").format(names=", ".join(spec.attrs)))
        return _("{names} defined; `{call}` constructs.").format(
            names=", ".join(f"`{f}`" for f in spec.fns), call=spec.api.text())

    return run


def net_checks(spec: NetSpec) -> list[Check]:
    """The battery: api, shapes, params, structure, function, gradients (and training)."""
    checks = [
        Check("api", _("API: builders and layer names"), _api(spec), gate=True),
        Check("shapes", _("Shapes: a per-stage trace"), _shapes(spec), needs=("api",)),
        Check("params", _("Parameter count"), _params(spec), needs=("api",)),
        Check("structure", _("Layers: kernels, strides, channels, biases"), _structure(spec),
              needs=("api",)),
        Check("function", _("Function: the network's data flow, train and eval"), _function(spec),
              needs=("shapes",)),
        Check("gradients", _("Gradients: input and every parameter"), _gradients(spec),
              needs=("function",)),
    ]
    if spec.training:
        checks.append(Check("training", _("Training: the network learns"), _training(spec),
                            needs=("function",)))
    return checks


__all__ = ["Build", "NetSpec", "NetTrain", "Network", "Tap", "cap", "construct", "group_paths",
           "hint", "layer_diff", "layout_of", "net_checks", "prepared", "shown", "stage_blocks",
           "stage_taps", "trace", "trace_table"]


def residual_block_flow(A: Any, blk: Any, x: Any, t: bool, bug: str = "") -> Any:
    """One residual block's data flow, from its own layers under the kit's names (conv1..conv3,
    bn1..bn3, downsample): a basic block when it has no conv3, a bottleneck when it has.
    `bug` recomputes a named wrong version: "relu before add", "no final relu", "no skip"."""
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


def stem_stages_head_flow(A: Any, model: Any, x: Any, t: bool, pool: Callable[[Any], Any],
                          stages: tuple[str, ...], bug: str = "") -> Any:
    """A ResNet-family network recomputed from the learner's own layers: conv1, bn1, ReLU,
    `pool`, every block of `stages`, a global average, fc. `bug` as in `residual_block_flow`,
    or "no stem relu"."""
    h = A.call(model.bn1, A.call(model.conv1, x, t), t)
    h = pool(h if bug == "no stem relu" else A.relu(h))
    for stage in stages:
        for blk in stage_blocks(A, model, stage):
            h = residual_block_flow(A, blk, h, t, bug)
    return A.call(model.fc, A.flatten(A.spatial_mean(h)), t)
