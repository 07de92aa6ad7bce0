"""Checks for residual blocks whose shortcut may be a projection (`downsample`).

Written once for both frameworks, on top of the block battery:
- `shortcut`: the reference shortcut, x itself or the learner's own `downsample`;
- `add_mistakes`: the usual wrong flows around the add and its ReLU, named;
- `projection_rule`: a check that `downsample` exists exactly when the branch
  changes x's shape, is a 1x1 conv then BN, and that an identity shortcut adds
  no parameters under any name (`insert_rule` places it after the api check);
- `BranchModule`: a module on a basic block's residual branch (an SE, a CBAM):
  the block's layers, its data flow, the misplacements of the module, named, and the
  shortcut rule's wording (`BASIC_RULE`, `basic_why`), written once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..i18n import N_, _
from . import Check, CheckFailed, Context, fail
from . import spec as S
from .blocks import BlockSpec, Case, Flow, build, call_text

# Likely mistakes behind a structure diff of the shortcut, for `BlockSpec.likely`.
SHORTCUT_LIKELY: dict[tuple[str, str], str] = {
    ("downsample", "present"): N_(
        "with stride 1 and as many channels out as in, the shortcut is x itself; create the "
        "projection only when the branch changes x's shape"
    ),
    ("downsample", "missing"): N_(
        "a projection is needed whenever stride != 1 or the channels change, also at stride 1"
    ),
    ("downsample", "length"): N_(
        "`downsample` holds exactly two layers, the 1x1 conv then its BatchNorm: without the BN "
        "the shortcut is unnormalised, and a ReLU does not belong on the shortcut"
    ),
    ("downsample.0", "kernel"): N_(
        "the projection is a 1x1 conv: it only maps channels, a 3x3 would mix neighbours and "
        "cost 9x the weights"
    ),
    ("downsample.0", "stride"): N_(
        "the projection conv carries the block's stride, or x keeps its size while the branch "
        "shrinks"
    ),
    ("downsample.0", "kind"): N_("index 0 of `downsample` is the 1x1 conv"),
    ("downsample.1", "kind"): N_("index 1 of `downsample` is the BatchNorm, after the conv"),
}


def shortcut(A: Any, b: Any, x: Any, training: bool) -> Any:
    """The block's shortcut: x itself, or the learner's `downsample` applied to x."""
    ds = getattr(b, "downsample", None)
    return x if ds is None else A.call(ds, x, training)


def _conv_only(A: Any, b: Any, x: Any, training: bool) -> Any:
    return A.call(A.get(b, "downsample.0"), x, training)  # raises when there is no projection


def _shortcut_other_mode(A: Any, b: Any, x: Any, training: bool) -> Any:
    ds = b.downsample
    if ds is None:
        raise ValueError("no projection")
    A.set_mode(ds, not training)
    try:
        return A.call(ds, x, not training)
    finally:
        A.set_mode(ds, training)


def add_mistakes(branch: Flow, last_bn: str) -> dict[str, Flow]:
    """Named wrong flows around `relu(branch(x) + shortcut(x))`.

    `branch` is the residual branch up to and including `last_bn`.
    """
    sc = shortcut
    return {
        _("a ReLU after {bn}, before the add (the only ReLU after {bn} comes after the "
          "add)").format(bn=last_bn):
            lambda A, b, x, t: A.relu(A.relu(branch(A, b, x, t)) + sc(A, b, x, t)),
        _("a ReLU after {bn} on the branch and none after the add").format(bn=last_bn):
            lambda A, b, x, t: A.relu(branch(A, b, x, t)) + sc(A, b, x, t),
        _("the final ReLU after the add is missing"):
            lambda A, b, x, t: branch(A, b, x, t) + sc(A, b, x, t),
        _("a ReLU on the shortcut before the add (or an in-place ReLU that changed x): the "
          "shortcut reaches the add untouched"):
            lambda A, b, x, t: A.relu(branch(A, b, x, t) + A.relu(sc(A, b, x, t))),
        _("no skip connection: the shortcut is never added"):
            lambda A, b, x, t: A.relu(branch(A, b, x, t)),
        _("the shortcut skips its BatchNorm (`downsample[1]` is never applied)"):
            lambda A, b, x, t: A.relu(branch(A, b, x, t) + _conv_only(A, b, x, t)),
        _("the shortcut's BatchNorm ran in a different mode from the block's (Keras: call "
          "downsample(x, training=training))"):
            lambda A, b, x, t: A.relu(branch(A, b, x, t) + _shortcut_other_mode(A, b, x, t)),
    }


def projection_rule(
    spec: BlockSpec,
    cases: list[Case],
    why: Callable[[Case], str],
    rule: str,
    name: str = "shortcut",
) -> Check:
    """`downsample` is present exactly where `spec.layers` expects it, and well formed.

    `why(case)` says in words what the case does to x's shape ("the channels change
    (64 -> 128) at stride 1"); `rule` states the rule in one sentence. Presence is read
    before any forward pass, so a block whose add fails still gets the rule named.
    """

    def run(ctx: Context) -> str:
        A = ctx.A
        for case in cases:
            block = build(ctx, spec, case, prepare=False)
            expected = spec.layers(*case.args, **case.kwargs)
            want = expected.get("downsample")
            ds = getattr(block, "downsample", None)
            call = call_text(spec, case)
            if want is None:
                if ds is not None:
                    fail(
                        _("In `{call}`, `downsample` is {type} where it should be None: {why}, so "
                          "the shortcut is x itself and adds no parameters. {rule}").format(
                            call=call, type=type(ds).__name__, why=why(case), rule=_(rule))
                    )
                try:
                    block = A.prepare(block, case.in_shape)
                except Exception:  # noqa: BLE001 - the shapes check reports a forward that raises
                    continue
                extra = S.unexpected_params(A, block, expected)
                if extra:
                    found = _(", ").join(_("`{path}` ({n} parameters)").format(path=p, n=f"{n:,}")
                                         for p, n in extra)
                    fail(
                        _("`{call}` should have no shortcut parameters ({why}), but it has "
                          "{found}. {rule}").format(call=call, why=why(case), found=found, rule=_(rule))
                    )
                continue
            if ds is None:
                fail(
                    _("`{call}` has no projection (`downsample` is None), but {why}, so x cannot "
                      "be added to the branch's output. {rule}").format(
                        call=call, why=why(case), rule=_(rule))
                )
            if not A.is_model(ds):
                fail(_("In `{call}`, `downsample` should be {spec}; found {type}.").format(
                    call=call, spec=want.describe(), type=type(ds).__name__))
            try:
                A.prepare(block, case.in_shape)
            except Exception:  # noqa: BLE001 - the shapes check reports a forward that raises
                A.prepare(ds, case.in_shape)  # builds Keras weights without the block's forward
            else:
                _require_used(A, block, want, call)
            diffs = S.compare(A, block, {"downsample": want})
            if diffs:
                lines = []
                for path, fld, msg in diffs:
                    reason = spec.likely.get((path, fld))
                    lines.append(msg + (_(": ") + _(reason) if reason else ""))
                fail(_("In `{call}`:").format(call=call) + "\n" + "\n".join(f"  - {m}" for m in lines))
        return _("`downsample` is None exactly where the shortcut can be x itself, else a 1x1 conv "
                 "with the block's stride then BN ({n} cases).").format(n=len(cases))

    return Check(name, _("Shortcut: identity or projection, by the rule"), run, needs=("api",))


def _require_used(A: Any, block: Any, want: Any, call: str) -> None:
    """After a forward pass every shortcut layer has its weights; Keras builds only those called."""
    for path in S.leaves({"downsample": want}):
        layer = A.get(block, path)
        if layer is not None and A.info(layer).in_channels is None:
            fail(
                _("In `{call}`, `{path}` still has no weights after a forward pass: your call() "
                  "never applies it. The shortcut is downsample(x, training=training), the conv "
                  "then the BatchNorm.").format(call=call, path=path)
            )


def insert_rule(battery: list[Check], rule: Check) -> list[Check]:
    """Put the rule right after the api check; the checks that run the reference
    flow through `downsample` wait for it."""
    battery.insert(1, rule)
    for check in battery:
        if check.name in ("function", "identity"):
            check.needs = (*check.needs, rule.name)
    return battery


# -- a module on the residual branch of a basic block (SE, CBAM) ---------------

BASIC_RULE = N_("The rule (exercise 02): `downsample` = 1x1 conv (the block's stride, no bias) then "
                "BN exactly when stride != 1 or in_channels != out_channels; otherwise None.")


def basic_why(case: Case) -> str:
    """Why a basic block's case needs, or does not need, a projection."""
    cin, cout = case.args[:2]
    stride = case.args[2] if len(case.args) > 2 else case.kwargs.get("stride", 1)
    if stride != 1:
        return _("stride {stride} shrinks H and W").format(stride=stride)
    if cin != cout:
        return _("the channels change ({cin} -> {cout}) at stride 1").format(cin=cin, cout=cout)
    return _("stride 1 with {cin} channels in and out leaves x the branch's shape").format(cin=cin)


