"""The PyTorch items of 16_spot_the_bug (new head, ResNet-18 layout, LambdaLR); torch imported inside."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_kata.checks import Context, close, fail, fmt_shape, max_rel_diff
from resnet_kata.checks.mistakes import name_mistake

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
    case = f"for an optimizer with lr={cfg.base:g}, {cfg.text().split(', ', 1)[1]}"
    sched = attempt(ctx, name, ctx.get(name, "function"), opt, **cfg.kwargs(), case=case)
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
            head_function(ctx, new, before, text, num_classes)
        return lesson

    return run


# the named wrong outputs of the adapted model: a sentence -> the pooled-features logits turned wrong
HEAD_MISTAKES: dict[str, Callable[[Any, Any], Any]] = {
    "a softmax over the classes is applied to fc's output: the model returns logits, and the "
    "loss (cross-entropy) applies its own log-softmax": lambda logits, feats: logits.softmax(dim=1),
    "a softmax over the wrong dimension (dim=0, the batch) is applied to fc's output: the model "
    "returns logits, fc's output as it is": lambda logits, feats: logits.softmax(dim=0),
    "a softmax applied twice to fc's output: the model returns logits, fc's output as it is":
        lambda logits, feats: logits.softmax(dim=1).softmax(dim=1),
    "a log-softmax is applied to fc's output: the model returns logits, fc's output as it is":
        lambda logits, feats: logits.log_softmax(dim=1),
    "a sigmoid is applied to fc's output: the model returns logits, fc's output as it is":
        lambda logits, feats: logits.sigmoid(),
}


def _head_reference(before: dict[str, Any], fc: Any, x: Any, training: bool,
                    pool: str = "mean") -> tuple[Any, Any]:
    """The pretrained network's forward from its weights as they were, with the new `fc`:
    (logits, pooled features). BN statistics are copied, never changed."""
    import torch
    from torch.nn import functional as F

    with torch.no_grad():
        t = F.conv2d(x, before["conv1.weight"], None, 1, 1)
        t = F.batch_norm(t, before["bn1.running_mean"].clone(), before["bn1.running_var"].clone(),
                         before["bn1.weight"], before["bn1.bias"], training, 0.1, 1e-5)
        t = F.relu(t)
        feats = t.amax(dim=(2, 3)) if pool == "max" else t.mean(dim=(2, 3))
        return F.linear(feats, fc.weight, fc.bias), feats


def head_function(ctx: Context, new: Any, before: dict[str, Any], text: str, num_classes: int) -> None:
    """The adapted model's output is its new `fc` applied to the pretrained model's pooled
    features, in eval and train mode; a known wrong output is named."""
    import torch


    x = torch.as_tensor(ctx.rng(1).normal(0.0, 1.0, (3, 3, 6, 5)).astype(np.float32))
    snap = ctx.A.snapshot(new)
    for training in (False, True):
        ctx.A.restore(new, snap)
        new.train(training)
        with torch.no_grad():
            out = attempt(ctx, f"the model from `{text}`", new, x, case="on a (3, 3, 6, 5) input")
        ctx.A.restore(new, snap)
        ref, feats = _head_reference(before, new.fc, x, training)
        if tuple(out.shape) == (3, num_classes) and close(out.numpy(), ref.numpy()):
            continue
        mode = "train" if training else "eval"
        if tuple(out.shape) != (3, num_classes):
            fail(f"In {mode} mode the model from `{text}` maps a (3, 3, 6, 5) input to "
                 f"{fmt_shape(out.shape)}; expected (3, {num_classes}) logits.")
        named = name_mistake(out.numpy(), [
            *((sentence, lambda f=f, r=ref, h=feats: f(r, h).numpy())
              for sentence, f in HEAD_MISTAKES.items()),
            ("the pooled features are a global MAX: the network's own `avgpool` averages them "
             "and must stay as it is",
             lambda t=training: _head_reference(before, new.fc, x, t, "max")[0].numpy()),
            (f"BatchNorm ran in {'eval' if training else 'train'} mode while the model was called in "
             f"{mode} mode: leave the modes to the caller",
             lambda t=training: _head_reference(before, new.fc, x, not t)[0].numpy()),
        ])
        fail(f"In {mode} mode the model from `{text}` does not return its new `fc` applied to the "
             f"pooled features of the pretrained network (max relative difference "
             f"{max_rel_diff(out.numpy(), ref.numpy()):.2e}). "
             + (f"It matches: {named}." if named else
                "Replace `fc` and nothing else: the features go straight into it, and its output "
                "is the logits."))
    ctx.A.restore(new, snap)
    new.eval()


# -- how many blocks make ResNet-18 ---------------------------------------------------------


@dataclass
class DepthSpec:
    name: str
    stages: tuple[int, ...]
    params: int
    tensors: int
    entries: int
    known: dict[tuple[int, ...], str]  # a stage layout -> the network it belongs to
    # the input of the function check: batch 2 (BN in train mode), odd and non-square
    probe: tuple[int, ...] = (2, 3, 37, 45)


def depth_item(spec: DepthSpec, lesson: str) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        import torch

        fn = ctx.get(spec.name, "function")
        model = attempt(ctx, f"{spec.name}()", fn, case="when building the model (num_classes "
                        "left to its default, 1000)")
        if not isinstance(model, torch.nn.Module):
            fail(f"`{spec.name}()` returned {type(model).__name__}, not an nn.Module.")
        head = getattr(model, "fc", None)
        if isinstance(head, torch.nn.Linear) and head.out_features != 1000:
            fail(f"`{spec.name}()` ends in {head.out_features} outputs; num_classes defaults to "
                 "1000 (ImageNet's classes), so `fc` is Linear(512, 1000) when it is left out.")
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
        resnet18_function(ctx, small, f"{spec.name}(num_classes=10)", spec.probe)
        return lesson

    return run


# -- ResNet-18's forward, recomputed from the model's own weights ---------------------------

STAGE_WIDTHS = (64, 128, 256, 512)

# the named wrong forwards of ResNet-18: a sentence -> the flags of `resnet18_reference`
RESNET_MISTAKES: dict[str, frozenset[str]] = {
    "a ReLU after bn2, before the add: in a basic block the only ReLU after bn2 comes after "
    "the add, relu(bn2(conv2(.)) + identity)": frozenset({"relu_before_add"}),
    "a ReLU after bn2 on the branch and none after the add: the block ends with "
    "relu(bn2(conv2(.)) + identity)": frozenset({"relu_before_add", "no_final_relu"}),
    "the ReLU after the add is missing: a basic block ends with relu(out + identity)":
        frozenset({"no_final_relu"}),
    "the skip connection is never added: a basic block returns relu(out + identity)":
        frozenset({"no_skip"}),
    "the skip adds relu(bn1(conv1(x))), the output of the block's first conv, instead of the "
    "block's input x (or downsample(x))": frozenset({"skip_from_conv1"}),
    "the shortcut skips its BatchNorm: `downsample` is the 1x1 conv then the BN":
        frozenset({"shortcut_without_bn"}),
    "bn2 is applied after the add: the BN belongs on the branch, relu(bn2(conv2(.)) + identity)":
        frozenset({"bn2_after_add"}),
    "the ReLU comes before bn1 (conv1 - ReLU - bn1): each conv is followed by its BN, then the "
    "ReLU": frozenset({"relu_before_bn"}),
    "the stride sits on conv2: torchvision's basic block strides conv1, the first 3x3 conv":
        frozenset({"stride_on_conv2"}),
    "the stem's max pool is never applied: conv1 - bn1 - ReLU - maxpool (3x3, stride 2, "
    "padding 1) come before layer1": frozenset({"no_maxpool"}),
    "the stem's max pool has no padding: torchvision's is MaxPool2d(3, stride=2, padding=1)":
        frozenset({"maxpool_unpadded"}),
    "the stem has no ReLU between bn1 and the max pool": frozenset({"stem_without_relu"}),
    "the features are max-pooled at the end: ResNet averages them (global average pool) "
    "before fc": frozenset({"global_max_pool"}),
    "a softmax over the classes is applied to the output: the model returns logits, fc's "
    "output as it is": frozenset({"softmax"}),
    "a softmax over the wrong dimension (the batch) is applied to the output: the model returns "
    "logits, fc's output as it is": frozenset({"softmax_over_batch"}),
}


def resnet18_keys() -> list[str]:
    """The parameter keys of torchvision's ResNet-18 (without the BN statistics)."""
    keys = ["conv1.weight", "bn1.weight", "bn1.bias"]
    for i in range(1, len(STAGE_WIDTHS) + 1):
        for j in range(2):
            p = f"layer{i}.{j}"
            keys += [f"{p}.conv1.weight", f"{p}.bn1.weight", f"{p}.bn1.bias",
                     f"{p}.conv2.weight", f"{p}.bn2.weight", f"{p}.bn2.bias"]
            if i > 1 and j == 0:
                keys += [f"{p}.downsample.0.weight", f"{p}.downsample.1.weight",
                         f"{p}.downsample.1.bias"]
    return [*keys, "fc.weight", "fc.bias"]


