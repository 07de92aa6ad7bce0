"""Checks for repaired interview answers (16_spot_the_bug): one self-contained check per item.

Each item runs the learner's repaired code on a few inputs and compares what it does
with what the statement asks; when it differs, the message names the flaw the
original answer had (or another known mistake). No item depends on another, so one
broken answer never hides the verdict on the others. Residual-block items reuse the
block battery (`blocks.block_checks`), run as the parts of a single check; the rest
is written here. Framework-specific drivers import their framework inside the
function, so a torch check never loads TensorFlow and the reverse.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

from . import CheckFailed, Context, close, fail, fmt_shape, max_rel_diff
from .blocks import BlockSpec, Case, block_checks, build, call_text, shown

# -- calling the learner's code -------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TF_NODE = re.compile(r"\{\{[^}]*\}\}\s*")
_TF_OP = re.compile(r"\s*\[Op:[^\]]*\](\s*name:.*)?$")


def reason(exc: BaseException) -> str:
    """`Type: first line of the message`, without Keras' call wrapper or TF's node name."""
    text = _TF_NODE.sub("", _ANSI.sub("", str(exc))).strip()
    paras = [p.strip() for p in text.split("\n\n") if p.strip()]
    if paras and paras[0].startswith("Exception encountered when calling"):
        paras = [p for p in paras[1:] if not p.startswith("Arguments received")] or paras
    first = _TF_OP.sub("", paras[0].splitlines()[0]).strip() if paras else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _where(exc: BaseException, module: ModuleType) -> str:
    """The last line of the learner's file in the traceback, if any."""
    path = Path(getattr(module, "__file__", "") or "").resolve()
    found = [fr for fr in traceback.extract_tb(exc.__traceback__)
             if fr.filename and Path(fr.filename).resolve() == path]
    if not found:
        return ""
    return f" (your file, line {found[-1].lineno}: `{(found[-1].line or '').strip()}`)"


Advice = Callable[[str], str]  # the exception as `reason` gives it -> the likely mistake