@dataclass(frozen=True)
class BranchModule:
    """`attr` (e.g. "se") applied to bn2's output, before the add, in 02's basic block.

    `layers(channels, reduction)` gives the module's expected layers, `scale(A, module, y)`
    recomputes its output from the learner's own layers; `name` and `verb` word the
    messages ("the SE scales", "CBAM refines")."""

    attr: str
    name: str
    verb: str
    layers: Callable[..., dict]
    scale: Callable[[Any, Any, Any], Any]

    def block_layers(self, in_channels: int, out_channels: int, stride: int = 1,
                     reduction: int = 16) -> dict:
        projection = stride != 1 or in_channels != out_channels
        module = {f"{self.attr}.{k}": v for k, v in self.layers(out_channels, reduction).items()}
        return {
            "conv1": S.Conv(in_channels, out_channels, 3, stride=stride),
            "bn1": S.BN(out_channels),
            "conv2": S.Conv(out_channels, out_channels, 3),
            "bn2": S.BN(out_channels),
            **module,
            "downsample": S.Seq((S.Conv(in_channels, out_channels, 1, stride=stride), S.BN(out_channels)))
            if projection else None,
        }

    def module(self, b: Any) -> Any:
        return getattr(b, self.attr)

    @staticmethod
    def first(A: Any, b: Any, x: Any, t: bool) -> Any:
        return A.relu(A.call(b.bn1, A.call(b.conv1, x, t), t))

    def branch(self, A: Any, b: Any, x: Any, t: bool) -> Any:
        """bn2's output: what the module takes."""
        return A.call(b.bn2, A.call(b.conv2, self.first(A, b, x, t), t), t)

    def attended(self, A: Any, b: Any, x: Any, t: bool) -> Any:
        return self.scale(A, self.module(b), self.branch(A, b, x, t))

    def flow(self, A: Any, b: Any, x: Any, t: bool) -> Any:
        return A.relu(self.attended(A, b, x, t) + shortcut(A, b, x, t))

    def misplacements(self) -> dict[str, Flow]:
        """The module in the wrong place, or missing, and the usual mistakes around the add."""
        name, verb, attr = self.name, self.verb, self.attr
        cap = name[0].upper() + name[1:]
        on = self.scale

        def mod(b: Any) -> Any:
            return self.module(b)

        branch, first = self.branch, self.first
        return {
            _("{name} {verb} the sum after the add; it belongs on the residual branch, after "
              "bn2 and before the add").format(name=name, verb=verb):
                lambda A, b, x, t: A.relu(on(A, mod(b), branch(A, b, x, t) + shortcut(A, b, x, t))),
            _("{name} {verb} the block's output after the final ReLU; it belongs on the "
              "residual branch, after bn2 and before the add").format(name=name, verb=verb):
                lambda A, b, x, t: on(A, mod(b), A.relu(branch(A, b, x, t) + shortcut(A, b, x, t))),
            _("{name} {verb} the shortcut instead of the residual branch").format(name=name, verb=verb):
                lambda A, b, x, t: A.relu(branch(A, b, x, t) + on(A, mod(b), shortcut(A, b, x, t))),
            _("{name} sits between conv2 and bn2; it goes after bn2").format(name=cap):
                lambda A, b, x, t: A.relu(
                    A.call(b.bn2, on(A, mod(b), A.call(b.conv2, first(A, b, x, t), t)), t)
                    + shortcut(A, b, x, t)
                ),
            _("{name} is never applied: the branch skips `{attr}`").format(name=cap, attr=attr):
                lambda A, b, x, t: A.relu(branch(A, b, x, t) + shortcut(A, b, x, t)),
        }

    def wrong_flows(self, specific: dict[str, Flow]) -> dict[str, Flow]:
        """The misplacements, then the module's own mistakes, then those around the add."""
        return {**self.misplacements(), **specific, **add_mistakes(self.attended, self.name)}


