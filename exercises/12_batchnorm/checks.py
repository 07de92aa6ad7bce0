"""Checks for 12_batchnorm: BatchNorm written from scratch, graded against the framework's layer.

The learner's layer and the framework's own (nn.BatchNorm2d, keras BatchNormalization)
get the same eps, momentum, gamma, beta and inputs; outputs, running statistics and
gradients must agree. When they do not, the learner's numbers are matched against
the named wrong versions in `mistakes.py` (statistics over the wrong axes, eps outside
the square root, the other framework's momentum convention, ...), so the message can
say which mistake it looks like. The verdicts are written once, on numpy arrays in the
canonical (N, C, H, W) layout; the drivers in `drivers.py` touch the tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_kata.checks import Check, CheckFailed, Context, close, fail, fmt_shape, max_rel_diff
from resnet_kata.checks.calls import invoke
from resnet_kata.checks.training import train_and_score
from resnet_kata.data import patterns, split

from .drivers import driver
from .mistakes import diagnose, eval_mistakes, ignored_eps, stats_mistake, train_mistakes
from .references import Inputs, batch_stats, channel


def _affine(rng: np.random.Generator, c: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(0.5, 1.5, c).astype(np.float32), rng.normal(0.0, 0.5, c).astype(np.float32)


def _input(rng: np.random.Generator, shape: tuple[int, ...], shift: float = 0.0,
           scale: float = 1.0) -> np.ndarray:
    """Different per-channel offsets and spreads, so per-channel statistics matter."""
    c = shape[1]
    offsets = shift + rng.normal(0.0, 1.0, c)
    spreads = scale * rng.uniform(0.5, 2.0, c)
    x = rng.normal(0.0, 1.0, shape) * spreads[None, :, None, None] + offsets[None, :, None, None]
    return x.astype(np.float32)


# -- the checks ------------------------------------------------------------------------


def bn_api(ctx: Context) -> str:
    drv = driver(ctx)
    conv = drv.conv
    for eps, momentum in ((None, None), (0.01, 0.3)):
        layer = drv.learner(3, eps, momentum)
        x = _input(ctx.rng(1), (2, 3, 4, 5))
        for training in (True, False):
            try:
                drv.run(layer, x, training, f"on an input of shape (2, 3, 4, 5) (N, C, H, W), "
                                            f"{'train' if training else 'inference'} mode")
            except CheckFailed:
                # inference after a training call: a broken buffer is the likelier cause
                problem = "" if training else drv.state_problem(layer, "After one training call")
                if problem:
                    fail(problem + " (The next call, in inference mode, then failed.)")
                raise
    if ctx.framework == "torch":
        return ("`BatchNorm2d(num_features, eps=1e-5, momentum=0.1)` constructs and keeps the "
                "shape in train and eval mode.")
    named = invoke(ctx, "BatchNorm", ctx.get("BatchNorm"), name="my_bn",
                   case='when constructed as `BatchNorm(name="my_bn")`',
                   advice="Accept **kwargs and pass them on: super().__init__(**kwargs).")
    if getattr(named, "name", None) != "my_bn":
        fail(f'`BatchNorm(name="my_bn")` made a layer named {getattr(named, "name", None)!r}: the '
             "keyword arguments were not passed on. Accept **kwargs and call "
             "super().__init__(**kwargs), so name=, dtype= and Keras' other layer arguments work.")
    return (f"`{conv.cls}(momentum=0.99, epsilon=1e-3)` builds and keeps the shape with "
            "training=True and training=False.")


def bn_from_scratch(ctx: Context) -> str:
    """No framework normalisation while the learner's layer runs, forward or backward."""
    drv = driver(ctx)
    conv = drv.conv
    layer = drv.learner(3)
    if drv.is_framework_bn(layer):
        fail(f"Your {conv.cls} subclasses {drv.forbidden_base}. Subclass "
             f"{'torch.nn.Module' if ctx.framework == 'torch' else 'keras.layers.Layer'} and "
             "compute the normalisation yourself.")
    rng = ctx.rng(2)
    x = _input(rng, (4, 3, 5, 5))
    raised: CheckFailed | None = None
    with drv.watched() as calls:
        try:
            drv.run(layer, x, True, "in train mode")
            drv.run(layer, x, False, "in inference mode")
            drv.grads(layer, x, rng.normal(0, 1, x.shape).astype(np.float32), "with gradients")
        except CheckFailed as exc:  # a library call may be why it failed: report the call first
            raised = exc
    if calls:
        fail(
            f"Your {conv.cls} calls `{calls[0]}`. This exercise asks you to write the normalisation "
            "yourself from means, variances and a square root (the grader compares you with "
            f"{conv.ref}, which is built on that very function).",
            calls=list(dict.fromkeys(calls)),
        )
    if raised is not None:
        raise raised
    return f"No call to the framework's normalisation functions; {conv.cls} is not {conv.ref}."


