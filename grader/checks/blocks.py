"""The check battery for a residual-style block, written once for both frameworks.

An exercise describes its block in a `BlockSpec` (constructor cases, expected
layers, the reference data flow) and gets the standard checks in order: api,
shapes, params, structure, function, gradients, identity path, training.
The reference flow is computed from the learner's *own* sublayers, so any
initialisation passes and any wiring mistake shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import data as D
from ..i18n import _
from . import Check, CheckFailed, Context, close, fail, fmt_shape, max_rel_diff
from . import spec as S
from . import training as T

Flow = Callable[[Any, Any, Any, bool], Any]  # (A, block, x_native, training) -> out


@dataclass
class Case:
    args: tuple[Any, ...]
    in_shape: tuple[int, ...]  # canonical: (N, C, H, W) or (N, C, L)
    out_shape: tuple[int, ...] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainSpec:
    """A tiny classifier: stem conv -> the learner's blocks -> pool -> linear."""

    blocks: Callable[[Any], list[Any]]  # constructor -> the learner's layers
    features: int  # channels after the last block
    stem: int = 8
    steps: int = 30
    batch: int = 32
    lr: float = 1e-2
    target: float = 0.8
    n: int = 600
    size: int = 16


@dataclass
class BlockSpec:
    cls: str
    signature: str
    attrs: tuple[str, ...]
    layers: Callable[..., dict[str, Any]]  # (*args, **kwargs) -> {path: spec}
    flow: Flow
    shape_cases: list[Case]
    function_cases: list[Case]
    count_formula: str = ""
    # (path, field) of a structure diff -> the sentence naming the likely mistake
    likely: dict[tuple[str, str], str] = field(default_factory=dict)
    # named wrong data flows: when the learner's output matches one, say so
    wrong_flows: dict[str, Flow] = field(default_factory=dict)
    # (bn path, case): zeroing that BN's gamma and beta leaves relu(shortcut(x))
    zero_branch: tuple[str, Case] | None = None
    training: TrainSpec | None = None
    extra: list[Check] = field(default_factory=list)


def call_text(spec: BlockSpec, case: Case) -> str:
    parts = [repr(a) for a in case.args] + [f"{k}={v!r}" for k, v in case.kwargs.items()]
    return f"{spec.cls}({', '.join(parts)})"


def shown(A: Any, shape: tuple[int, ...]) -> str:
    """A canonical shape as the learner sees it in their framework's layout."""
    shape = tuple(shape)
    if A.channels_last and len(shape) >= 3:
        shape = (shape[0], *shape[2:], shape[1])
    return fmt_shape(shape)


def build(ctx: Context, spec: BlockSpec, case: Case, prepare: bool = True) -> Any:
    """`spec.cls(*case.args, **case.kwargs)`, its weights created on `case.in_shape` unless
    `prepare` is False. Where the adapter reuses builds, a block built earlier in this grade
    is handed out again with the values it had when built, without paying for their creation
    again. Where the first build came first after its check's seeding, as in the battery's
    checks, those are the weights a fresh build would have now."""
    key = None
    if prepare and getattr(ctx.A, "reuse_builds", False):
        key = (spec.cls, repr(case.args), repr(sorted(case.kwargs.items())), tuple(case.in_shape))
        kept = ctx.built.get(key)
        if kept is not None:
            try:
                ctx.A.restore(kept[0], kept[1])
                return kept[0]
            except Exception:  # noqa: BLE001 - its weights changed since: build it afresh
                del ctx.built[key]
    block = _construct(ctx, spec, case)
    if not prepare:
        return block
    block = ctx.A.prepare(block, case.in_shape)
    if key is not None:
        ctx.built[key] = (block, ctx.A.snapshot(block))
    return block


def _construct(ctx: Context, spec: BlockSpec, case: Case) -> Any:
    cls = ctx.get(spec.cls)
    try:
        block = cls(*case.args, **case.kwargs)
    except TypeError as exc:
        fail(_("`{call}` raised TypeError: {error}. The statement's signature is `{signature}`.")
             .format(call=call_text(spec, case), error=exc, signature=spec.signature))
    if not ctx.A.is_model(block):
        fail(_("`{cls}` must subclass {base}; got {type}.").format(
            cls=spec.cls, base=ctx.A.module_base, type=type(block).__name__))
    return block


def _inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.normal(0.0, 1.0, shape).astype(np.float32)


# -- the checks ---------------------------------------------------------------