__all__ = ["BASIC_RULE", "SHORTCUT_LIKELY", "BranchModule", "add_mistakes", "basic_why",
           "insert_rule", "projection_rule", "shortcut"]


# -- Keras stumbles, named ---------------------------------------------------------


def _padding_diffs(A: Any, block: Any, expected: dict) -> list[str]:
    """Each 3x3 conv pads itself: torch padding 1 (or "same" at stride 1), Keras "same"."""
    out = []
    for path, want in S.leaves(expected).items():
        layer = A.get(block, path)
        if not isinstance(want, S.Conv) or want.k == 1 or layer is None:
            continue
        pad = A.info(layer).padding
        ok = (pad == "same") if A.channels_last else (
            tuple(pad) == (want.k // 2,) * 2 if isinstance(pad, (tuple, list)) else pad == "same")
        if not ok:
            shown = f'"{pad}"' if isinstance(pad, str) else str(tuple(pad))
            out.append(f"`{path}` has padding {shown}, expected "
                       + ('"same"' if A.channels_last else str(want.k // 2)))
    return out


def _padding_failure(ctx: Context, spec: BlockSpec, case_list: list[Case]) -> None:
    for case in case_list:
        block = build(ctx, spec, case, prepare=False)
        diffs = _padding_diffs(ctx.A, block, spec.layers(*case.args, **case.kwargs))
        if diffs:
            fail(f"In `{call_text(spec, case)}`: " + "; ".join(diffs) + ". The padding belongs to "
                 "the conv (" + ('padding="same"; not a separate ZeroPadding2D' if ctx.A.channels_last
                                 else "padding=1 for a 3x3") + "), so the output keeps ceil(H / stride) "
                 "rows and the grader can recompute your block from its layers.")


def _guarded(spec: BlockSpec, check: Check) -> Check:
    """structure: also each conv's own padding. function, gradients, identity: when the check
    stumbles (an exception, not a failure), name what Keras users stumble on: a layer call()
    never applied (it has no weights), or a conv padded outside itself."""
    inner = check.run

    def structure(ctx: Context) -> str:
        message = inner(ctx)
        _padding_failure(ctx, spec, spec.function_cases)
        return message

    def run(ctx: Context) -> str:
        try:
            return inner(ctx)
        except CheckFailed:
            raise
        except Exception:
            if ctx.framework != "tf":
                raise
            for case in spec.function_cases:
                try:
                    block = build(ctx, spec, case)
                except Exception:  # noqa: BLE001 - the check's own error says more
                    continue
                idle = [p for p in S.leaves(spec.layers(*case.args, **case.kwargs))
                        if (layer := ctx.A.get(block, p)) is not None
                        and ctx.A.info(layer).in_channels is None]
                if idle:
                    fail(f"In `{call_text(spec, case)}`, `{idle[0]}` still has no weights after a "
                         "forward pass: your call() never applies it (Keras creates a layer's "
                         "weights on its first call). Is another layer called in its place?")
            _padding_failure(ctx, spec, spec.function_cases)
            raise

    check.run = structure if check.name == "structure" else run
    return check


GUARDED = ("structure", "function", "gradients", "identity")


def keras_guarded(spec: BlockSpec, battery: list[Check]) -> list[Check]:
    """The block battery with its structure check also reading each conv's own padding, and
    its function, gradients and identity checks naming, when they stumble in Keras, a layer
    call() never applies or a conv padded outside itself."""
    return [_guarded(spec, c) if c.name in GUARDED else c for c in battery]