def resnet18_reference(model: Any, x: Any, training: bool, wrong: frozenset[str] = frozenset()) -> Any:
    """torchvision's ResNet-18 forward from `model`'s own weights and BN statistics (read by
    torchvision's keys), with the strides and paddings of its layout; `wrong` switches on
    named mistakes. BN statistics are copied, so the model's own are never changed."""
    import torch
    from torch.nn import functional as F

    sd = model.state_dict()

    def conv(path: str, t: Any, stride: int, padding: int) -> Any:
        return F.conv2d(t, sd[f"{path}.weight"], sd.get(f"{path}.bias"), stride, padding)

    def bn(path: str, t: Any) -> Any:
        eps = getattr(model.get_submodule(path), "eps", 1e-5)
        return F.batch_norm(t, sd[f"{path}.running_mean"].clone(), sd[f"{path}.running_var"].clone(),
                            sd[f"{path}.weight"], sd[f"{path}.bias"], training, 0.1, eps)

    def block(p: str, t: Any, stride: int) -> Any:
        s1, s2 = (1, stride) if "stride_on_conv2" in wrong else (stride, 1)
        if f"{p}.downsample.0.weight" in sd:
            identity = conv(f"{p}.downsample.0", t, stride, 0)
            if "shortcut_without_bn" not in wrong:
                identity = bn(f"{p}.downsample.1", identity)
        else:
            identity = t
        h = conv(f"{p}.conv1", t, s1, 1)
        h = bn(f"{p}.bn1", F.relu(h)) if "relu_before_bn" in wrong else F.relu(bn(f"{p}.bn1", h))
        if "skip_from_conv1" in wrong:
            identity = h
        out = conv(f"{p}.conv2", h, s2, 1)
        if "bn2_after_add" in wrong:
            return F.relu(bn(f"{p}.bn2", out + identity))
        out = bn(f"{p}.bn2", out)
        if "relu_before_add" in wrong:
            out = F.relu(out)
        if "no_skip" in wrong:
            return F.relu(out)
        out = out + identity
        return out if "no_final_relu" in wrong else F.relu(out)

    with torch.no_grad():
        t = bn("bn1", conv("conv1", x, 2, 3))
        t = t if "stem_without_relu" in wrong else F.relu(t)
        if "no_maxpool" not in wrong:
            t = F.max_pool2d(t, 3, 2, 0 if "maxpool_unpadded" in wrong else 1)
        for i in range(1, len(STAGE_WIDTHS) + 1):
            for j in range(2):
                t = block(f"layer{i}.{j}", t, 2 if i > 1 and j == 0 else 1)
        pooled = t.amax(dim=(2, 3)) if "global_max_pool" in wrong else t.mean(dim=(2, 3))
        logits = F.linear(pooled, sd["fc.weight"], sd["fc.bias"])
        if "softmax" in wrong:
            return logits.softmax(dim=1)
        if "softmax_over_batch" in wrong:
            return logits.softmax(dim=0)
        return logits