def attempt(ctx: Context, label: str, fn: Callable[..., Any], *args: Any, case: str = "",
            advice: Advice | None = None, **kwargs: Any) -> Any:
    """Call the learner's code; an exception becomes a failure naming the call and the likely
    mistake. NotImplementedError passes through: the worker reports an untouched TODO."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the learner's code may raise anything
        why = reason(exc)
        hint = advice(why) if advice else ""
        fail(f"`{label}`{case} raised {why}{_where(exc, ctx.module)}." + (f" {hint}" if hint else ""))


def _values(xs: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in xs) + "]"


# -- residual blocks (both frameworks) -------------------------------------------


@dataclass
class BlockItem:
    """A block the learner repairs, graded by parts of the block battery.

    Every shape case is first built and called here, so that a crash or a wrong
    shape is reported with the item's own diagnosis; then the battery's `parts`
    run in order (structure, params, function, gradients, identity).
    """

    spec: BlockSpec
    crash: Callable[[Case, str], str]  # (case, reason) -> the likely mistake
    shape: Callable[[Case, tuple[int, ...]], str]  # (case, canonical shape got) -> likely mistake
    lesson: str
    parts: tuple[str, ...] = ("structure", "params", "function", "gradients", "identity")


def block_item(item: BlockItem) -> Callable[[Context], str]:
    battery = {c.name: c.run for c in block_checks(item.spec)}

    def run(ctx: Context) -> str:
        A = ctx.A
        for case in item.spec.shape_cases:
            text = call_text(item.spec, case)
            block = build(ctx, item.spec, case, prepare=False)
            x = A.tensor(ctx.rng().normal(0.0, 1.0, case.in_shape).astype(np.float32))

            def forward(b: Any = block, x: Any = x, case: Case = case) -> Any:
                b = A.prepare(b, case.in_shape)
                A.set_mode(b, False)
                return A.call(b, x, False)

            out = attempt(ctx, text, forward, case=f" on a {shown(A, case.in_shape)} input",
                          advice=lambda why, case=case: item.crash(case, why))
            if not A.is_tensor(out):
                fail(f"`{text}` returned {type(out).__name__}, not a tensor.")
            got = tuple(A.numpy(out).shape)
            if got != tuple(case.out_shape):
                fail(f"`{text}` returned {shown(A, got)} for a {shown(A, case.in_shape)} input; "
                     f"expected {shown(A, case.out_shape)}. " + item.shape(case, got))
        for part in item.parts:
            try:
                battery[part](ctx)
            except (CheckFailed, NotImplementedError):
                raise
            except Exception as exc:  # noqa: BLE001
                fail(f"Checking the block's {part} raised {reason(exc)}{_where(exc, ctx.module)}.")
        return item.lesson

    return run


# -- learning-rate warmup per epoch (both frameworks) ----------------------------


@dataclass(frozen=True)
class Warmup:
    base: float
    warmup: int
    decay: float
    epochs: int = 10

    def text(self) -> str:
        return f"base_lr={self.base:g}, warmup_epochs={self.warmup}, decay={self.decay:g}"

    def ref(self) -> list[float]:
        return [warmup_ref(e, self.base, self.warmup, self.decay) for e in range(self.epochs)]


def warmup_ref(epoch: int, base: float, warmup: int, decay: float) -> float:
    """Linear warmup reaching `base` at epoch warmup-1, then `decay` per epoch."""
    return base * min((epoch + 1) / warmup, decay ** (epoch + 1 - warmup))


def _ramp_then(decay_at: Callable[[int, Warmup], float]) -> Callable[[Warmup], list[float]]:
    def curve(c: Warmup) -> list[float]:
        return [c.base * (e + 1) / c.warmup if e < c.warmup else decay_at(e, c) for e in range(c.epochs)]

    return curve


WARMUP_MISTAKES: dict[str, Callable[[Warmup], list[float]]] = {
    "Epoch 0 trains at a rate of 0 (the ramp is epoch / warmup_epochs): a whole epoch is wasted "
    "and base_lr comes one epoch late. Epoch 0 already trains at base_lr / warmup_epochs.":
        lambda c: [c.base * min(e / c.warmup, c.decay ** (e - c.warmup)) for e in range(c.epochs)],
    "The decay starts one epoch late: the rate stays at base_lr for two epochs. The epoch "
    "after the last warmup epoch trains at base_lr * decay.":
        _ramp_then(lambda e, c: c.base * c.decay ** (e - c.warmup)),
    "The decay counts epochs from 0 instead of from the end of the warmup, so the rate "
    "falls from base_lr to base_lr * decay**warmup_epochs in one epoch.":
        _ramp_then(lambda e, c: c.base * c.decay**e),
    "The rate never decays after the warmup.":
        _ramp_then(lambda e, c: c.base),
    "LambdaLR multiplies the optimizer's own learning rate by what the lambda returns: the "
    "lambda must return a factor (1 at the top), not the learning rate itself.":
        lambda c: [c.base * v for v in c.ref()],
}


def warmup_mistake(values: Sequence[float], cfg: Warmup) -> str:
    ramp = list(values[: cfg.warmup])
    if any(b < a for a, b in zip(ramp, ramp[1:], strict=False)):
        return ("The rate falls during the warmup: multiplying it by 0.1 every epoch compounds "
                "into an exponential decay (0.1, 0.01, 0.001 of the start), the opposite of a "
                "warmup, which raises it linearly to base_lr.")
    tol = 1e-6 * cfg.base
    for name, curve in WARMUP_MISTAKES.items():
        want = curve(cfg)
        if len(want) == len(values) and all(abs(a - b) <= tol for a, b in zip(values, want, strict=True)):
            return name
    return ("Compare with the table: base_lr * (epoch + 1) / warmup_epochs while warming up, "
            "then base_lr * decay ** (epoch + 1 - warmup_epochs).")


def _torch_probe_optimizer(lr: float) -> Any:
    """A torch Optimizer with one parameter group, for schedulers to drive.

    Optimizer.__init__ imports torch._dynamo (1.5 s here) through add_param_group;
    a scheduler needs only `param_groups` and a `step` to wrap, so this one fills
    them in directly.
    """
    from collections import OrderedDict, defaultdict

    import torch

    class ProbeOptimizer(torch.optim.Optimizer):
        def __init__(self, lr: float):  # noqa: D107 - deliberately skips Optimizer.__init__
            self.defaults = {"lr": lr}
            self.state = defaultdict(dict)
            self.param_groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr}]
            self._optimizer_step_pre_hooks = OrderedDict()
            self._optimizer_step_post_hooks = OrderedDict()

        def step(self, closure: Any = None) -> None:
            return None

    return ProbeOptimizer(lr)


def _torch_warmup(ctx: Context, name: str, cfg: Warmup) -> list[float]:
    """The learner's scheduler on an optimizer with lr=base: the lr of each epoch,
    read before the epoch's updates, with scheduler.step() once per epoch."""
    import torch

    opt = _torch_probe_optimizer(cfg.base)
    case = f" (optimizer lr={cfg.base:g}, warmup_epochs={cfg.warmup}, decay={cfg.decay:g})"
    sched = attempt(ctx, name, ctx.get(name, "function"), opt, warmup_epochs=cfg.warmup,
                    decay=cfg.decay, case=case)
    if not isinstance(sched, torch.optim.lr_scheduler.LRScheduler):
        fail(f"`{name}` returned {type(sched).__name__}; it must return a "
             "torch.optim.lr_scheduler.LRScheduler (a LambdaLR, or your own subclass).")
    values = []
    for epoch in range(cfg.epochs):
        values.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        attempt(ctx, "scheduler.step()", sched.step, case=f" at the end of epoch {epoch}")
    return values