def _compare_train(ctx: Context, drv: Any, layer: Any, ref: Any, s: Inputs, eps: float,
                   label: str) -> None:
    conv = drv.conv
    drv.set(layer, g=s.g, b=s.b, rm=s.rm, rv=s.rv)
    drv.set(ref, g=s.g, b=s.b, rm=s.rm, rv=s.rv)
    got = drv.run(layer, s.x, True, s.text())
    want = drv.run(ref, s.x, True, s.text())
    if not close(got, want):
        why = diagnose(got, s, train_mistakes(conv, eps))
        fail(
            f"In training mode ({conv.train}) {s.text()}, your output differs from {label}'s by "
            f"up to {max_rel_diff(got, want):.3g} (relative)"
            + (f": {why}." if why else
               ". Training mode computes, per channel c over (N, H, W): mean, biased variance, "
               "then gamma * (x - mean) / sqrt(var + eps) + beta."),
            max_diff=max_rel_diff(got, want),
        )


def bn_train_output(ctx: Context) -> str:
    drv = driver(ctx)
    conv = drv.conv
    rng = ctx.rng(3)
    cases = [((4, 3, 5, 5), 0.0, 1.0, ""),
             ((1, 4, 3, 5), 0.0, 1.0, ", batch 1, non-square"),
             ((6, 2, 7, 4), 4.0, 5.0, ", shifted by about 4 and scaled by about 5"),
             ((8, 5, 2, 3), -2.0, 0.3, ", shifted by about -2, spread 0.3")]
    for shape, shift, scale, what in cases:
        c = shape[1]
        g, b = _affine(rng, c)
        s = Inputs(_input(rng, shape, shift, scale), g, b, rng.normal(0, 0.5, c).astype(np.float32),
                   rng.uniform(0.5, 2.0, c).astype(np.float32), what)
        _compare_train(ctx, drv, drv.learner(c), drv.reference(c), s, conv.eps, conv.ref)
    return (f"Train-mode output equals {conv.ref}'s on {len(cases)} inputs (batch 1, non-square, "
            "shifted and scaled data), with random gamma and beta.")


def bn_per_channel(ctx: Context) -> str:
    """A crafted input where every wrong choice of axes gives a visibly different output."""
    drv = driver(ctx)
    conv = drv.conv
    rng = ctx.rng(4)
    n, c, h, w = 4, 3, 4, 6
    ramp = np.linspace(-1.0, 1.0, h * w).reshape(1, 1, h, w)
    means = np.array([-4.0, 0.0, 6.0]).reshape(1, c, 1, 1)
    spreads = np.array([0.5, 1.0, 3.0]).reshape(1, c, 1, 1)
    x = (means + spreads * (rng.normal(0, 1, (n, c, h, w)) + 2.0 * ramp)).astype(np.float32)
    g, b = np.ones(c, np.float32), np.zeros(c, np.float32)
    s = Inputs(x, g, b, np.zeros(c, np.float32), np.ones(c, np.float32),
               ", channels with means -4, 0, 6 and spreads 0.5, 1, 3")
    _compare_train(ctx, drv, drv.learner(c), drv.reference(c), s, conv.eps, conv.ref)
    return "One mean and one variance per channel, over batch, height and width."


