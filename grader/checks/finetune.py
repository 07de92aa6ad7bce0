"""Fine-tuning checks: what the learner's code does to a pretrained model and optimizer.

The exercise hands its pretrained backbone (a small torchvision-style ResNet) to the
learner's `prepare_finetune`, trains with the learner's optimizer on a related task,
and compares every tensor before and after, bit for bit. The check logic is written
once; `_Torch` and `_Keras` hold what differs: how a model is frozen, run and
optimised in each framework.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import data as D
from . import Check, Context, close, fail
from .training import curve as _curve


def source_task(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The pretraining task: four pattern classes (stripes in three orientations, blob)."""
    return D.patterns(n, 16, 3, seed=seed)


def target_task(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The fine-tuning task: three classes (horizontal, vertical stripes, blob) with
    more noise and shifted contrast, so the input statistics differ from pretraining."""
    x, y = D.patterns(n * 4 // 3 + 16, 16, 3, seed=seed, noise=0.9)
    keep = y != 2
    x, y = x[keep][:n], y[keep][:n]
    return (0.8 * x + 0.2).astype(np.float32), np.where(y == 3, 2, y)


@dataclass
class FinetuneSpec:
    folder: Path  # holds backbone_torch.py / backbone_tf.py, each with pretrained()
    old_classes: int = 4
    num_classes: int = 3
    features: int = 32
    stage: str = "layer4"
    steps: int = 60
    head_lr: float = 1e-2
    backbone_lr: float = 1e-3
    stage_steps: int = 40
    stage_head_lr: float = 1e-3
    stage_backbone_lr: float = 1e-4
    batch: int = 64
    target: float = 0.9
    tolerance: float = 0.02  # accuracy the unfrozen stage may lose (validation noise)
    n_train: int = 600
    n_val: int = 300


@dataclass
class Entry:
    """One tensor of the model: a parameter, a BN statistic or a Keras variable."""

    name: str
    value: np.ndarray
    part: str  # head | stage | backbone
    trainable: bool
    bn_stat: bool  # a BatchNorm running mean or variance
    weight: bool  # a parameter (torch) or a weight other than BN statistics (Keras)


def _names(entries: list[Entry], limit: int = 4) -> str:
    shown = ", ".join(f"`{e.name}`" for e in entries[:limit])
    return shown + (f" and {len(entries) - limit} more" if len(entries) > limit else "")


def _load_module(path: Path) -> Any:
    name = f"kata_backbone_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# -- framework drivers ---------------------------------------------------------


class _Torch:
    names = {"optimizer": "make_optimizer"}
    train_call = "`model.train()`"

    def __init__(self, spec: FinetuneSpec):
        self.spec = spec
        self.backbone = _load_module(spec.folder / "backbone_torch.py")
        self.generation = 0

    def base(self) -> Any:
        self.generation += 1
        return self.backbone.pretrained()

    def built(self, model: Any, x: np.ndarray) -> Any:
        return model

    def entries(self, model: Any, base: Any) -> list[Entry]:
        params = dict(model.named_parameters())
        found = []
        for name, t in model.state_dict(keep_vars=True).items():
            part = "head" if name.startswith("fc.") else (
                "stage" if name.startswith(self.spec.stage + ".") else "backbone")
            found.append(Entry(
                name, t.detach().cpu().numpy().copy(), part,
                name in params and params[name].requires_grad,
                name.endswith(("running_mean", "running_var")), name in params,
            ))
        return found

    def pretrained(self, base: Any) -> dict[str, np.ndarray]:
        return {e.name: e.value for e in self.entries(self.backbone.pretrained(), None)}

    def head(self, model: Any, base: Any) -> tuple[np.ndarray, np.ndarray]:
        """The new head's (weight (classes, features), bias), or a failure naming the mistake."""
        from torch import nn

        s = self.spec
        replace = ("Replace the head instead: `model.fc = nn.Linear(model.fc.in_features, "
                   "num_classes)`, so the new classifier reads the pooled features directly.")
        if not hasattr(model, "fc"):
            fail(f"The returned {type(model).__name__} has no `fc`. If it wraps the model and "
                 f"puts a new layer on its output, that layer reads the old "
                 f"{s.old_classes}-way logits. " + replace)
        old = [n for n, m in model.named_modules()
               if isinstance(m, nn.Linear) and m.out_features == s.old_classes]
        if old:
            fail(f"The returned model still computes the old {s.old_classes}-way logits "
                 f"(`{old[0]}`) and puts the new classifier on top of them. " + replace)
        fc = model.fc
        if not isinstance(fc, nn.Linear):
            fail(f"`model.fc` is a {type(fc).__name__}; it must be one nn.Linear"
                 f"({s.features}, {s.num_classes}).")
        if (fc.in_features, fc.out_features) != (s.features, s.num_classes):
            fail(
                f"`model.fc` is Linear({fc.in_features}, {fc.out_features}); expected "
                f"Linear({s.features}, {s.num_classes}): in_features from the old "
                "`model.fc.in_features`, out_features = num_classes."
            )
        if fc.bias is None:
            fail("`model.fc` has no bias; use nn.Linear's default bias=True.")
        return fc.weight.detach().cpu().numpy(), fc.bias.detach().cpu().numpy()

    def pooled(self, model: Any, base: Any, x: np.ndarray) -> np.ndarray:
        """The backbone's pooled features, computed from the model's own layers in eval mode."""
        import torch

        bns = [(m, m.training) for m in model.modules()]
        with torch.no_grad():
            for m, _ in bns:
                m.training = False
            h = model.relu(model.bn1(model.conv1(torch.from_numpy(x))))
            h = model.layer4(model.layer3(model.layer2(model.layer1(h))))
            out = torch.flatten(model.avgpool(h), 1).numpy()
        for m, mode in bns:
            m.training = mode
        return out

    def run(self, model: Any, x: np.ndarray, training: bool) -> np.ndarray:
        """The model's output after `model.train(training)`, without gradients."""
        import torch

        model.train(training)
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    def bn_moved_hint(self, model_after_prepare_modes: list[bool]) -> str:
        if model_after_prepare_modes and not any(model_after_prepare_modes):
            return (
                " Your prepare_finetune put the BN layers in eval mode, but the training "
                "loop's `model.train()` switched them back. Make the rule stick: override the "
                "model's `train()` so frozen BN layers go back to eval, register a forward "
                "pre-hook that does it, or replace them with a frozen BatchNorm."
            )
        return (
            " `requires_grad_(False)` freezes gamma and beta but not the running mean and "
            "variance: a BN layer in train mode re-estimates them on every batch. Keep the "
            "frozen BN layers in eval mode, also after `model.train()`."
        )

    def bn_modes(self, model: Any) -> list[bool]:
        from torch import nn

        return [m.training for m in model.modules()
                if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def groups(self, opt: Any, model: Any) -> list[tuple[float, list[str]]]:
        """[(lr, [tensor names]), ...] of the learner's optimizer."""
        import torch

        if not isinstance(opt, torch.optim.Optimizer):
            fail(f"make_optimizer returned {type(opt).__name__}, not a torch.optim optimizer.")
        name_of = {id(p): n for n, p in model.named_parameters()}
        return [
            (float(g["lr"]), [name_of.get(id(p), "<a tensor that is not in the model>")
                              for p in g["params"]])
            for g in opt.param_groups
        ]

    def train(self, ctx: Context, model: Any, opt: Any, x: np.ndarray, y: np.ndarray,
              steps: int, seed: int) -> list[float]:
        import torch
        from torch.nn import functional as F

        rng = np.random.default_rng(seed)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        model.train()
        losses = []
        for step in range(steps):
            idx = torch.from_numpy(rng.choice(len(x), self.spec.batch, replace=False))
            opt.zero_grad()
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            ctx.progress(step=step + 1, total=steps, loss=losses[-1])
        return losses


class _Keras:
    names = {"optimizer": "make_optimizers"}
    train_call = "a call with `training=True`"

    def __init__(self, spec: FinetuneSpec):
        self.spec = spec
        self.backbone = _load_module(spec.folder / "backbone_tf.py")
        self._base = None
        self._weights: list[np.ndarray] = []
        self._features = None
        self.generation = 0

    def base(self) -> Any:
        """The pretrained base, built once and reset (weights, trainable flags) per use.

        Building a Keras model costs a second; a reset costs milliseconds. Models made
        from an earlier reset share its layers, so `generation` tells them apart.
        """
        self.generation += 1
        if self._base is None:
            self._base = self.backbone.pretrained()
            self._weights = self._base.get_weights()
        self._base.trainable = True
        self._base.set_weights(self._weights)
        return self._base

    def built(self, model: Any, x: np.ndarray) -> Any:
        """Call the model once, so lazily built layers (a subclassed head) have weights."""
        model(np.moveaxis(x[:2], 1, -1), training=False)
        return model

    def entries(self, model: Any, base: Any) -> list[Entry]:
        from keras import layers

        stage = {id(v) for v in base.get_layer(self.spec.stage).weights}
        in_base = {id(v) for v in base.weights}
        stats = {id(v) for layer in base._flatten_layers()
                 if isinstance(layer, layers.BatchNormalization)
                 for v in (layer.moving_mean, layer.moving_variance)}
        trainable = {id(v) for v in model.trainable_weights}
        found, seen = [], set()
        for v in model.weights:
            if id(v) in seen:
                continue
            seen.add(id(v))
            part = "head" if id(v) not in in_base else ("stage" if id(v) in stage else "backbone")
            found.append(Entry(v.path, np.array(v.numpy()), part, id(v) in trainable,
                               id(v) in stats, id(v) not in stats))
        return found

    def pretrained(self, base: Any) -> dict[str, np.ndarray]:
        return {v.path: w for v, w in zip(base.weights, self._weights, strict=True)}

    def head(self, model: Any, base: Any) -> tuple[np.ndarray, np.ndarray]:
        s = self.spec
        in_base = {id(v) for v in base.weights}
        weights = list(model.weights)
        new = [v for v in weights if id(v) not in in_base]
        if any(tuple(v.shape) == (s.old_classes, s.num_classes) for v in new):
            fail(
                f"Your model still computes the base's old {s.old_classes}-way logits (layer "
                "`fc`) and puts the new classifier on top of them. Build the head on the "
                "pooled features instead: the output of the base's layer `avgpool`, e.g. "
                "`keras.Model(base.input, base.get_layer(\"avgpool\").output)`."
            )
        if not any(id(v) in in_base for v in weights):
            fail(
                "Your model does not use the base's layers (a clone?), so the pretrained "
                "weights are not in it. Build on `base` itself."
            )
        kernels = [v for v in new if len(v.shape) == 2]
        biases = [v for v in new if len(v.shape) == 1]
        if len(kernels) != 1 or len(biases) != 1 or len(new) != 2:
            shapes = ", ".join(f"{v.path} {tuple(v.shape)}" for v in new) or "none"
            fail(
                f"Expected the new head to be one Dense({s.num_classes}) with a bias on the "
                f"{s.features} pooled features: a kernel ({s.features}, {s.num_classes}) and "
                f"a bias ({s.num_classes},). New weights in your model: {shapes}."
            )
        kernel, bias = kernels[0], biases[0]
        if tuple(kernel.shape) != (s.features, s.num_classes):
            fail(
                f"The head's kernel is {tuple(kernel.shape)}; expected ({s.features}, "
                f"{s.num_classes}): it must read the {s.features} pooled features (the "
                "output of `avgpool`) and give num_classes logits."
            )
        return np.array(kernel.numpy()).T, np.array(bias.numpy())

    def pooled(self, model: Any, base: Any, x: np.ndarray) -> np.ndarray:
        import keras

        if self._features is None:
            self._features = keras.Model(base.input, base.get_layer("avgpool").output)
        return np.asarray(self._features(np.moveaxis(x, 1, -1), training=False))

    def run(self, model: Any, x: np.ndarray, training: bool) -> np.ndarray:
        return np.asarray(model(np.moveaxis(x, 1, -1), training=training))

    def bn_moved_hint(self, modes: list[bool]) -> str:
        return (
            " A BatchNormalization layer with trainable=True runs in training mode when "
            "called with training=True and re-estimates its statistics; set "
            "`base.trainable = False` on the whole base, BN layers included (in Keras 3 a "
            "frozen BN runs in inference mode)."
        )

    def bn_modes(self, model: Any) -> list[bool]:
        return []

    def groups(self, pairs: Any, model: Any) -> list[tuple[float, list[str]]]:
        import keras

        ok = isinstance(pairs, (list, tuple)) and pairs and all(
            isinstance(p, (list, tuple)) and len(p) == 2
            and isinstance(p[0], keras.optimizers.Optimizer) for p in pairs)
        if not ok:
            fail(
                f"make_optimizers returned {type(pairs).__name__}; expected a list of "
                "(optimizer, variables) pairs, e.g. [(keras.optimizers.Adam(head_lr), "
                "head_variables), (keras.optimizers.Adam(backbone_lr), backbone_variables)]."
            )
        name_of = {id(v): v.path for v in model.weights}
        return [
            (float(keras.ops.convert_to_numpy(opt.learning_rate)),
             [name_of.get(id(v), "<a variable that is not in the model>") for v in variables])
            for opt, variables in pairs
        ]

    def train(self, ctx: Context, model: Any, pairs: Any, x: np.ndarray, y: np.ndarray,
              steps: int, seed: int) -> list[float]:
        import keras
        import tensorflow as tf

        variables = [v for _, vs in pairs for v in vs]

        def step(xb: Any, yb: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
                    yb, model(xb, training=True), from_logits=True))
            grads = tape.gradient(loss, variables)
            start = 0
            for opt, vs in pairs:
                opt.apply_gradients(zip(grads[start:start + len(vs)], vs, strict=True))
                start += len(vs)
            return loss

        traced = tf.function(step)
        rng = np.random.default_rng(seed)
        xs = np.moveaxis(x, 1, -1)
        losses = []
        for i in range(steps):
            idx = rng.choice(len(x), self.spec.batch, replace=False)
            xb, yb = tf.constant(xs[idx]), tf.constant(y[idx])
            if i == 0:
                try:
                    loss = traced(xb, yb)
                except Exception:  # noqa: BLE001 - a model that cannot be traced runs eagerly
                    traced = step
                    loss = traced(xb, yb)
            else:
                loss = traced(xb, yb)
            losses.append(float(loss))
            ctx.progress(step=i + 1, total=steps, loss=losses[-1])
        return losses


# -- the checks ---------------------------------------------------------------


def _driver(ctx: Context, spec: FinetuneSpec) -> Any:
    key = "finetune_driver"
    if key not in ctx.store:
        ctx.store[key] = (_Torch if ctx.framework == "torch" else _Keras)(spec)
    return ctx.store[key]


def _task(spec: FinetuneSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = target_task(spec.n_train + spec.n_val, seed=202)
    return x[: spec.n_train], y[: spec.n_train], x[spec.n_train :], y[spec.n_train :]


def _prepared(ctx: Context, spec: FinetuneSpec) -> tuple[Any, Any, Any]:
    """(driver, base, model): a fresh pretrained base through the learner's prepare_finetune."""
    drv = _driver(ctx, spec)
    base = drv.base()
    model = ctx.get("prepare_finetune", "function")(base, spec.num_classes)
    if model is None:
        fail("prepare_finetune returned None; it must return the model to fine-tune.")
    if not ctx.A.is_model(model):
        fail(f"prepare_finetune returned {type(model).__name__}; it must return the model "
             f"({'an nn.Module' if ctx.framework == 'torch' else 'a keras.Model'}).")
    return drv, base, drv.built(model, _task(spec)[0])


def _accuracy(drv: Any, model: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float((drv.run(model, x, training=False).argmax(axis=1) == y).mean())


def _api(spec: FinetuneSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        names = ["prepare_finetune", "unfreeze", _driver(ctx, spec).names["optimizer"]]
        for name in names:
            if not callable(ctx.get(name, "function")):
                fail(f"`{name}` must be a function.")
        return f"Defines {', '.join(names)}."

    return run


def _head(spec: FinetuneSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        drv, base, model = _prepared(ctx, spec)
        weight, bias = drv.head(model, base)
        x = _task(spec)[2][:16]
        out = drv.run(model, x, training=False)
        if out.shape != (len(x), spec.num_classes):
            fail(f"The model returns {out.shape} for {len(x)} images; expected "
                 f"({len(x)}, {spec.num_classes}) logits.")
        pretrained = drv.pretrained(base)
        kept = [e for e in drv.entries(model, base) if e.part != "head"]
        changed = [e for e in kept if not np.array_equal(e.value, pretrained.get(e.name))]
        if changed or not kept:
            fail(
                "The backbone no longer holds the pretrained weights"
                + (f" ({_names(changed)} differ)" if changed else "")
                + ": prepare_finetune must keep them and only replace the head."
            )
        expected = drv.pooled(model, base, x) @ weight.T + bias
        if not close(out, expected):
            fail(
                "The output is not the new head applied to the backbone's pooled features. "
                "The head must be a single Linear/Dense on the globally average-pooled "
                f"{spec.features}-channel features, with nothing else after it."
            )
        return (
            f"The head is a new {spec.features}->{spec.num_classes} layer on the pooled "
            "features; the pretrained backbone is kept."
        )

    return run


def _frozen(spec: FinetuneSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        drv, base, model = _prepared(ctx, spec)
        entries = drv.entries(model, base)
        head = [e for e in entries if e.part == "head"]
        frozen_head = [e for e in head if not e.trainable]
        if frozen_head:
            fail(
                f"The new head is not trainable ({_names(frozen_head)}). Freeze the backbone "
                "only: freezing the whole model after replacing the head freezes the head too."
            )
        loose = [e for e in entries if e.part != "head" and e.trainable]
        if loose:
            fail(
                f"{len(loose)} backbone tensors are still trainable: {_names(loose)}. "
                "Everything except the new head must be frozen."
            )
        n = sum(e.value.size for e in head)
        return f"Only the head is trainable ({n} parameters); the backbone is frozen."

    return run


def _batchnorm(spec: FinetuneSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        drv, base, model = _prepared(ctx, spec)
        modes = drv.bn_modes(model)
        x = _task(spec)[0][:32]
        before = drv.entries(model, base)
        train_out = drv.run(model, x, training=True)
        drv.run(model, x, training=True)
        after = {e.name: e.value for e in drv.entries(model, base)}
        moved = [e for e in before if e.bn_stat and not np.array_equal(e.value, after.get(e.name))]
        if moved:
            fail(
                f"After {drv.train_call}, a forward pass changed the BatchNorm statistics of "
                f"the frozen backbone ({_names(moved)})." + drv.bn_moved_hint(modes)
            )
        eval_out = drv.run(model, x, training=False)
        if not close(train_out, eval_out):
            fail(
                f"The BN statistics stay fixed, but after {drv.train_call} the model's output "
                "differs from eval mode: the frozen BN layers normalise with the batch's "
                "statistics (momentum=0 or track_running_stats=False?). A frozen BN must use "
                "its stored statistics: inference mode."
            )
        return (
            f"After {drv.train_call} the frozen BatchNorm layers use and keep their pretrained "
            "statistics."
        )

    return run


def _check_groups(groups: list[tuple[float, list[str]]], entries: list[Entry],
                  head_lr: float, backbone_lr: float, fn: str) -> None:
    by_name = {e.name: e for e in entries}
    held = [n for _, names in groups for n in names]
    strangers = [n for n in held if n not in by_name]
    if strangers:
        fail(
            f"The optimizer from `{fn}` holds {len(strangers)} tensors that are not in the "
            "model (the old head's, built before it was replaced?)."
        )
    frozen = [by_name[n] for n in held if not by_name[n].trainable]
    if frozen:
        fail(
            f"The optimizer from `{fn}` holds {len(frozen)} frozen tensors: {_names(frozen)}. "
            "Give it only trainable ones (filter on requires_grad / use trainable_weights)."
        )
    lr_of = {n: lr for lr, names in groups for n in names}
    for e in entries:
        if not e.trainable:
            continue
        if e.name not in lr_of:
            what = "the new head's" if e.part == "head" else "a trainable backbone"
            fail(f"`{e.name}` ({what} tensor) is in no group of the optimizer from `{fn}`.")
        want = head_lr if e.part == "head" else backbone_lr
        if not math.isclose(lr_of[e.name], want, rel_tol=1e-6):
            if e.part != "head" and math.isclose(lr_of[e.name], head_lr, rel_tol=1e-6):
                fail(
                    f"`{e.name}` trains at head_lr={head_lr:g}: one learning rate for "
                    f"everything. The unfrozen backbone needs its own group at "
                    f"backbone_lr={backbone_lr:g}, lower than the new head's."
                )
            where = "head" if e.part == "head" else "backbone"
            fail(f"`{e.name}` trains at lr {lr_of[e.name]:g}; the {where} must train at "
                 f"{want:g} ({where}_lr).")


def _optimizer(spec: FinetuneSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        drv, base, model = _prepared(ctx, spec)
        fn = drv.names["optimizer"]
        opt = ctx.get(fn, "function")(model, spec.head_lr, spec.backbone_lr)
        _check_groups(drv.groups(opt, model), drv.entries(model, base),
                      spec.head_lr, spec.backbone_lr, fn)
        return f"With the backbone frozen the optimizer holds only the head, at lr {spec.head_lr:g}."

    return run


def _train(ctx: Context, spec: FinetuneSpec, drv: Any, model: Any, base: Any,
           head_lr: float, backbone_lr: float, steps: int, seed: int) -> tuple[list[Entry], dict]:
    xtr, ytr, _, _ = _task(spec)
    opt = ctx.get(drv.names["optimizer"], "function")(model, head_lr, backbone_lr)
    drv.groups(opt, model)
    before = drv.entries(model, base)
    losses = drv.train(ctx, model, opt, xtr, ytr, steps, seed)
    ctx.details["loss_curve"] = _curve(losses)
    if not all(math.isfinite(v) for v in losses):
        fail("The fine-tuning loss became NaN or infinite.")
    return before, {e.name: e.value for e in drv.entries(model, base)}


def _phase_one(ctx: Context, spec: FinetuneSpec) -> tuple[Any, Any, list[Entry], dict, float]:
    """Fine-tune the head on the frozen backbone, once per grading run."""
    drv = _driver(ctx, spec)
    cached = ctx.store.get("finetuned")
    if cached and cached[0] == drv.generation:
        return cached[1]
    _, base, model = _prepared(ctx, spec)
    before, after = _train(ctx, spec, drv, model, base, spec.head_lr, spec.backbone_lr,
                           spec.steps, seed=0)
    _, _, xva, yva = _task(spec)
    result = (base, model, before, after, _accuracy(drv, model, xva, yva))
    ctx.store["finetuned"] = (drv.generation, result)
    return result


def _finetune(spec: FinetuneSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        base, model, before, after, acc = _phase_one(ctx, spec)
        changed = [e for e in before if e.part != "head" and not np.array_equal(e.value, after.get(e.name))]
        if changed:
            stats = [e for e in changed if e.bn_stat]
            what = "BatchNorm statistics" if stats else "weights"
            fail(f"After {spec.steps} fine-tuning steps, frozen {what} changed: "
                 f"{_names(stats or changed)}. Frozen tensors must stay bit-identical.")
        if all(np.array_equal(e.value, after.get(e.name)) for e in before if e.part == "head"):
            fail(f"The new head did not change in {spec.steps} steps: is it in the optimizer?")
        ctx.details.update(accuracy=round(acc, 4), target=spec.target)
        if acc < spec.target:
            fail(
                f"The fine-tuned model reached {acc:.1%} validation accuracy after {spec.steps} "
                f"steps; the check needs {spec.target:.0%}. The backbone is pretrained on a "
                "related task, so a head on its frozen features should get there."
            )
        return (
            f"{spec.steps} steps: frozen weights and BN statistics bit-identical, the head "
            f"trained, {acc:.1%} validation accuracy (needs {spec.target:.0%})."
        )

    return run


def _stage_rules(ctx: Context, spec: FinetuneSpec, drv: Any, model: Any, base: Any) -> list[Entry]:
    """Unfreeze the stage and require: the stage (and head) trainable, nothing else."""
    ctx.get("unfreeze", "function")(model, spec.stage)
    entries = drv.entries(model, base)
    loose = [e for e in entries if e.part == "backbone" and e.trainable]
    if loose:
        fail(f"After unfreeze(model, \"{spec.stage}\"), tensors outside {spec.stage} are "
             f"trainable: {_names(loose)}. Only the stage (and the head) may train.")
    head = [e for e in entries if e.part == "head" and not e.trainable]
    if head:
        fail(f"After unfreeze the head is frozen ({_names(head)}); it must stay trainable.")
    stage = [e for e in entries if e.part == "stage"]
    # Keras: the kernels must train; whether a stage's BN gamma and beta do is free
    stuck = [e for e in stage if e.weight and not e.trainable
             and (ctx.framework == "torch" or len(e.value.shape) == 4)]
    if stuck:
        fail(f"After unfreeze(model, \"{spec.stage}\"), {_names(stuck)} are still frozen: "
             f"every weight of {spec.stage} must be trainable.")
    return entries


def _unfreeze(spec: FinetuneSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        drv, base, model = _prepared(ctx, spec)
        _stage_rules(ctx, spec, drv, model, base)
        x = _task(spec)[0][:32]
        before = drv.entries(model, base)
        drv.run(model, x, training=True)
        after = {e.name: e.value for e in drv.entries(model, base)}
        moved = {e.name for e in before if e.bn_stat and not np.array_equal(e.value, after.get(e.name))}
        frozen_moved = [e for e in before if e.bn_stat and e.part == "backbone" and e.name in moved]
        if frozen_moved:
            fail(f"After unfreeze, {drv.train_call} changed the statistics of BN layers outside "
                 f"{spec.stage}: {_names(frozen_moved)}. They are still frozen.")
        stage_stats = [e for e in before if e.bn_stat and e.part == "stage"]
        stage_moved = [e for e in stage_stats if e.name in moved]
        if ctx.framework == "torch" and len(stage_moved) < len(stage_stats):
            fail(
                f"After unfreeze(model, \"{spec.stage}\") and `model.train()`, the BN layers of "
                f"{spec.stage} still do not update their running statistics. An unfrozen stage "
                "trains like in pretraining: its BN layers must follow model.train() again."
            )
        if ctx.framework == "tf" and stage_moved:
            fail(
                f"After unfreeze(model, \"{spec.stage}\"), a call with training=True changed "
                f"the moving statistics of {_names(stage_moved)}. The base must keep running in "
                "inference mode: call it with training=False from your model's call(). (In a "
                "functional model a training=False given while building is overwritten by "
                "the outer call's training=True; otherwise keep the stage's BatchNormalization "
                "layers trainable=False.)"
            )
        fn = drv.names["optimizer"]
        opt = ctx.get(fn, "function")(model, spec.stage_head_lr, spec.stage_backbone_lr)
        _check_groups(drv.groups(opt, model), drv.entries(model, base),
                      spec.stage_head_lr, spec.stage_backbone_lr, fn)
        bn = ("its BN layers update again in train mode" if ctx.framework == "torch"
              else "its BN layers stay in inference mode")
        return (f"unfreeze(model, \"{spec.stage}\") makes exactly {spec.stage} trainable, {bn}; "
                f"the optimizer puts it at backbone_lr and the head at head_lr.")

    return run


def _finetune_stage(spec: FinetuneSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        drv = _driver(ctx, spec)
        base, model, _, _, acc0 = _phase_one(ctx, spec)
        _stage_rules(ctx, spec, drv, model, base)
        before, after = _train(ctx, spec, drv, model, base, spec.stage_head_lr,
                               spec.stage_backbone_lr, spec.stage_steps, seed=1)
        changed = [e for e in before if e.part == "backbone"
                   and not np.array_equal(e.value, after.get(e.name))]
        if changed:
            fail(f"While fine-tuning {spec.stage}, frozen tensors outside it changed: "
                 f"{_names(changed)}.")
        weights = [e for e in before if e.part == "stage" and e.weight]
        if all(np.array_equal(e.value, after.get(e.name)) for e in weights):
            fail(f"{spec.stage}'s weights did not change in {spec.stage_steps} steps: are they "
                 "in the optimizer?")
        _, _, xva, yva = _task(spec)
        acc = _accuracy(drv, model, xva, yva)
        ctx.details.update(accuracy=round(acc, 4), target=round(acc0 - spec.tolerance, 4))
        if acc < acc0 - spec.tolerance:
            fail(
                f"Unfreezing {spec.stage} lost accuracy: {acc0:.1%} -> {acc:.1%} after "
                f"{spec.stage_steps} steps at head_lr={spec.stage_head_lr:g}, "
                f"backbone_lr={spec.stage_backbone_lr:g}. Is the stage training at backbone_lr?"
            )
        return (f"Unfreezing {spec.stage} at lr {spec.stage_backbone_lr:g}: {acc0:.1%} -> "
                f"{acc:.1%}; the rest of the backbone stayed bit-identical.")

    return run


def finetune_checks(spec: FinetuneSpec) -> list[Check]:
    return [
        Check("api", "API: prepare_finetune, unfreeze, the optimizer", _api(spec), gate=True),
        Check("head", "The head: fc replaced on the pooled features", _head(spec)),
        Check("frozen", "Frozen: only the head is trainable", _frozen(spec), needs=("head",)),
        Check("batchnorm", "BatchNorm statistics stay frozen in training mode", _batchnorm(spec),
              needs=("head",)),
        Check("optimizer", "Optimizer: only trainable tensors, the head at head_lr",
              _optimizer(spec), needs=("head",)),
        Check("unfreeze", "unfreeze: the stage trainable, its BN rule, two learning rates",
              _unfreeze(spec), needs=("head", "frozen")),
        Check("finetune", "Fine-tuning: frozen tensors bit-identical, accuracy", _finetune(spec),
              needs=("head", "frozen", "batchnorm", "optimizer")),
        Check("finetune_stage", "Fine-tuning the unfrozen stage keeps the accuracy",
              _finetune_stage(spec), needs=("finetune", "unfreeze")),
    ]