def _call_schedule(fn: Callable[..., Any], epoch: int, lr: float) -> Any:
    """As keras.callbacks.LearningRateScheduler calls it: (epoch, lr), else (epoch)."""
    try:
        return fn(epoch, lr)
    except TypeError:
        return fn(epoch)


def _keras_warmup(ctx: Context, name: str, cfg: Warmup) -> tuple[list[float], list[float]]:
    """The learner's schedule through a real LearningRateScheduler on a Keras SGD (the lr
    each epoch starts with), and called directly, last epoch first, with an unrelated lr."""
    import keras

    case = f"({cfg.base:g}, warmup_epochs={cfg.warmup}, decay={cfg.decay:g})"
    fn = attempt(ctx, f"{name}{case}", ctx.get(name, "function"), cfg.base,
                 warmup_epochs=cfg.warmup, decay=cfg.decay)
    if not callable(fn):
        fail(f"`{name}{case}` returned {type(fn).__name__}; it must return the function "
             "`schedule(epoch, lr)` that keras.callbacks.LearningRateScheduler calls.")
    holder = SimpleNamespace(optimizer=keras.optimizers.SGD(learning_rate=cfg.base))
    callback = keras.callbacks.LearningRateScheduler(fn)
    callback.set_model(holder)
    driven = []
    for epoch in range(cfg.epochs):
        attempt(ctx, "LearningRateScheduler(schedule).on_epoch_begin", callback.on_epoch_begin,
                epoch, case=f" at epoch {epoch} with {name}{case}",
                advice=lambda why: "The schedule must return a Python float." if "float" in why else "")
        driven.append(float(keras.ops.convert_to_numpy(holder.optimizer.learning_rate)))
    direct = [0.0] * cfg.epochs
    for epoch in reversed(range(cfg.epochs)):
        value = attempt(ctx, "schedule", _call_schedule, fn, epoch, 3.7 * cfg.base,
                        case=f" called directly for epoch {epoch}")
        direct[epoch] = float(value)
    return driven, direct


def warmup_item(name: str, configs: Sequence[Warmup], lesson: str) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        for cfg in configs:
            want = cfg.ref()
            if ctx.framework == "torch":
                values, direct = _torch_warmup(ctx, name, cfg), None
            else:
                values, direct = _keras_warmup(ctx, name, cfg)
            tol = 1e-6 * cfg.base
            if not all(abs(a - b) <= tol for a, b in zip(values, want, strict=True)):
                fail(f"With {cfg.text()}, epochs 0-{cfg.epochs - 1} train at {_values(values)}; "
                     f"expected {_values(want)}. " + warmup_mistake(values, cfg))
            if direct is not None and not all(abs(a - b) <= tol for a, b in zip(direct, want, strict=True)):
                fail(f"With {cfg.text()}, epochs run in order get the right rates, but called "
                     f"directly (last epoch first, with an unrelated lr) the schedule gives "
                     f"{_values(direct)}; expected {_values(want)}. Your schedule multiplies the "
                     "`lr` it is given, so its value depends on the history: compute the rate "
                     "from the epoch alone (resuming at a later epoch then works too).")
        return lesson

    return run