def bn_eps(ctx: Context) -> str:
    """A custom eps that is large next to the variance, in train and in inference mode."""
    drv = driver(ctx)
    conv = drv.conv
    rng = ctx.rng(5)
    eps, c = 0.05, 3
    g, b = _affine(rng, c)
    x = _input(rng, (4, c, 3, 5), 1.0, 0.1)  # variance around 0.01, well under eps
    rm = rng.normal(0, 0.5, c).astype(np.float32)
    rv = rng.uniform(0.005, 0.05, c).astype(np.float32)
    s = Inputs(x, g, b, rm, rv, f", variance about 0.01, {conv.eps_arg}={eps}")
    text, _ = drv.signature(c, eps, None)
    layer, ref = drv.learner(c, eps), drv.reference(c, eps)
    drv.set(layer, g=g, b=b, rm=rm, rv=rv)
    drv.set(ref, g=g, b=b, rm=rm, rv=rv)
    got, want = drv.run(layer, x, True, s.text()), drv.run(ref, x, True, s.text())
    if not close(got, want):
        why = diagnose(got, s, [*train_mistakes(conv, eps), *ignored_eps(conv, eps, train=True)])
        fail(f"With `{text}` in training mode {s.text()}, your output differs from {conv.ref}'s"
             + (f": {why}." if why else ". Divide by sqrt(var + eps), eps inside the root."))
    drv.set(layer, g=g, b=b, rm=rm, rv=rv)
    drv.set(ref, g=g, b=b, rm=rm, rv=rv)
    got, want = drv.run(layer, x, False, s.text()), drv.run(ref, x, False, s.text())
    if not close(got, want):
        why = diagnose(got, s, [*eval_mistakes(conv, eps), *ignored_eps(conv, eps, train=False)])
        fail(f"With `{text}` in inference mode ({conv.infer}) {s.text()}, your output differs "
             f"from {conv.ref}'s" + (f": {why}." if why else
                                     ". Divide by sqrt(running var + eps), eps inside the root."))
    return f"eps sits inside the square root and a custom {conv.eps_arg} is used, in both modes."


def _sequence(ctx: Context, c: int) -> list[np.ndarray]:
    rng = ctx.rng(6)
    specs = [((4, c, 5, 5), 2.0, 3.0), ((2, c, 4, 6), -1.0, 0.5), ((1, c, 3, 3), 0.5, 2.0),
             ((6, c, 2, 2), 3.0, 1.0),
             ((2, c, 1, 1), 1.0, 2.0)]  # two values per channel: the unbiased variance doubles
    return [_input(rng, shape, shift, scale) for shape, shift, scale in specs]


def bn_running_stats(ctx: Context) -> str:
    drv = driver(ctx)
    conv = drv.conv
    c = 3
    batches = _sequence(ctx, c)
    # Keras: also a momentum below 0.5, where 1 % m is no longer 1 - m
    customs = (0.3,) if ctx.framework == "torch" else (0.8, 0.3)
    for momentum in (None, *customs):
        m = conv.momentum if momentum is None else momentum
        text, _ = drv.signature(c, None, momentum)
        layer, ref = drv.learner(c, None, momentum), drv.reference(c, None, momentum)
        shapes = ", ".join(fmt_shape(x.shape) for x in batches)
        held = drv.held(layer)
        for x in batches:
            drv.run(layer, x, True, f"in training mode on {fmt_shape(x.shape)}", grad=True)
            drv.run(ref, x, True, "")
        after = f"After {len(batches)} training calls of `{text}`"
        problem = drv.state_problem(layer, after)
        if problem:
            fail(problem)
        rm, rv, count = drv.stats(layer)
        want_m, want_v, want_count = drv.stats(ref)
        if not (close(rm, want_m, 1e-5) and close(rv, want_v, 1e-5)):
            why = stats_mistake(conv, batches, m, rm, rv, momentum is not None)
            fail(
                f"After {len(batches)} training calls of `{text}` on batches of shapes {shapes}, "
                f"{conv.mean_name} / {conv.var_name} are {np.round(rm, 4).tolist()} / "
                f"{np.round(rv, 4).tolist()}; {conv.ref} has {np.round(want_m, 4).tolist()} / "
                f"{np.round(want_v, 4).tolist()}. Likely: {why}.",
                got_mean=rm.tolist(), got_var=rv.tolist(), want_mean=want_m.tolist(),
                want_var=want_v.tolist(),
            )
        if ctx.framework == "torch" and count != want_count:
            fail(
                f"After {len(batches)} training calls, num_batches_tracked is {count}; it must "
                f"count the training calls ({want_count}): add 1 to it in every train-mode forward "
                "(it stays a long tensor buffer so state_dicts match nn.BatchNorm2d's)."
            )
        problem = drv.rebound(layer, held, after)
        if problem:
            fail(problem)
    return (f"Running statistics after {len(batches)} steps equal {conv.ref}'s, with the default "
            f"and a custom momentum ({conv.rule()}"
            + (", unbiased variance; num_batches_tracked counts the steps)." if conv.unbiased_running
               else ", biased variance).") )


