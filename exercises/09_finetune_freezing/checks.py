"""Checks for 09_finetune_freezing: what the learner's code does to a pretrained model and optimizer.

The exercise hands its pretrained backbone (a small torchvision-style ResNet) to the
learner's `prepare_finetune`, trains with the learner's optimizer on a related task,
and compares every tensor before and after, bit for bit. The check logic is written
once; `drivers.Torch` and `drivers.Keras` hold what differs: how a model is frozen,
run and optimised in each framework.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from resnet_kata.checks import Check, Context, close, fail
from resnet_kata.checks.calls import call, require
from resnet_kata.checks.training import curve

from .drivers import Entry, driver
from .tasks import FinetuneSpec, split

SPEC = FinetuneSpec()


def _names(entries: list[Entry], limit: int = 4) -> str:
    shown = ", ".join(f"`{e.name}`" for e in entries[:limit])
    return shown + (f" and {len(entries) - limit} more" if len(entries) > limit else "")


def _prepared(ctx: Context, spec: FinetuneSpec) -> tuple[Any, Any, Any]:
    """(driver, base, model): a fresh pretrained base through the learner's prepare_finetune."""
    drv = driver(ctx, spec)
    base = drv.base()
    model = call(ctx, "prepare_finetune", base, spec.num_classes,
                 case=f"on the pretrained backbone with num_classes={spec.num_classes}")
    if model is None:
        fail("prepare_finetune returned None; it must return the model to fine-tune.")
    if not ctx.A.is_model(model):
        fail(f"prepare_finetune returned {type(model).__name__}; it must return the model "
             f"({'an nn.Module' if ctx.framework == 'torch' else 'a keras.Model'}).")
    return drv, base, drv.built(model, split(spec)[0])


def _make_optimizer(ctx: Context, drv: Any, model: Any, head_lr: float, backbone_lr: float,
                    when: str) -> Any:
    """The learner's optimizer (torch) or (optimizer, variables) pairs (Keras) for `model`."""
    return call(ctx, drv.names["optimizer"], model, head_lr, backbone_lr,
                case=f"{when} (head_lr={head_lr:g}, backbone_lr={backbone_lr:g})")