# -- Keras: 1-D layers take 1-D sizes ------------------------------------------------


@dataclass
class AudioCase:
    args: tuple[int, int]  # (in_channels, num_classes)
    in_shape: tuple[int, int, int]  # canonical (N, C, L)
    counts: tuple[int, int]  # (trainable, non-trainable)


def _one_d_advice(why: str) -> str:
    if "must be a tuple of 1 integer" in why:
        return ("A 1-D layer takes 1-D sizes: Conv1D's kernel_size and strides and "
                "MaxPooling1D's pool_size are one integer each (or a 1-tuple). (3, 3), (1, 1) "
                "and (2, 2) are the arguments of Conv2D and MaxPooling2D.")
    if "shape" in why.lower():
        return ("The residual add needs both inputs the same length: the convolutions keep the "
                "length (stride 1, padding=\"same\").")
    return ""


def audio_item(name: str, cases: Sequence[AudioCase], kernel: int, pool: int,
               lesson: str) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        import keras

        L = keras.layers
        A = ctx.A
        fn = ctx.get(name, "function")
        for case in cases:
            text = f"{name}{case.args}"
            model = attempt(ctx, text, fn, *case.args, advice=_one_d_advice)
            if not isinstance(model, L.Layer):
                fail(f"`{text}` returned {type(model).__name__}; it must return a keras.Model.")
            x = A.tensor(ctx.rng().normal(0.0, 1.0, case.in_shape).astype(np.float32))
            out = attempt(ctx, text, lambda m=model, x=x: m(x, training=False),
                          case=f"'s model on a {shown(A, case.in_shape)} input", advice=_one_d_advice)
            want = (case.in_shape[0], case.args[1])
            if tuple(out.shape) != want:
                fail(f"`{text}` maps a {shown(A, case.in_shape)} input to {fmt_shape(out.shape)}; "
                     f"expected {fmt_shape(want)} logits (input (batch, time, channels), any length).")
            found = list(model._flatten_layers(include_self=False, recursive=True))
            two_d = [layer for layer in found
                     if isinstance(layer, (L.Conv2D, L.MaxPooling2D, L.AveragePooling2D))]
            if two_d:
                fail(f"`{text}` contains {type(two_d[0]).__name__}: an audio clip has one axis "
                     "(time), so every conv and pool is 1-D.")
            convs = [layer for layer in found if isinstance(layer, L.Conv1D)]
            bad = [c for c in convs if tuple(c.kernel_size) != (kernel,) or tuple(c.strides) != (1,)]
            if bad:
                fail(f"`{text}` has a Conv1D with kernel {tuple(bad[0].kernel_size)} and stride "
                     f"{tuple(bad[0].strides)}; every conv has kernel {kernel}, stride 1.")
            pools = [layer for layer in found if isinstance(layer, L.MaxPooling1D)]
            if len(pools) != 1 or tuple(pools[0].pool_size) != (pool,) or tuple(pools[0].strides) != (pool,):
                got = ", ".join(f"pool {tuple(p.pool_size)} stride {tuple(p.strides)}" for p in pools)
                fail(f"`{text}` should have one MaxPooling1D with pool {pool} (stride {pool}); "
                     f"found {got or 'none'}.")
            counts = A.count(model)
            if counts != case.counts:
                fail(f"`{text}` has {counts[0]:,} trainable + {counts[1]:,} non-trainable "
                     f"parameters; expected {case.counts[0]:,} + {case.counts[1]:,}. Compare "
                     "the layers with the statement's list (convs without bias, three BNs).")
        return lesson

    return run


# -- Keras: clipping happens before the update -------------------------------------


@dataclass(frozen=True)
class ClipRun:
    scale: float  # input scale: large scales make the gradients explode
    max_norm: float
    epochs: int
    what: str