def bn_eval_mode(ctx: Context) -> str:
    drv = driver(ctx)
    conv = drv.conv
    rng = ctx.rng(7)
    c = 4
    g, b = _affine(rng, c)
    rm = rng.normal(0, 0.5, c).astype(np.float32)
    rv = rng.uniform(0.5, 2.0, c).astype(np.float32)
    x = _input(rng, (5, c, 3, 4), 1.0, 2.0)
    s = Inputs(x, g, b, rm, rv, ", random running statistics")
    layer, ref = drv.learner(c), drv.reference(c)
    drv.set(layer, g=g, b=b, rm=rm, rv=rv)
    drv.set(ref, g=g, b=b, rm=rm, rv=rv)
    before = drv.stats(layer)
    modes = [False] if ctx.framework == "torch" else [False, None]
    want = drv.run(ref, x, False, "")
    for mode in modes:
        how = conv.infer if mode is False else "called without a training argument"
        got = drv.run(layer, x, mode, s.text())
        after = drv.stats(layer)
        if not (np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])):
            fail(
                f"In inference mode ({how}) your layer updated {conv.mean_name}/{conv.var_name}. "
                "Only training mode updates the running statistics; inference reads them and "
                "changes nothing" + (" (check self.training)." if ctx.framework == "torch" else
                                     " (update only when training is truthy).")
                + (" A call without a training argument gets training=None, which Keras treats as "
                   "inference outside fit(): test `if training:`, not `training is not False`."
                   if mode is None else "")
            )
        if before[2] != after[2]:
            fail(f"In inference mode ({how}) num_batches_tracked went from {before[2]} to "
                 f"{after[2]}; inference changes no state.")
        if not close(got, want):
            why = diagnose(got, s, eval_mistakes(conv, conv.eps))
            if mode is None and not why:
                why = "it treated a missing training argument as training"
            elif mode is None and "BATCH statistics" in why:
                why = ("a call without a training argument (training=None) ran in training mode; "
                       "Keras treats None as inference outside fit(): test `if training:`")
            fail(
                f"In inference mode ({how}) {s.text()}, your output differs from {conv.ref}'s by "
                f"up to {max_rel_diff(got, want):.3g}"
                + (f": {why}." if why else
                   f". Inference computes gamma * (x - {conv.mean_name}) / sqrt({conv.var_name} "
                   "+ eps) + beta.")
            )
    single = drv.run(layer, x[:1], False, "on the first example alone")
    if not close(single, want[:1]):
        fail("In inference mode, the output for one example changes with the rest of the batch; "
             f"inference must use only {conv.mean_name} and {conv.var_name}.")
    return (f"Inference ({conv.infer}) uses {conv.mean_name} and {conv.var_name}, equals "
            f"{conv.ref}'s output and changes no state.")