def resnet18_function(ctx: Context, model: Any, name: str, in_shape: tuple[int, ...]) -> None:
    """The model's output equals torchvision's ResNet-18 forward from its own weights, in
    eval and train mode, after random BN statistics; the mismatch is named when known."""
    import torch


    sd = model.state_dict()
    missing = [k for k in resnet18_keys() if k not in sd]
    if missing:
        fail(f"`{name}` has no `{missing[0]}` in its state_dict"
             + (f" (and {len(missing) - 1} more torchvision keys)" if len(missing) > 1 else "")
             + ": keep torchvision's names (conv1, bn1, layer1..layer4 of blocks with conv1, bn1, "
             "conv2, bn2 and downsample, fc), as the file's BasicBlock and ResNet have them, so "
             "pretrained weights load by name.")
    A = ctx.A
    A.randomize_bn(model, ctx.rng(4))
    snap = A.snapshot(model)
    param = next(model.parameters())
    x = torch.as_tensor(ctx.rng(5).normal(0.0, 1.0, in_shape).astype(np.float32)).to(param.device)
    for training in (False, True):
        A.restore(model, snap)
        model.train(training)
        with torch.no_grad():
            got = attempt(ctx, name, model, x, case=f"on a {fmt_shape(in_shape)} input")
        A.restore(model, snap)
        model.train(training)
        want = resnet18_reference(model, x, training)
        if tuple(got.shape) == tuple(want.shape) and close(got.cpu().numpy(), want.cpu().numpy()):
            continue
        got_np = got.detach().cpu().numpy()
        mode = "train" if training else "eval"
        other = "eval" if training else "train"
        named = name_mistake(got_np, [
            *((sentence, lambda w=flags, t=training: resnet18_reference(model, x, t, w).cpu().numpy())
              for sentence, flags in RESNET_MISTAKES.items()),
            (f"BatchNorm ran in {other} mode while the model was called in {mode} mode: do not "
             "call .eval()/.train() or F.batch_norm(training=...) inside forward",
             lambda t=training: resnet18_reference(model, x, not t).cpu().numpy()),
        ])
        A.restore(model, snap)
        fail(f"In {mode} mode, `{name}` on a {fmt_shape(in_shape)} input does not compute "
             f"torchvision's ResNet-18 forward from its own weights (max relative difference "
             f"{max_rel_diff(got_np, want.cpu().numpy()):.2e}). "
             + (f"It matches: {named}." if named else
                "Compare the forward with torchvision's: conv1 (7x7, stride 2, padding 3) - bn1 - "
                "ReLU - maxpool (3, 2, padding 1), each basic block relu(bn2(conv2(relu(bn1(conv1"
                "(x))))) + identity) with the stride on conv1, global average pool, fc."))
    A.restore(model, snap)
    model.eval()
