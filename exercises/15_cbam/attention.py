"""The checks of ChannelAttention, SpatialAttention and CBAM: each module's battery, then probes
from outside of its gate."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from resnet_kata import i18n
from resnet_kata.checks import Check, CheckFailed, Context, close, fail
from resnet_kata.checks import spec as S
from resnet_kata.checks.blocks import BlockSpec, Case, block_checks, build, call_text
from resnet_kata.checks.probes import (
    GateWords,
    channel_gate_check,
    prefixed,
    ratio,
    reduction_width_check,
    signed_inputs,
)

from .flows import ca_gate, sa_gate

# The channel gate: one value per channel, in [0, 1], fed by BOTH the average and the
# maximum through ONE MLP. The spatial gate: one value per position shared by every
# channel, in [0, 1], fed by the mean and max ACROSS the channels.


def _summed_gates(lo: float, hi: float) -> str:
    """A gate in (1, 2]: two sigmoids added."""
    return (" Above 1 but under 2: a sigmoid on each branch, then summed? Sum the two MLP outputs "
            "first, then one sigmoid." if 1.0 < hi <= 2.0 + 1e-5 and lo >= -1e-6 else "")


CHANNEL_WORDS = GateWords(
    per_channel=("Channel attention computes ONE gate per channel from the globally pooled "
                 "descriptors and scales every position of that channel by it."),
    sigmoid_of="MLP(avg) + MLP(max)",
    range_hint=_summed_gates,
)


def _reference_moves(A: Any, gate: Callable[[Any], Any], x1: np.ndarray, x2: np.ndarray) -> bool:
    """Whether the correct gate, from the learner's own layers, tells x1 from x2.

    With an unusual initialisation (a zero fc2, a dead ReLU) it may not, and then a
    probe cannot blame the learner. When the layers do not fit the reference at all
    (a structure mistake), assume it would.
    """
    try:
        g1, g2 = A.numpy(gate(A.tensor(x1))), A.numpy(gate(A.tensor(x2)))
    except Exception:  # noqa: BLE001 - a wrongly shaped layer: the structure check names it
        return True
    return not close(g1, g2, tol=1e-4)


def _channel_pooling(spec: BlockSpec, case: Case) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        rng = ctx.rng(6)
        block = build(ctx, spec, case)
        x1 = rng.uniform(0.5, 1.5, case.in_shape).astype(np.float32)
        mean = x1.mean(axis=(2, 3), keepdims=True)
        top = x1.max(axis=(2, 3), keepdims=True)
        same_mean = (mean + 0.2 * (x1 - mean)).astype(np.float32)  # other maximum
        same_max = (top - 0.5 * (top - x1)).astype(np.float32)  # other average
        gate = lambda t: ca_gate(A, block, t)  # noqa: E731
        _, g1 = ratio(A, block, x1)
        first = g1.reshape(*g1.shape[:2], -1)[:, :, 0]
        for other, kept, missing, advice in (
            (same_mean, "average", "MAXIMUM", "that is SE's squeeze; CBAM adds a global max pool"),
            (same_max, "maximum", "AVERAGE", "CBAM uses the global average pool too"),
        ):
            _, g2 = ratio(A, block, other)
            second = g2.reshape(*g2.shape[:2], -1)[:, :, 0]
            if close(first, second, tol=1e-6) and _reference_moves(A, gate, x1, other):
                fail(
                    f"Two inputs with the same per-channel {kept} but a different {missing.lower()} "
                    f"got the same gate: the global {missing} never reaches the MLP ({advice}). "
                    "Pool each channel both ways, pass each descriptor through the same fc1-ReLU-"
                    "fc2 and sum the two results before the sigmoid."
                )
        return "The gate depends on both the per-channel average and the per-channel maximum."

    return run


def _shared_mlp(spec: BlockSpec, case: Case) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        block = build(ctx, spec, case)
        c = case.args[0]
        weighted = [(p, layer) for p, layer in S.walk(A, block)
                    if A.info(layer).kind in ("linear", "conv") and A.info(layer).trainable]
        if len(weighted) > 2:
            names = ", ".join(f"`{p}`" for p, _ in weighted)
            fail(
                f"`{call_text(spec, case)}` has {len(weighted)} weight layers ({names}): the "
                "average- and max-pooled descriptors go through ONE shared MLP, `fc1` then "
                "`fc2`, called twice; two separate MLPs double the parameters and are not CBAM."
            )
        fc1 = A.get(block, "fc1")
        if fc1 is not None and A.info(fc1).in_channels == 2 * c:
            fail(
                f"`fc1` takes {2 * c} inputs, twice the {c} channels: the two descriptors were "
                "concatenated. Pass each (N, C) descriptor through the same MLP on its own and "
                "SUM the two outputs before the sigmoid."
            )
        return "One MLP (fc1, fc2) serves both pooled descriptors."

    return run


def _spatial_gate(spec: BlockSpec, case: Case) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        rng = ctx.rng(7)
        block = build(ctx, spec, case)
        for scale in (1.0, 20.0):
            _, g = ratio(A, block, signed_inputs(rng, case.in_shape, scale))
            spread = g.max(axis=1) - g.min(axis=1)  # over channels, per position
            if spread.max() > 1e-5 * (1.0 + np.abs(g).max()):
                fail(
                    f"The gate (your output divided by the input) differs between the channels "
                    f"of one position (by up to {spread.max():.3g}). Spatial attention gives ONE "
                    "gate per position, shared by all channels: pool ACROSS the channel axis "
                    "(mean and max over C at every position), not over height and width, and "
                    "multiply x by the (N, 1, H, W) gate."
                )
            lo, hi = float(g.min()), float(g.max())
            if lo < -1e-6 or hi > 1.0 + 1e-5:
                fail(
                    f"The gate must lie in [0, 1] (a sigmoid of the conv's output); with inputs "
                    f"of magnitude up to {1.5 * scale:g} yours ranges over [{lo:.4g}, {hi:.4g}]."
                )
            per_pos = g[:, 0]
            sums = per_pos.reshape(per_pos.shape[0], -1).sum(axis=1)
            if per_pos[0].size > 1 and np.all(np.abs(sums - 1.0) < 1e-4):
                fail("The gates of each sample sum to 1 over the positions: that is a softmax over "
                     "H x W. Every position gets its own sigmoid.")
            if per_pos[0].size > 1:
                flat = per_pos.reshape(per_pos.shape[0], -1)
                if np.all(flat.max(axis=1) - flat.min(axis=1) < 1e-7):
                    fail(
                        "The gate is the same at every position of a sample: the pooling "
                        "collapsed height and width. Pool ACROSS the channels at each position "
                        "so the gate keeps the (H, W) map."
                    )
        # locality: the gate at a position sees only the k x k window around it
        k = case.kwargs.get("kernel_size", case.args[0] if case.args else 7)
        x1 = signed_inputs(rng, case.in_shape, 1.0)
        x2 = x1.copy()
        x2[:, :, 0, 0] *= 4.0
        _, g1 = ratio(A, block, x1)
        _, g2 = ratio(A, block, x2)
        far = np.ones(g1.shape[2:], bool)
        far[: k // 2 + 1, : k // 2 + 1] = False
        if far.any() and not close(g1[:, 0][:, far], g2[:, 0][:, far], tol=1e-6):
            fail(
                f"Changing the input at one corner position changed the gate at positions "
                f"beyond the {k}x{k} conv's reach: something pools over height and width. "
                "Spatial attention pools ACROSS the channels at each position (mean and max "
                "over C), so the gate at a position depends only on its k x k neighbourhood."
            )
        return "The gate lies in [0, 1] and is one value per position, shared by every channel."

    return run


def _spatial_pooling(spec: BlockSpec, case: Case) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        rng = ctx.rng(8)
        block = build(ctx, spec, case)
        x1 = rng.uniform(0.5, 1.5, case.in_shape).astype(np.float32)
        mean = x1.mean(axis=1, keepdims=True)
        top = x1.max(axis=1, keepdims=True)
        same_mean = (mean + 0.2 * (x1 - mean)).astype(np.float32)
        same_max = (top - 0.5 * (top - x1)).astype(np.float32)
        gate = lambda t: sa_gate(A, block, t)  # noqa: E731
        _, g1 = ratio(A, block, x1)
        for other, kept, missing in ((same_mean, "mean", "max"), (same_max, "max", "mean")):
            _, g2 = ratio(A, block, other)
            if close(g1[:, 0], g2[:, 0], tol=1e-6) and _reference_moves(A, gate, x1, other):
                fail(
                    f"Two inputs with the same channel-wise {kept} at every position but a "
                    f"different channel-wise {missing} got the same gate: the {missing} across "
                    f"channels never reaches the conv. The conv's input is the 2-channel map "
                    "[mean over C, max over C]."
                )
        return "The gate depends on both the channel-wise mean and the channel-wise max."

    return run


def _spatial_padding(spec: BlockSpec, cases: list[Case]) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        A = ctx.A
        for case in cases:
            block = build(ctx, spec, case, prepare=False)
            k = case.kwargs.get("kernel_size", case.args[0] if case.args else 7)
            info = A.info(A.get(block, "conv"))
            pad = info.padding
            if A.channels_last:
                ok = str(pad).lower() == "same"
                want = 'padding="same"'
            else:
                ok = pad == "same" or tuple(pad) == (k // 2, k // 2)
                want = f"padding={k // 2} (k // 2)"
            if not ok:
                fail(
                    f"In `{call_text(spec, case)}` the conv's padding is {pad!r}: the gate must "
                    f"keep H and W so it can multiply x position by position; use {want}."
                )
        return "The spatial conv's padding keeps height and width."

    return run


def _reworded(check: Check, path: str) -> Check:
    """The shared diff says a conv bias is redundant before BatchNorm; after the spatial
    conv at `path` no BatchNorm follows, so say what this exercise fixes instead."""
    inner = check.run
    pattern = re.compile(rf"(`{re.escape(path)}` has a bias \([^)]*\): ){re.escape(BN_BIAS)}")

    def run(ctx: Context) -> str | None:
        try:
            return inner(ctx)
        except CheckFailed as exc:
            exc.message = pattern.sub(lambda m: m.group(1) + SA_BIAS, exc.message)
            exc.args = (exc.message,)
            raise

    return replace(check, run=run)


def _bn_statistics_suffix() -> str:
    """The words the shared params message adds to a Keras count, about BN statistics, in the
    language the kit speaks (the difference between its two templates)."""
    full = i18n._("{t:,} trainable + {n:,} non-trainable (BN moving mean and variance)")
    bare = i18n._("{t:,} trainable + {n:,} non-trainable")
    return full[len(bare):] if full.startswith(bare) else " (BN moving mean and variance)"


def without_bn_statistics(check: Check, cls: str) -> Check:
    """The shared params check tells a Keras learner the non-trainable count is "BN moving mean
    and variance"; `cls` has no BatchNorm, so say that instead."""
    inner = check.run

    def run(ctx: Context) -> str | None:
        try:
            return inner(ctx)
        except CheckFailed as exc:
            suffix = _bn_statistics_suffix()
            if suffix in exc.message:
                instead = (f" ({cls} has no BatchNorm, so no non-trainable weights; any you have "
                           "come from a layer the statement does not list)"
                           if i18n.language() == "en" else "")
                exc.message = exc.message.replace(suffix, instead, 1)
                exc.args = (exc.message,)
            raise

    return replace(check, run=run)