def bn_gradients(ctx: Context) -> str:
    drv = driver(ctx)
    conv = drv.conv
    rng = ctx.rng(8)
    for shape, shift, scale in (((4, 3, 5, 5), 0.0, 1.0), ((2, 4, 3, 6), 2.0, 3.0)):
        c = shape[1]
        g, b = _affine(rng, c)
        x = _input(rng, shape, shift, scale)
        w = rng.normal(0, 1, shape).astype(np.float32)
        where = f"for the loss sum(out * w) on an input of shape {fmt_shape(shape)} in training mode"
        layer, ref = drv.learner(c), drv.reference(c)
        drv.set(layer, g=g, b=b)
        drv.set(ref, g=g, b=b)
        got, want = drv.grads(layer, x, w, where), drv.grads(ref, x, w, where)
        for key, name in (("b", "beta"), ("g", "gamma")):
            if not close(got[key], want[key]):
                zero = not np.any(got[key])
                fail(
                    f"The gradient of {name} {where} differs from {conv.ref}'s"
                    + (f": it is zero. {name} must be a trainable parameter used in the output"
                       + (" (an nn.Parameter)" if ctx.framework == "torch" else
                          " (self.add_weight(..., trainable=True))") + "."
                       if zero else f" by up to {max_rel_diff(got[key], want[key]):.3g}.")
                )
        if not close(got["x"], want["x"]):
            mean, var, _ = batch_stats(x)
            detached = w * channel(g) / np.sqrt(channel(var) + conv.eps)
            cut = (".detach(), .data, torch.no_grad() or a numpy round trip" if ctx.framework == "torch"
                   else "ops.stop_gradient, tf.stop_gradient or a numpy round trip")
            why = ("it equals the gradient with the batch mean and variance treated as constants: "
                   f"they were detached ({cut}). The batch statistics depend on x and the "
                   "gradient must flow through them" if close(got["x"], detached) else
                   "if the outputs match, the batch mean or variance was partly detached from the "
                   "graph; keep every step from x to the output in the framework's ops")
            if not np.any(got["x"]):
                why = "it is zero: the output is disconnected from the input"
            fail(f"The gradient with respect to the input {where} differs from {conv.ref}'s by up "
                 f"to {max_rel_diff(got['x'], want['x']):.3g}: {why}.")
    return f"Gradients with respect to the input, gamma and beta equal {conv.ref}'s."


def torch_state_dict(ctx: Context) -> str:
    drv = driver(ctx)
    torch, nn = drv.torch, drv.nn
    c = 5
    layer, ref = drv.learner(c), drv.reference(c)
    got, want = layer.state_dict(), ref.state_dict()
    if list(got) != list(want):
        missing = [k for k in want if k not in got]
        extra = [k for k in got if k not in want]
        fail(
            f"Your state_dict keys are {list(got)}; nn.BatchNorm2d's are {list(want)}"
            + (f" (missing: {missing}" if missing else " (") + (f"; extra: {extra})" if extra else ")")
            + ". Name the parameters weight and bias and register running_mean, running_var and "
            "num_batches_tracked with self.register_buffer, in that order."
        )
    for k, v in want.items():
        mine = got[k]
        if tuple(mine.shape) != tuple(v.shape) or mine.dtype != v.dtype:
            fail(f"`{k}` has shape {fmt_shape(mine.shape)} and dtype {mine.dtype}; nn.BatchNorm2d's "
                 f"has {fmt_shape(v.shape)} and {v.dtype}"
                 + (" (a 0-dim torch.long tensor: torch.tensor(0, dtype=torch.long))."
                    if k == "num_batches_tracked" else "."))
        if not torch.equal(mine.cpu(), v.cpu()):
            fail(f"A new layer's `{k}` starts at {mine.flatten()[:5].tolist()}; it must start at "
                 f"{v.flatten()[:5].tolist()} (gamma ones, beta zeros, running mean zeros, "
                 "running var ones, count 0).")
    params = dict(layer.named_parameters())
    if sorted(params) != ["bias", "weight"]:
        fail(f"Your layer's parameters are {sorted(params)}; only weight and bias are parameters "
             "(the running statistics are buffers, not trained by the optimizer).")
    if not all(isinstance(p, nn.Parameter) and p.requires_grad for p in params.values()):
        fail("weight and bias must be trainable nn.Parameters.")
    rng = ctx.rng(9)
    g, b = _affine(rng, c)
    drv.set(ref, g=g, b=b, rm=rng.normal(0, 0.5, c), rv=rng.uniform(0.5, 2.0, c))
    with torch.no_grad():
        ref.num_batches_tracked.fill_(7)
    try:
        layer.load_state_dict(ref.state_dict())
    except Exception as exc:  # noqa: BLE001 - report what load_state_dict says
        fail(f"`load_state_dict(nn.BatchNorm2d({c}).state_dict())` failed: {exc}")
    x = _input(rng, (3, c, 4, 4), 1.0, 2.0)
    got_out, want_out = drv.run(layer, x, False, "after loading"), drv.run(ref, x, False, "")
    if not close(got_out, want_out):
        fail("After loading nn.BatchNorm2d's state_dict, your eval-mode output differs from "
             "nn.BatchNorm2d's: eval mode must normalise with the loaded running_mean and "
             "running_var (and weight, bias) and change nothing; the eval_mode check says more.")
    if int(layer.num_batches_tracked) != 7:
        fail("load_state_dict did not set num_batches_tracked: keep it a registered buffer.")
    return ("state_dict keys, shapes, dtypes and initial values equal nn.BatchNorm2d's, and one "
            "loads into the other.")