@dataclass
class ClipSpec:
    name: str = "fit_clipped"
    features: int = 6
    hidden: int = 16
    classes: int = 4
    n: int = 32
    lr: float = 0.1
    runs: tuple[ClipRun, ...] = field(default_factory=tuple)


def _clip_global(g: list[np.ndarray], c: float) -> list[np.ndarray]:
    norm = float(np.sqrt(sum(float(np.sum(np.square(t, dtype=np.float64))) for t in g)))
    return [t * (c / max(norm, c)) for t in g]


def _norm(ws: list[np.ndarray]) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(w, dtype=np.float64))) for w in ws)))


# how a step turns (weights, gradients, lr, max_norm) into new weights
UPDATES: dict[str, Callable[[list[np.ndarray], list[np.ndarray], float, float], list[np.ndarray]]] = {
    "clipped": lambda w, g, lr, c: [a - lr * b for a, b in zip(w, _clip_global(g, c), strict=True)],
    "The update used the raw gradients: nothing clipped them before the optimizer applied "
    "them. A callback runs after the update (and in Keras 3 never sees the gradients): clip "
    "in the optimizer (global_clipnorm=max_norm) or in your own training step, between the "
    "gradient and apply_gradients.":
        lambda w, g, lr, c: [a - lr * b for a, b in zip(w, g, strict=True)],
    "The update used the raw gradients, and then the weights themselves were scaled down to "
    "norm max_norm: that clips the weights after the step, not the gradients before it. A "
    "callback's on_train_batch_end runs after apply_gradients; clip in the optimizer "
    "(global_clipnorm=max_norm) or in your own training step.":
        lambda w, g, lr, c: (lambda u: [t * min(1.0, c / _norm(u)) for t in u])(
            [a - lr * b for a, b in zip(w, g, strict=True)]),
    "The update was clipped, but then the weights were scaled down to norm max_norm after "
    "every batch: the callback is still there. It clips the weights, not the gradients; remove "
    "it.":
        lambda w, g, lr, c: (lambda u: [t * min(1.0, c / _norm(u)) for t in u])(
            [a - lr * b for a, b in zip(w, _clip_global(g, c), strict=True)]),
    "Each gradient tensor was clipped to max_norm on its own (clipnorm); clip the global norm "
    "of all gradients together (global_clipnorm), which keeps the update's direction.":
        lambda w, g, lr, c: [a - lr * b * min(1.0, c / _norm([b])) for a, b in zip(w, g, strict=True)],
    "Every gradient element was clamped to [-max_norm, max_norm] (clipvalue), which changes "
    "the update's direction; clip by the global norm (global_clipnorm).":
        lambda w, g, lr, c: [a - lr * np.clip(b, -c, c) for a, b in zip(w, g, strict=True)],
    "The gradients were always rescaled to norm max_norm, even when they were under it: "
    "clipping only ever shrinks them.":
        lambda w, g, lr, c: [a - lr * b * (c / _norm(g)) for a, b in zip(w, g, strict=True)],
}