def _accuracy(drv: Any, model: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float((drv.run(model, x, training=False).argmax(axis=1) == y).mean())


def _api(spec: FinetuneSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        opt = driver(ctx, spec).names["optimizer"]
        calls = (("prepare_finetune", "model, num_classes", (None, spec.num_classes)),
                 ("unfreeze", "model, stage", (None, spec.stage)),
                 (opt, "model, head_lr, backbone_lr", (None, spec.head_lr, spec.backbone_lr)))
        for name, params, args in calls:
            require(ctx, name, "function", f"{name}({params})", args)
        return f"Defines {', '.join(name for name, _, _ in calls)}."

    return run


def _head(spec: FinetuneSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        drv, base, model = _prepared(ctx, spec)
        weight, bias = drv.head(model, base)
        x = split(spec)[2][:16]
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
        x = split(spec)[0][:32]
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
            if e.part == "head" and math.isclose(lr_of[e.name], backbone_lr, rel_tol=1e-6):
                fail(
                    f"`{e.name}` (the new head) trains at backbone_lr={backbone_lr:g}: are "
                    f"head_lr and backbone_lr swapped? The head, trained from scratch, gets the "
                    f"higher head_lr={head_lr:g}; the pretrained backbone the lower one."
                )
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
        opt = _make_optimizer(ctx, drv, model, spec.head_lr, spec.backbone_lr,
                              "with the backbone frozen")
        _check_groups(drv.groups(opt, model), drv.entries(model, base),
                      spec.head_lr, spec.backbone_lr, fn)
        return f"With the backbone frozen the optimizer holds only the head, at lr {spec.head_lr:g}."

    return run


def _train(ctx: Context, spec: FinetuneSpec, drv: Any, model: Any, base: Any,
           head_lr: float, backbone_lr: float, steps: int, seed: int) -> tuple[list[Entry], dict]:
    xtr, ytr, _, _ = split(spec)
    opt = _make_optimizer(ctx, drv, model, head_lr, backbone_lr, "before fine-tuning")
    drv.groups(opt, model)
    before = drv.entries(model, base)
    losses = drv.train(ctx, model, opt, xtr, ytr, steps, seed)
    ctx.details["loss_curve"] = curve(losses)
    if not all(math.isfinite(v) for v in losses):
        fail("The fine-tuning loss became NaN or infinite.")
    return before, {e.name: e.value for e in drv.entries(model, base)}


def _phase_one(ctx: Context, spec: FinetuneSpec) -> tuple[Any, Any, list[Entry], dict, float]:
    """Fine-tune the head on the frozen backbone, once per grading run."""
    drv = driver(ctx, spec)
    cached = ctx.store.get("finetuned")
    if cached and cached[0] == drv.generation:
        return cached[1]
    _, base, model = _prepared(ctx, spec)
    before, after = _train(ctx, spec, drv, model, base, spec.head_lr, spec.backbone_lr,
                           spec.steps, seed=0)
    _, _, xva, yva = split(spec)
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


def _stage_rules(ctx: Context, spec: FinetuneSpec, drv: Any, model: Any, base: Any,
                 stage: str | None = None) -> list[Entry]:
    """Unfreeze `stage` (the spec's by default) and require: the stage (and head) trainable,
    nothing else."""
    stage = stage or spec.stage
    call(ctx, "unfreeze", model, stage, case=f"as unfreeze(model, \"{stage}\") on the "
         "model prepare_finetune returned")
    entries = drv.entries(model, base, stage)
    loose = [e for e in entries if e.part == "backbone" and e.trainable]
    if loose:
        other = ""
        if stage != spec.stage and all(spec.stage in e.name for e in loose):
            other = (f" It unfroze {spec.stage}: `unfreeze` must use its `stage` argument, "
                     "not a fixed stage.")
        fail(f"After unfreeze(model, \"{stage}\"), tensors outside {stage} are "
             f"trainable: {_names(loose)}. Only the stage (and the head) may train.{other}")
    head = [e for e in entries if e.part == "head" and not e.trainable]
    if head:
        fail(f"After unfreeze the head is frozen ({_names(head)}); it must stay trainable.")
    in_stage = [e for e in entries if e.part == "stage"]
    # Keras: the kernels must train; whether a stage's BN gamma and beta do is free
    stuck = [e for e in in_stage if e.weight and not e.trainable
             and (ctx.framework == "torch" or len(e.value.shape) == 4)]
    if stuck:
        fail(f"After unfreeze(model, \"{stage}\"), {_names(stuck)} are still frozen: "
             f"every weight of {stage} must be trainable.")
    return entries


OTHER_STAGE = "layer3"  # a second call site: `unfreeze` must act on the stage it is given


def _unfreeze(spec: FinetuneSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        drv, base, model = _prepared(ctx, spec)
        _stage_rules(ctx, spec, drv, model, base)
        x = split(spec)[0][:32]
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
            why = ("" if getattr(model, "training", True) else
                   " `model.train()`, called with no argument as a training loop does, left the "
                   "model itself in eval mode (model.training is False): an override of train() "
                   "must default to mode=True, as nn.Module.train does.")
            fail(
                f"After unfreeze(model, \"{spec.stage}\") and `model.train()`, the BN layers of "
                f"{spec.stage} still do not update their running statistics. An unfrozen stage "
                "trains like in pretraining: its BN layers must follow model.train() again." + why
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
        opt = _make_optimizer(ctx, drv, model, spec.stage_head_lr, spec.stage_backbone_lr,
                              f"after unfreeze(model, \"{spec.stage}\")")
        _check_groups(drv.groups(opt, model), drv.entries(model, base),
                      spec.stage_head_lr, spec.stage_backbone_lr, fn)
        drv, base, fresh = _prepared(ctx, spec)
        _stage_rules(ctx, spec, drv, fresh, base, OTHER_STAGE)
        bn = ("its BN layers update again in train mode" if ctx.framework == "torch"
              else "its BN layers stay in inference mode")
        return (f"unfreeze(model, \"{spec.stage}\") makes exactly {spec.stage} trainable (and "
                f"\"{OTHER_STAGE}\" exactly {OTHER_STAGE}), {bn}; "
                f"the optimizer puts it at backbone_lr and the head at head_lr.")

    return run


def _finetune_stage(spec: FinetuneSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        drv = driver(ctx, spec)
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
        _, _, xva, yva = split(spec)
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


def checks(framework: str) -> list[Check]:
    return finetune_checks(SPEC)
