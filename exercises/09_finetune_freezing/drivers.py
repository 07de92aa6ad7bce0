"""The framework drivers of 09_finetune_freezing: how a model is frozen, run and optimised.

The checks are written once; `Torch` and `Keras` hold what differs between the
frameworks. Each imports its framework (and its backbone module) only when used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_kata.checks import Context, fail

from .tasks import FinetuneSpec


@dataclass
class Entry:
    """One tensor of the model: a parameter, a BN statistic or a Keras variable."""

    name: str
    value: np.ndarray
    part: str  # head | stage | backbone
    trainable: bool
    bn_stat: bool  # a BatchNorm running mean or variance
    weight: bool  # a parameter (torch) or a weight other than BN statistics (Keras)


class Torch:
    names = {"optimizer": "make_optimizer"}
    train_call = "`model.train()`"

    def __init__(self, spec: FinetuneSpec):
        from . import backbone_torch

        self.spec = spec
        self.backbone = backbone_torch
        self.generation = 0

    def base(self) -> Any:
        self.generation += 1
        return self.backbone.pretrained()

    def built(self, model: Any, x: np.ndarray) -> Any:
        return model

    def entries(self, model: Any, base: Any, stage: str | None = None) -> list[Entry]:
        """Every tensor, as head, stage (`stage`, the spec's by default) or backbone."""
        stage = stage or self.spec.stage
        params = dict(model.named_parameters())
        found = []
        for name, t in model.state_dict(keep_vars=True).items():
            part = "head" if name.startswith("fc.") else (
                "stage" if name.startswith(stage + ".") else "backbone")
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
        """The model's output after `model.train()` or `model.eval()`, as a training loop
        calls them (no argument: a `train(mode=...)` override must default to True)."""
        import torch

        model.train() if training else model.eval()
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


class Keras:
    names = {"optimizer": "make_optimizers"}
    train_call = "a call with `training=True`"

    def __init__(self, spec: FinetuneSpec):
        from . import backbone_tf

        self.spec = spec
        self.backbone = backbone_tf
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

    def entries(self, model: Any, base: Any, stage_name: str | None = None) -> list[Entry]:
        """Every variable, as head, stage (`stage_name`, the spec's by default) or backbone."""
        from keras import layers

        stage = {id(v) for v in base.get_layer(stage_name or self.spec.stage).weights}
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


def driver(ctx: Context, spec: FinetuneSpec) -> Any:
    """The grading run's driver for its framework, made once."""
    key = "finetune_driver"
    if key not in ctx.store:
        ctx.store[key] = (Torch if ctx.framework == "torch" else Keras)(spec)
    return ctx.store[key]