def keras_weights(ctx: Context) -> str:
    drv = driver(ctx)
    c = 6
    layer = drv.learner(c)
    trainable = sum(int(np.prod(v.shape)) for v in layer.trainable_weights)
    frozen = sum(int(np.prod(v.shape)) for v in layer.non_trainable_weights)
    want = {"gamma": 1.0, "beta": 0.0, "moving_mean": 0.0, "moving_variance": 1.0}
    for name, start in want.items():
        v = drv.tensor(layer, name)
        if tuple(v.shape) != (c,):
            fail(f"`{name}` has shape {fmt_shape(v.shape)} for {c} channels; it needs one value per "
                 f"channel, shape ({c},), taken from input_shape[-1].")
        if not np.all(v.numpy() == start):
            fail(f"A new layer's `{name}` starts at {np.asarray(v.numpy())[:4].tolist()}; it must "
                 f"start at {start} (initializer \"{'ones' if start else 'zeros'}\").")
        should = name in ("gamma", "beta")
        if bool(v.trainable) != should:
            fail(f"`{name}` is {'trainable' if v.trainable else 'non-trainable'}; gamma and beta "
                 "are trainable, moving_mean and moving_variance are not (trainable=False): the "
                 "optimizer must never touch the moving statistics.")
    if (trainable, frozen) != (2 * c, 2 * c):
        fail(f"For {c} channels your layer has {trainable} trainable and {frozen} non-trainable "
             f"weights; keras BatchNormalization has {2 * c} and {2 * c} (gamma, beta; moving "
             "mean, moving variance). Create no other weights.")
    return f"gamma, beta trainable ({2 * c}), moving_mean, moving_variance non-trainable ({2 * c})."


@dataclass(frozen=True)
class FitSpec:
    """The training check's numbers."""

    n: int = 512
    size: int = 12
    epochs: int = 4
    batch: int = 32
    lr: float = 0.01
    momentum_torch: float = 0.1
    momentum_keras: float = 0.9
    steps_torch: int = 60
    target: float = 0.85


# 12x12 stripe/blob images, 4 classes: a two-conv net with the learner's BN after each
# conv gets well over 85% in a few seconds when train and inference modes are right.
FIT = FitSpec(n=512, size=12, epochs=4, batch=32, lr=0.01, steps_torch=60, target=0.85)


def _data(spec: FitSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = patterns(spec.n, size=spec.size, channels=3, seed=12)
    return split(x, y)


def bn_training(spec: FitSpec) -> Callable[[Context], str]:
    """torch: a small conv net with the learner's BatchNorm2d after each conv learns a seeded task."""

    def run(ctx: Context) -> str:
        drv = driver(ctx)
        nn = drv.nn
        model = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1, bias=False), drv.learner(16, None, spec.momentum_torch),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), drv.learner(32, None, spec.momentum_torch),
            nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 4),
        ).to(drv.A.device)
        what = "a conv net with your BatchNorm2d after each conv"
        out = train_and_score(ctx, model, _data(spec), steps=spec.steps_torch, batch=spec.batch,
                              lr=spec.lr, target=spec.target, what=what, recalibrate=False)
        return (f"{what} reached {out.accuracy:.0%} in eval mode after {spec.steps_torch} steps "
                f"(target {spec.target:.0%}).")

    return run