BN_BIAS = "a conv followed by BatchNorm needs none, BN's beta already shifts"
SA_BIAS = ("this exercise fixes the spatial conv without a bias (and no BatchNorm after it): "
           "2·k·k weights")


def channel_checks(spec: BlockSpec, hidden: list[tuple[tuple[Any, ...], dict[str, Any], int]],
                   gate: Case, pooling: Case, prefix: str = "ca_") -> list[Check]:
    """ChannelAttention: the battery, the hidden width, one shared MLP, the gate probes.

    `hidden` lists (args, kwargs, expected hidden width); `gate` probes the gate's range and
    that it is one value per channel (and the one MLP), `pooling` that both the average and
    the maximum reach the MLP.
    """
    battery = {c.name: c for c in block_checks(replace(spec, training=None, zero_branch=None))}
    order = [
        battery["api"],
        reduction_width_check(spec, hidden),
        battery["shapes"],
        Check("shared", "One MLP shared by the average and max descriptors",
              _shared_mlp(spec, gate), needs=("api",)),
        without_bn_statistics(battery["params"], spec.cls), battery["structure"], battery["function"],
        channel_gate_check(spec, gate, CHANNEL_WORDS),
        Check("pooling", "Pooling: the average AND the max feed the MLP",
              _channel_pooling(spec, pooling), needs=("shapes",)),
        battery["gradients"],
    ]
    return prefixed(order, prefix, spec.cls)