def _api(spec: BlockSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        case = spec.shape_cases[0]
        block = build(ctx, spec, case, prepare=False)
        missing = [a for a in spec.attrs if not hasattr(block, a)]
        if missing:
            fail(_("`{cls}` has no attribute {missing}. The grader reads the sublayers by name: "
                   "{names}.").format(cls=spec.cls, missing=", ".join(f"`{m}`" for m in missing),
                                      names=", ".join(spec.attrs)))
        return _("`{call}` constructs; attributes {names}.").format(
            call=call_text(spec, case), names=", ".join(spec.attrs))

    return run


def _shapes(spec: BlockSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        for case in spec.shape_cases:
            block = build(ctx, spec, case)
            out = A.call(block, A.tensor(_inputs(ctx.rng(), case.in_shape)), False)
            if not A.is_tensor(out):
                fail(_("Calling `{call}` returned {type}, not a tensor.").format(
                    call=call_text(spec, case), type=type(out).__name__))
            out = A.numpy(out)
            if tuple(out.shape) != tuple(case.out_shape):
                fail(
                    _("`{call}` on input {input} returned {got}, expected {want}.").format(
                        call=call_text(spec, case), input=shown(A, case.in_shape),
                        got=shown(A, out.shape), want=shown(A, case.out_shape))
                    + _shape_hint(case, out.shape),
                    case=call_text(spec, case),
                )
        return _("{n} input shapes, including batch 1 and odd sizes.").format(n=len(spec.shape_cases))

    return run


def _shape_hint(case: Case, got: tuple[int, ...]) -> str:
    want = case.out_shape
    if len(got) != len(want):
        return " " + _("The number of dimensions is wrong.")
    if got[1] != want[1]:
        return " " + _("The channel count is wrong: check the last conv's output channels.")
    if got[2:] != want[2:]:
        ins = case.in_shape[2:]
        if got[2:] == ins:
            return " " + _("The spatial size did not shrink: the stride is missing.")
        return " " + _(
            "The spatial size is off: a 3x3 conv needs padding 1 (torch) or padding='same' "
            "(Keras), and exactly one layer per path carries the stride.")
    return ""


def _params(spec: BlockSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        lines = []
        for case in spec.function_cases:
            block = build(ctx, spec, case)
            expected = spec.layers(*case.args, **case.kwargs)
            want_t, want_n = S.expected_counts(expected, ctx.framework)
            got_t, got_n = A.count(block)
            if (got_t, got_n) != (want_t, want_n):
                diffs = [m for _, f, m in S.compare(A, block, expected) if f != "kernel"]
                diffs += [m for _, f, m in S.compare(A, block, expected) if f == "kernel"]
                extra = S.unexpected_params(A, block, expected)
                diffs += [_("unexpected parameters in `{path}` ({n:,})").format(path=p, n=n)
                          for p, n in extra]
                if ctx.framework == "tf":
                    what = _("{t:,} trainable + {n:,} non-trainable").format(t=got_t, n=got_n)
                    want = _("{t:,} trainable + {n:,} non-trainable (BN moving mean and "
                             "variance)").format(t=want_t, n=want_n)
                else:
                    what = _("{t:,} trainable").format(t=got_t)
                    want = _("{t:,} trainable").format(t=want_t)
                formula = f" ({spec.count_formula})" if spec.count_formula else ""
                fail(
                    _("`{call}` has {what} parameters; expected {want}{formula}.").format(
                        call=call_text(spec, case), what=what, want=want, formula=formula)
                    + ("\n" + "\n".join(f"  - {d}" for d in diffs) if diffs else ""),
                    expected=want_t,
                    found=got_t,
                    layers=diffs,
                )
            lines.append(f"{call_text(spec, case)}: {want_t:,}")
        return _("Exact counts: {counts}.").format(counts="; ".join(lines))

    return run


def _structure(spec: BlockSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        for case in spec.function_cases:
            block = build(ctx, spec, case)
            diffs = S.compare(ctx.A, block, spec.layers(*case.args, **case.kwargs))
            if diffs:
                msgs = []
                for path, fld, msg in diffs:
                    why = spec.likely.get((path, fld))
                    msgs.append(msg + (_(": ") + _(why) if why else ""))
                fail(
                    _("In `{call}`:").format(call=call_text(spec, case)) + "\n"
                    + "\n".join(f"  - {m}" for m in msgs),
                    diffs=[m for _p, _f, m in diffs],
                )
        return _("Kernel sizes, strides, channels, groups and biases match, layer by layer.")

    return run


def _mode_words(A: Any, training: bool) -> str:
    return _("train") if training else _("eval")


def _diagnose(ctx: Context, spec: BlockSpec, block: Any, x: Any, got: np.ndarray,
              training: bool, snap: Any) -> str:
    """Name the likely mistake by matching the learner's output against known bugs."""
    A = ctx.A
    candidates: list[tuple[str, Flow, bool]] = [(n, f, training) for n, f in spec.wrong_flows.items()]
    candidates.append((
        (_("BatchNorm ran in {bn_mode} mode while the block was called in {mode} mode: pass "
           "`training=training` to every BatchNormalization call") if A.channels_last else
         _("BatchNorm ran in {bn_mode} mode while the block was called in {mode} mode: do not "
           "call .eval()/.train() or F.batch_norm(training=...) inside forward")).format(
            bn_mode=_mode_words(A, not training), mode=_mode_words(A, training)),
        spec.flow,
        not training,
    ))
    for name, flow, mode in candidates:
        A.restore(block, snap)
        A.set_mode(block, mode)
        try:
            ref = A.numpy(flow(A, block, x, mode))
        except Exception:  # a wrong flow that does not apply to this case
            continue
        if close(got, ref):
            return " " + _("It matches: {mistake}.").format(mistake=_(name))
    return ""


def _function(spec: BlockSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        rng = ctx.rng(1)
        for case in spec.function_cases:
            block = build(ctx, spec, case)
            A.randomize_bn(block, rng)
            x_np = _inputs(rng, case.in_shape)
            snap = A.snapshot(block)
            for training in (False, True):
                A.restore(block, snap)
                A.set_mode(block, training)
                x = A.tensor(x_np)
                got = A.numpy(A.call(block, x, training))
                stats_after_learner = [A.bn_running(bn) for _, bn in A.bn_layers(block)]
                A.restore(block, snap)
                A.set_mode(block, training)
                ref = A.numpy(spec.flow(A, block, A.tensor(x_np), training))
                stats_after_ref = [A.bn_running(bn) for _, bn in A.bn_layers(block)]
                if not close(got, ref):
                    why = _diagnose(ctx, spec, block, A.tensor(x_np), got, training, snap)
                    A.restore(block, snap)
                    if got.shape != ref.shape:
                        fail(_("`{call}` returned {got}, expected {want}.").format(
                            call=call_text(spec, case), got=shown(A, got.shape),
                            want=shown(A, ref.shape)))
                    fail(
                        _("In {mode} mode, `{call}` does not compute the block's data flow (max "
                          "relative difference {diff:.2e}).").format(
                            mode=_mode_words(A, training), call=call_text(spec, case),
                            diff=max_rel_diff(got, ref)) + why
                        + ("" if why else " " + _("Compare your forward with the statement's "
                                                  "order of layers, the add and the final ReLU.")),
                        mode=_mode_words(A, training),
                    )
                if training:
                    for (m1, v1), (m2, v2) in zip(stats_after_learner, stats_after_ref, strict=True):
                        if not (close(m1, m2) and close(v1, v2)):
                            A.restore(block, snap)
                            fail(_(
                                "The outputs match, but a BatchNorm's running statistics moved "
                                "differently from one pass of the block: is a BN layer called "
                                "twice, or on another tensor than its input?"))
            A.restore(block, snap)
        return _("Matches the data flow recomputed from your own layers, in train and eval mode, "
                 "with random BN statistics.")

    return run


def _gradients(spec: BlockSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        rng = ctx.rng(2)
        for case in spec.function_cases:
            block = build(ctx, spec, case)
            A.randomize_bn(block, rng)
            x = _inputs(rng, case.in_shape)
            snap = A.snapshot(block)
            for training in (True, False):
                A.restore(block, snap)
                y = A.forward(block, x, training)
                w = rng.normal(0, 1, y.shape).astype(np.float32)
                A.restore(block, snap)
                A.set_mode(block, training)
                _y, dx, g = A.grads(block, lambda t, m=training, b=block: A.call(b, t, m), x, w)
                A.restore(block, snap)
                A.set_mode(block, training)
                _ry, rdx, rg = A.grads(block, lambda t, m=training, b=block: spec.flow(A, b, t, m),
                                       x, w)
                A.restore(block, snap)
                mode = _mode_words(A, training)
                if not np.any(dx) and np.any(rdx):
                    fail(_(
                        "No gradient reaches the input of `{call}` ({mode} mode). Something cuts "
                        "the graph: `.detach()`, `.data`, `torch.no_grad()`, a numpy round trip "
                        "or `tf.stop_gradient`.").format(call=call_text(spec, case), mode=mode))
                if not close(dx, rdx):
                    fail(_(
                        "The gradient with respect to the input differs from the reference's "
                        "({mode} mode, max relative difference {diff:.2e}). The shortcut must "
                        "carry x itself, with gradient, into the add.").format(
                            mode=mode, diff=max_rel_diff(dx, rdx)))
                dead = [n for n in rg if np.any(rg[n]) and not np.any(g.get(n, 0))]
                if dead:
                    fail(_("No gradient reaches {names} ({mode} mode): is that layer's output "
                           "used, and not detached?").format(
                               names=", ".join(f"`{d}`" for d in dead), mode=mode))
                off = [n for n in rg if not close(g.get(n, np.zeros(1)), rg[n])]
                if off:
                    fail(_("Gradients of {names} differ from the reference's ({mode} mode).")
                         .format(names=", ".join(f"`{o}`" for o in off), mode=mode))
        return _("Input and parameter gradients equal the reference's over a batch, train and "
                 "eval.")

    return run


def _identity(spec: BlockSpec) -> Callable[[Context], str]:
    bn_path, case = spec.zero_branch

    def run(ctx: Context) -> str:
        A = ctx.A
        rng = ctx.rng(3)
        block = build(ctx, spec, case)
        A.randomize_bn(block, rng)
        bn = A.get(block, bn_path)
        if bn is None:
            fail(_("`{path}` is missing.").format(path=bn_path))
        A.set_bn(bn, gamma=0.0, beta=0.0)
        x = _inputs(rng, case.in_shape)
        for training in (False, True):
            snap = A.snapshot(block)
            A.set_mode(block, training)
            out, dx, _g = A.grads(block, lambda t, m=training: A.call(block, t, m), x,
                                 np.ones(case.out_shape, np.float32))
            A.restore(block, snap)
            mode = _mode_words(A, training)
            if not close(out, np.maximum(x, 0)):
                fail(_(
                    "With `{path}`'s gamma and beta set to zero the residual branch adds nothing, "
                    "so the block must return relu(x); in {mode} mode it does not (max relative "
                    "difference {diff:.2e}). Is x itself added back, before the final ReLU?"
                ).format(path=bn_path, mode=mode, diff=max_rel_diff(out, np.maximum(x, 0))))
            if not close(dx, (x > 0).astype(np.float32)):
                fail(_(
                    "With the residual branch zeroed the gradient of sum(relu(x)) with respect "
                    "to x must be 1 where x > 0 and 0 elsewhere; in {mode} mode it is not. The "
                    "identity path must carry gradient: no `.detach()` and no in-place op on x "
                    "before the add.").format(mode=mode))
        return _("Zeroing `{path}` gamma and beta leaves relu(x), and its gradient flows through "
                 "the identity path.").format(path=bn_path)

    return run


TRAIN_SEED = 7  # the seed of the blocks' training data


def prefetch() -> None:
    """Generate the blocks' default training data now (a spare does, before its job)."""
    D.patterns(TrainSpec.n, TrainSpec.size, 3, seed=TRAIN_SEED)


def _training(spec: BlockSpec) -> Callable[[Context], str]:
    tr = spec.training

    def run(ctx: Context) -> str:
        A = ctx.A
        cls = ctx.get(spec.cls)
        x, y = D.patterns(tr.n, tr.size, 3, seed=TRAIN_SEED)
        body = tr.blocks(cls)
        model = A.classifier(body, 3, tr.stem, tr.features, len(D.PATTERN_CLASSES))
        model = A.prepare(model, (2, 3, tr.size, tr.size))
        run_ = T.train_and_score(
            ctx, model, D.split(x, y), steps=tr.steps, batch=tr.batch, lr=tr.lr,
            target=tr.target, what=_("a small network built from your {cls}").format(cls=spec.cls),
        )
        return _("A small net of your blocks reached {accuracy:.0%} validation accuracy (needs "
                 "{target:.0%}) in {steps} steps, {seconds:.1f} s.").format(
                     accuracy=run_.accuracy, target=tr.target, steps=tr.steps, seconds=run_.seconds)

    return run


def block_checks(spec: BlockSpec) -> list[Check]:
    checks = [
        Check("api", _("API: {signature}").format(signature=spec.signature), _api(spec), gate=True),
        Check("shapes", _("Output shapes"), _shapes(spec), needs=("api",)),
        Check("params", _("Parameter count"), _params(spec), needs=("api",)),
        Check("structure", _("Layers: kernels, strides, channels, biases"), _structure(spec),
              needs=("api",)),
        Check("function", _("Function: the data flow, train and eval"), _function(spec),
              needs=("shapes",)),
        Check("gradients", _("Gradients: input and every parameter"), _gradients(spec),
              needs=("function",)),
    ]
    if spec.zero_branch:
        checks.append(Check("identity", _("Identity path: relu(x) when the branch is zeroed"),
                            _identity(spec), needs=("shapes",)))
    checks.extend(spec.extra)
    if spec.training:
        checks.append(Check("training", _("Training: a small net of your blocks learns"),
                            _training(spec), needs=("function",)))
    return checks


__all__ = ["BlockSpec", "Case", "TrainSpec", "block_checks", "build", "call_text", "shown",
           "CheckFailed"]