def keras_fit(spec: FitSpec) -> Callable[[Context], str]:
    """Keras: the learner's layer inside a keras.Sequential trained with model.fit."""

    def run(ctx: Context) -> str:
        import keras

        drv = driver(ctx)
        cls = ctx.get("BatchNorm")
        L = keras.layers
        bns = [invoke(ctx, "BatchNorm", cls, momentum=spec.momentum_keras,
                      case=f"when constructed as `BatchNorm(momentum={spec.momentum_keras})`")
               for _ in range(2)]
        model = keras.Sequential([
            keras.Input((spec.size, spec.size, 3)),
            L.Conv2D(16, 3, padding="same", use_bias=False), bns[0], L.ReLU(),
            L.Conv2D(32, 3, strides=2, padding="same", use_bias=False), bns[1], L.ReLU(),
            L.GlobalAveragePooling2D(), L.Dense(4),
        ])
        model.compile(optimizer=keras.optimizers.Adam(spec.lr), jit_compile=False,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        xtr, ytr, xva, yva = _data(spec)
        steps = spec.epochs * -(-len(xtr) // spec.batch)
        losses: list[float] = []

        class Progress(keras.callbacks.Callback):
            def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
                losses.append(float((logs or {}).get("loss", float("nan"))))
                ctx.progress(step=len(losses), total=steps, loss=losses[-1])

        invoke(ctx, "model.fit", model.fit, drv.A.tensor(xtr), ytr, batch_size=spec.batch,
               epochs=spec.epochs, verbose=0, callbacks=[Progress()], shuffle=True,
               case=f"with your BatchNorm inside a keras.Sequential (model.fit, batch {spec.batch})")
        moved = [np.any(drv.stats(bn)[0] != 0) for bn in bns]
        if not all(moved):
            fail("During model.fit the moving statistics of your BatchNorm never changed: fit calls "
                 "the layer with training=True, which must update moving_mean and moving_variance.")
        acc = drv.A.accuracy(model, xva, yva)
        ctx.details.update(loss_curve=[round(v, 5) for v in losses], accuracy=round(acc, 4),
                           target=spec.target, steps=steps)
        what = "a keras.Sequential conv net with your BatchNorm after each conv"
        if not all(np.isfinite(losses)):
            fail(f"The loss became nan or inf during model.fit of {what}.")
        if acc < spec.target:
            fail(f"{what} reached {acc:.1%} validation accuracy (training=False) after {steps} "
                 f"steps of model.fit; the check needs {spec.target:.0%} (chance 25%). If the "
                 "output and running-statistics checks pass, look at how inference reads the "
                 "moving statistics.")
        return (f"Trained with model.fit ({steps} steps): {acc:.0%} validation accuracy in "
                f"inference mode (target {spec.target:.0%}).")

    return run


def checks(framework: str) -> list[Check]:
    """The battery for `framework`: torch or tf."""
    spec = FIT
    battery = [
        Check("api", "API: the layer constructs, runs and keeps the shape", bn_api, gate=True),
        Check("from_scratch", "Written from scratch, not the framework's BatchNorm", bn_from_scratch),
    ]
    if framework == "torch":
        battery.append(Check("state_dict", "state_dict keys equal nn.BatchNorm2d's; loading works",
                            torch_state_dict))
    else:
        battery.append(Check("weights", "gamma, beta trainable; moving statistics non-trainable",
                            keras_weights))
    battery += [
        Check("train_output", "Train mode: batch statistics, same output as the framework's layer",
              bn_train_output),
        Check("per_channel", "Statistics per channel over (N, H, W)", bn_per_channel),
        Check("eps", "eps inside the square root; a custom eps is used", bn_eps),
        Check("running_stats", "Running statistics: momentum convention, variance, count",
              bn_running_stats),
        Check("eval_mode", "Inference uses the running statistics and changes nothing", bn_eval_mode),
        Check("gradients", "Gradients for input, gamma and beta equal the framework's", bn_gradients),
    ]
    if framework == "torch":
        battery.append(Check("training", "A conv net with your BatchNorm2d trains", bn_training(spec),
                            needs=("train_output", "running_stats", "eval_mode")))
    else:
        battery.append(Check("fit", "Inside keras.Sequential, trained with model.fit", keras_fit(spec),
                            needs=("train_output", "running_stats", "eval_mode")))
    return battery