def clipping_item(spec: ClipSpec, lesson: str) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        import keras
        import tensorflow as tf

        L = keras.layers
        fn = ctx.get(spec.name, "function")

        def mlp() -> Any:
            return keras.Sequential([keras.Input((spec.features,)),
                                     L.Dense(spec.hidden, activation="relu"), L.Dense(spec.classes)])

        probe = mlp()

        def grads(ws: list[np.ndarray], x: Any, y: Any) -> list[np.ndarray]:
            for v, w in zip(probe.trainable_variables, ws, strict=True):
                v.assign(w)
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
                    y, probe(x, training=True), from_logits=True))
            return [np.asarray(g, np.float64) for g in tape.gradient(loss, probe.trainable_variables)]

        def simulate(update: Callable[..., list[np.ndarray]], w0: list[np.ndarray], x: Any, y: Any,
                     r: ClipRun) -> list[np.ndarray]:
            w = [np.asarray(t, np.float64) for t in w0]
            for _ in range(r.epochs):
                w = update(w, grads(w, x, y), spec.lr, r.max_norm)
            return w

        for salt, r in enumerate(spec.runs):
            rng = ctx.rng(10 + salt)
            x = (rng.normal(0.0, 1.0, (spec.n, spec.features)) * r.scale).astype(np.float32)
            y = (np.arange(spec.n) % spec.classes).astype(np.int64)
            model = mlp()
            w0 = [np.array(v.numpy()) for v in model.trainable_variables]
            norm0 = _norm(grads(w0, x, y))
            call = (f"{spec.name}(model, x, y, max_norm={r.max_norm:g}, learning_rate={spec.lr:g}, "
                    f"epochs={r.epochs}, batch_size={spec.n})")
            attempt(ctx, call, fn, model, x, y, max_norm=r.max_norm, learning_rate=spec.lr,
                    epochs=r.epochs, batch_size=spec.n,
                    advice=lambda why: ("Keras 3 optimizers have no get_gradients, and a callback "
                                        "never sees the gradients." if "get_gradients" in why else ""))
            got = [np.array(v.numpy()) for v in model.trainable_variables]
            want = simulate(UPDATES["clipped"], w0, x, y, r)
            if all(close(a, b) for a, b in zip(got, want, strict=True)):
                continue
            if all(close(a, b) for a, b in zip(got, w0, strict=True)):
                fail(f"After `{call}` the weights have not moved: train the model you are given.")
            named = ""
            for mistake, update in list(UPDATES.items())[1:]:
                other = simulate(update, w0, x, y, r)
                if all(close(a, b) for a, b in zip(got, other, strict=True)):
                    named = " " + mistake
                    break
            diff = max(max_rel_diff(a, b) for a, b in zip(got, want, strict=True))
            fail(f"{r.what} (gradient norm {norm0:.3g}, max_norm {r.max_norm:g}): after `{call}` "
                 f"the weights differ from {r.epochs} SGD step(s) on gradients clipped to a global "
                 f"norm of {r.max_norm:g} (max relative difference {diff:.2e})."
                 + (named or " Check the loss (mean sparse categorical cross-entropy on logits, "
                    "from_logits=True) and the optimizer (plain SGD at learning_rate)."))
        return lesson

    return run


# -- torch: replace the classifier, do not stack on it ----------------------------------


def _pretrained_like(features: int) -> Any:
    """A torchvision-style network (conv1, bn1, relu, avgpool, fc to 1000 classes) whose
    pooled features are `features` wide, as a ResNet-18's are 512 and a ResNet-50's 2048."""
    import torch
    from torch import nn

    class Pretrained(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, features, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(features)
            self.relu = nn.ReLU(inplace=True)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(features, 1000)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.flatten(self.avgpool(self.relu(self.bn1(self.conv1(x)))), 1))

    return Pretrained()


