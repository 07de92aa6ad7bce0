"""The PyTorch items of 16_spot_the_bug (new head, ResNet-18 layout, LambdaLR); torch imported inside."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_kata.checks import Context, close, fail, fmt_shape

from .calling import attempt
from .references import Warmup

# -- the per-epoch warmup, driven by a real scheduler -------------------------------------


def _probe_optimizer(lr: float) -> Any:
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


def torch_warmup(ctx: Context, name: str, cfg: Warmup) -> list[float]:
    """The learner's scheduler on an optimizer with lr=base: the lr of each epoch,
    read before the epoch's updates, with scheduler.step() once per epoch."""
    import torch

    opt = _probe_optimizer(cfg.base)
    case = f"for an optimizer with lr={cfg.base:g}, warmup_epochs={cfg.warmup}, decay={cfg.decay:g}"
    sched = attempt(ctx, name, ctx.get(name, "function"), opt, warmup_epochs=cfg.warmup,
                    decay=cfg.decay, case=case)
    if not isinstance(sched, torch.optim.lr_scheduler.LRScheduler):
        fail(f"`{name}` returned {type(sched).__name__}; it must return a "
             "torch.optim.lr_scheduler.LRScheduler (a LambdaLR, or your own subclass).")
    values = []
    for epoch in range(cfg.epochs):
        values.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        attempt(ctx, "scheduler.step()", sched.step, case=f"at the end of epoch {epoch}")
    return values


# -- replace the classifier, do not stack on it ------------------------------------------


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
            new = attempt(ctx, text, fn, model, num_classes, case=where.strip())
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


# -- how many blocks make ResNet-18 ---------------------------------------------------------


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
        model = attempt(ctx, f"{spec.name}(num_classes=1000)", fn, num_classes=1000,
                        case="when building the model")
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
        small = attempt(ctx, f"{spec.name}(num_classes=10)", fn, num_classes=10,
                        case="when building the model")
        small.eval()
        with torch.no_grad():
            out = attempt(ctx, f"{spec.name}(num_classes=10)", small, torch.zeros(1, 3, 64, 64),
                          case="on a (1, 3, 64, 64) input")
        if tuple(out.shape) != (1, 10):
            fail(f"`{spec.name}(num_classes=10)` maps (1, 3, 64, 64) to {fmt_shape(out.shape)}; "
                 "expected (1, 10) logits.")
        return lesson

    return run