def spatial_checks(spec: BlockSpec, gate: Case, prefix: str = "sa_") -> list[Check]:
    """SpatialAttention: the battery, the padding, the gate probes."""
    battery = {c.name: c for c in block_checks(replace(spec, training=None, zero_branch=None))}
    order = [
        battery["api"], battery["shapes"],
        without_bn_statistics(_reworded(battery["params"], "conv"), spec.cls),
        _reworded(battery["structure"], "conv"),
        Check("padding", "Padding keeps H and W", _spatial_padding(spec, spec.function_cases),
              needs=("api",)),
        battery["function"],
        Check("gate", "Gate: in [0, 1], one value per position", _spatial_gate(spec, gate),
              needs=("shapes",)),
        Check("pooling", "Pooling: mean AND max across the channels",
              _spatial_pooling(spec, gate), needs=("shapes",)),
        battery["gradients"],
    ]
    return prefixed(order, prefix, spec.cls)


def module_checks(spec: BlockSpec, prefix: str = "cbam_") -> list[Check]:
    """CBAM: the battery (its function check names the order), with the bias wording fixed."""
    battery = reword_block(block_checks(replace(spec, training=None, zero_branch=None)),
                           "spatial.conv")
    battery = [without_bn_statistics(c, spec.cls) if c.name == "params" else c for c in battery]
    return prefixed(battery, prefix, spec.cls)


def reword_block(checks: list[Check], path: str) -> list[Check]:
    """The params and structure checks of a battery, saying why `path` has no bias."""
    return [_reworded(c, path) if c.name in ("params", "structure") else c for c in checks]