def head_item(name: str, widths: Sequence[int], num_classes: int, lesson: str) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        import torch
        from torch import nn

        fn = ctx.get(name, "function")
        for features in widths:
            model = _pretrained_like(features)
            ctx.A.randomize_bn(model, ctx.rng(features))
            before = {k: v.detach().clone() for k, v in model.state_dict().items()}
            text = f"{name}(model, {num_classes})"
            where = f" on a pretrained model whose fc is Linear({features}, 1000)"
            new = attempt(ctx, text, fn, model, num_classes, case=where)
            if not isinstance(new, nn.Module):
                fail(f"`{text}` returned {type(new).__name__}; it must return the model (an nn.Module).")
            old_heads = [(n or "the model", m) for n, m in new.named_modules()
                         if isinstance(m, nn.Linear) and m.out_features == 1000]
            if old_heads:
                path, head = old_heads[0]
                fail(f"`{text}`{where}: `{path}`, the ImageNet classifier with 1000 outputs, is still "
                     f"in the model. A layer stacked on it learns from 1000 class scores instead of "
                     f"the {features} pooled features, and the old head's "
                     f"{sum(p.numel() for p in head.parameters()):,} parameters stay. "
                     "Replace `fc` itself.")
            fc = getattr(new, "fc", None)
            if not isinstance(fc, nn.Linear):
                fail(f"`{text}`: the model's `fc` should be one nn.Linear; found "
                     f"{type(fc).__name__ if fc is not None else 'nothing'}.")
            if (fc.in_features, fc.out_features, fc.bias is not None) != (features, num_classes, True):
                hint = (f" This model's features are {features} wide: read `model.fc.in_features` "
                        "(512 for ResNet-18/34, 2048 for ResNet-50) instead of writing a number."
                        if fc.in_features != features else "")
                fail(f"`{text}`{where}: `fc` is Linear({fc.in_features}, {fc.out_features}"
                     f"{'' if fc.bias is not None else ', bias=False'}); expected "
                     f"Linear({features}, {num_classes}) with a bias.{hint}")
            after = new.state_dict()
            if set(after) != set(before):
                extra, lost = sorted(set(after) - set(before)), sorted(set(before) - set(after))
                fail(f"`{text}` changed the state_dict keys (new: {', '.join(extra[:4]) or 'none'}; "
                     f"gone: {', '.join(lost[:4]) or 'none'}). Keep the model's own attribute names, "
                     "so pretrained weights still load by name: assign a new `fc`.")
            moved = [k for k in before if not k.startswith("fc.") and not torch.equal(after[k], before[k])]
            if moved:
                fail(f"`{text}` changed the pretrained `{moved[0]}`: only `fc` is new; the rest keeps "
                     "its pretrained values.")
            new.eval()
            x = torch.as_tensor(ctx.rng(1).normal(0.0, 1.0, (2, 3, 6, 5)).astype(np.float32))
            with torch.no_grad():
                out = new(x)
                pooled = torch.flatten(new.avgpool(new.relu(new.bn1(new.conv1(x)))), 1)
                ref = new.fc(pooled)
            if tuple(out.shape) != (2, num_classes) or not close(out.numpy(), ref.numpy()):
                fail(f"`{text}`'s model returns {fmt_shape(out.shape)} values that are not its new "
                     f"`fc` applied to the pooled features; return logits: the features go "
                     "straight into `fc`.")
        return lesson

    return run


# -- torch: how many blocks make ResNet-18 -------------------------------------------


@dataclass
class DepthSpec:
    name: str
    stages: tuple[int, ...]
    params: int
    tensors: int
    entries: int
    known: dict[tuple[int, ...], str]  # a stage layout -> the network it belongs to


def depth_item(spec: DepthSpec, lesson: str) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        import torch

        fn = ctx.get(spec.name, "function")
        model = attempt(ctx, f"{spec.name}(num_classes=1000)", fn, num_classes=1000)
        if not isinstance(model, torch.nn.Module):
            fail(f"`{spec.name}()` returned {type(model).__name__}, not an nn.Module.")
        stages = [getattr(model, f"layer{i}", None) for i in range(1, len(spec.stages) + 1)]
        if any(s is None for s in stages):
            fail(f"The model has no `layer{stages.index(None) + 1}`: the stages are layer1..layer4.")
        lengths = tuple(len(s) for s in stages)
        if lengths != spec.stages:
            named = spec.known.get(lengths, "")
            convs = 1 + 2 * sum(lengths) + 1
            fail(f"The stages hold {lengths} blocks; ResNet-18 has {spec.stages}. "
                 + (f"{lengths} is the layout of {named}. " if named else "")
                 + f"The depth counts the weighted layers on the main path: the stem conv, two 3x3 "
                 f"convs per basic block and fc, here 1 + 2 x {sum(lengths)} + 1 = {convs}.")
        params = list(model.parameters())
        total = sum(p.numel() for p in params)
        entries = len(model.state_dict())
        if (total, len(params), entries) != (spec.params, spec.tensors, spec.entries):
            fail(f"`{spec.name}()` has {total:,} parameters in {len(params)} tensors and {entries} "
                 f"state_dict entries; torchvision's ResNet-18 has {spec.params:,}, {spec.tensors} "
                 f"and {spec.entries}.")
        small = attempt(ctx, f"{spec.name}(num_classes=10)", fn, num_classes=10)
        small.eval()
        with torch.no_grad():
            out = attempt(ctx, f"{spec.name}(num_classes=10)", small, torch.zeros(1, 3, 64, 64),
                          case=" on a (1, 3, 64, 64) input")
        if tuple(out.shape) != (1, 10):
            fail(f"`{spec.name}(num_classes=10)` maps (1, 3, 64, 64) to {fmt_shape(out.shape)}; "
                 "expected (1, 10) logits.")
        return lesson

    return run
