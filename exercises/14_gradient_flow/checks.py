"""Checks for 14_gradient_flow: per-layer gradient norms of a deep plain MLP and a residual one.

The learner builds both nets (a `stem` Linear/Dense, `hidden` blocks each holding a
`.linear`, a `head`) and writes `layer_grad_norms` and `starvation_ratio`. The grader
never trusts the learner's numbers: it recomputes every block, every forward pass and
every gradient norm itself, from the learner's own layers (references.py), and when the
learner's norms differ it recomputes the usual wrong versions (reversed, squared, bias
included, MSE, softmax twice, ...) to name the mistake (mistakes.py). The framework code
is in drivers.py; each driver imports its framework inside, so a torch check never loads
TensorFlow and the reverse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_kata.checks import Check, CheckFailed, Context, fail
from resnet_kata.checks.calls import call, invoke, require
from resnet_kata.checks.training import curve, sparkline

from .drivers import driver
from .mistakes import block_mistake, block_variants, init_hint, norm_mistake
from .references import blocks, linears, mean_ce, ref_grads, ref_logits, same


@dataclass
class FlowSpec:
    # the phenomenon: deep nets, thresholds on last/first with margin to spare
    deep: int = 50
    width: int = 64
    in_features: int = 16
    classes: int = 4
    batch: int = 64
    seeds: tuple[int, ...] = (0, 1)
    plain_min: float = 1e3  # measured 1e11 in both frameworks
    residual_max: float = 10.0  # measured 0.3 to 0.45
    # the training race
    train_depth: int = 20
    train_steps: int = 60
    train_batch: int = 64
    train_lr: float = 1e-3
    train_n: int = 512
    train_margin: float = 0.5  # residual's final loss at most this fraction of plain's


# Measured with the reference (both frameworks, seeds 0 and 1): at depth 50 the plain
# net's last/first weight-gradient norm is about 1e11, the residual net's about 0.4.
# After 60 Adam steps at depth 20 the plain net's loss is about 1.2, the residual's 0.05.
SPEC = FlowSpec(deep=50, plain_min=1e3, residual_max=10.0, train_depth=20, train_steps=60)

KINDS = {"plain": "make_plain", "residual": "make_residual"}


# -- building and reading the learner's models -----------------------------------------


def _make(ctx: Context, drv: Any, kind: str, depth: int, width: int, in_features: int, classes: int,
          seed: int = 0) -> Any:
    name = KINDS[kind]
    ctx.A.reset(seed)
    model = call(ctx, name, depth, width, in_features, classes,
                 case=f"for {name}({depth}, {width}, {in_features}, {classes})")
    if not ctx.A.is_model(model):
        base = "nn.Module" if ctx.framework == "torch" else "keras.Model"
        fail(f"`{name}` returned {type(model).__name__}; it must return the model (a {base}).")
    return drv.build(model, in_features)


def _floats(value: Any, fn: str, what: str) -> np.ndarray:
    """A returned sequence of numbers (floats, 0-dim tensors, a 1-D tensor) as float64."""
    if value is None:
        fail(f"`{fn}` returned None; it must return {what}.")
    items: Any = value
    if hasattr(value, "detach"):
        items = value.detach().cpu().numpy()
    elif hasattr(value, "numpy") and not isinstance(value, (list, tuple)):
        items = value.numpy()
    try:
        seq = list(items) if not isinstance(items, np.ndarray) else list(items.reshape(-1))
        out = []
        for v in seq:
            if hasattr(v, "detach"):
                v = v.detach().cpu().numpy()
            elif hasattr(v, "numpy"):
                v = v.numpy()
            out.append(float(np.asarray(v, np.float64).reshape(())))
    except (TypeError, ValueError):
        fail(f"`{fn}` returned a {type(value).__name__}; it must return {what}.")
    return np.array(out, np.float64)


def _show(values: Sequence[float], n: int = 3) -> str:
    vals = [f"{v:.4g}" for v in values]
    if len(vals) <= 2 * n:
        return "[" + ", ".join(vals) + "]"
    return "[" + ", ".join(vals[:n]) + ", ..., " + ", ".join(vals[-n:]) + "]"


# -- checks --------------------------------------------------------------------------


def flow_api(ctx: Context) -> str:
    for name in KINDS.values():
        require(ctx, name, "function", f"{name}(depth, width, in_features, num_classes)", (1, 2, 3, 4))
    require(ctx, "layer_grad_norms", "function", "layer_grad_norms(model, x, y)", (None, None, None))
    require(ctx, "starvation_ratio", "function", "starvation_ratio(norms)", ([1.0],))
    drv = driver(ctx)
    for kind in KINDS:
        model = _make(ctx, drv, kind, 2, 8, 5, 3)
        for attr in ("stem", "hidden", "head"):
            if getattr(model, attr, None) is None:
                fail(f"The model from `{KINDS[kind]}` has no attribute `{attr}`; the statement names "
                     "three: `stem` (in_features -> width), `hidden` (the blocks), `head` (width -> "
                     "num_classes).")
    return ("make_plain, make_residual, layer_grad_norms, starvation_ratio exist; models have stem, "
            "hidden, head.")


def structure(ctx: Context) -> str:
    """Depth, widths, one `.linear` per block; parameter counts (skips add none)."""
    drv = driver(ctx)
    width, fin, classes = 8, 5, 3
    for kind, name in KINDS.items():
        for depth in (1, 4):
            model = _make(ctx, drv, kind, depth, width, fin, classes)
            found = blocks(model, name)
            if len(found) != depth:
                fail(f"`{name}({depth}, {width}, {fin}, {classes})` has {len(found)} hidden blocks in "
                     f"`hidden`; expected {depth}. depth counts the width -> width hidden layers only "
                     "(the stem and the head come on top of them).")
            layers = [("stem", model.stem, (fin, width))]
            layers += [(f"hidden[{i}].linear", lin, (width, width))
                       for i, lin in enumerate(linears(model, name))]
            layers.append(("head", model.head, (width, classes)))
            for where, lin, want in layers:
                got = drv.linear_shape(lin)
                if got is None:
                    fail(f"`{where}` of `{name}` is a {type(lin).__name__}, not a Linear/Dense layer with "
                         f"a 2-D `{drv.weight_attr}`.")
                if got != want:
                    fail(f"`{where}` of `{name}({depth}, {width}, {fin}, {classes})` maps {got[0]} -> "
                         f"{got[1]} features; expected {want[0]} -> {want[1]}.")
                if drv.bias(lin) is None:
                    fail(f"`{where}` of `{name}` has no bias; every layer here keeps its bias (no "
                         "BatchNorm follows it).")
            want_count = (fin + 1) * width + depth * (width + 1) * width + (width + 1) * classes
            count = drv.count(model)
            if count != want_count:
                extra = (" A skip connection adds NO parameters: y = x + F(x) only adds tensors, so "
                         "the residual net must have exactly the plain net's count."
                         if kind == "residual" and count > want_count else "")
                fail(f"`{name}({depth}, {width}, {fin}, {classes})` has {count:,} trainable parameters; "
                     f"expected (in+1)*width + depth*(width+1)*width + (width+1)*classes = "
                     f"{want_count:,}.{extra}")
    _initialisation(ctx, drv)
    return ("depth hidden blocks, widths stem in->w, hidden w->w, head w->classes; plain and residual have "
            "the same parameter count (the skip adds none); weights and biases uniform in ±1/√fan_in.")


def _initialisation(ctx: Context, drv: Any) -> None:
    """Every kernel and bias drawn from U(-1/√fan_in, 1/√fan_in), as the statement fixes it:
    nothing outside the bound, and the kernels' spread that of the uniform (std = bound/√3)."""
    width, fin, classes = 64, 32, 3
    init = ("keep nn.Linear's default (do not re-initialise)" if ctx.framework == "torch" else
            "give every Dense kernel_initializer and bias_initializer = VarianceScaling(scale=1/3, "
            'mode="fan_in", distribution="uniform")')
    for kind, name in KINDS.items():
        model = _make(ctx, drv, kind, 2, width, fin, classes)
        layers = [("stem", model.stem, fin)] + [(f"hidden[{i}].linear", lin, width) for i, lin in
                                                 enumerate(linears(model, name))]
        for where, lin, fan_in in layers:
            bound = 1.0 / math.sqrt(fan_in)
            for part, tensor in (("weights", drv.kernel(lin)), ("biases", drv.bias(lin))):
                values = drv.np(tensor)
                if np.abs(values).max() > bound * (1 + 1e-4):
                    fail(f"`{where}` of `{name}(2, {width}, {fin}, {classes})` has {part} up to "
                         f"±{np.abs(values).max():.3g}; the initialisation is uniform in ±1/√fan_in "
                         f"= ±{bound:.3g}: {init}.")
                spread = values.std() * math.sqrt(3) / bound
                if part == "weights" and not 0.93 <= spread <= 1.07:  # 2048+ draws: ~1.5% noise
                    fail(f"`{where}` of `{name}(2, {width}, {fin}, {classes})` has weights with "
                         f"standard deviation {values.std():.3g}; uniform in ±1/√fan_in gives "
                         f"{bound / math.sqrt(3):.3g}: {init}.")


def blocks_function(ctx: Context) -> str:
    """Each block computes x + tanh(linear(x)) (residual) or tanh(linear(x)) (plain);
    each model is stem -> blocks -> head, logits out."""
    drv = driver(ctx)
    width, fin, classes, depth = 8, 5, 3, 3
    rng = ctx.rng(3)
    for kind, name in KINDS.items():
        model = _make(ctx, drv, kind, depth, width, fin, classes)
        h = drv.x(rng.normal(0, 1.5, (6, width)))
        for i, block in enumerate(blocks(model, name)):
            with drv.no_grad():
                got = drv.np(invoke(ctx, f"hidden[{i}]", drv.run, block, h,
                                    case=f"on a ({6}, {width}) input"))
                variants = block_variants(drv, block.linear, h)
            if not same(got, variants[kind][0], 1e-5):
                fail(f"Block hidden[{i}] of `{name}` {block_mistake(got, kind, variants)}.")
        x = drv.x(rng.normal(0, 1.0, (5, fin)))
        with drv.no_grad():
            got = drv.np(invoke(ctx, name, drv.run, model, x, case=f"on a (5, {fin}) input"))
            ref = ref_logits(drv, model, x, kind == "residual")
            want = drv.np(ref)
            soft = drv.np(drv.softmax(ref))
        if got.shape != want.shape:
            fail(f"The model from `{name}` returns shape {got.shape} for a (5, {fin}) input; expected "
                 f"{want.shape}: (N, num_classes) logits.")
        if not same(got, want, 1e-5):
            why = ("it returns softmax probabilities: return the head's raw logits (the loss applies the "
                   "softmax)" if same(got, soft, 1e-5) else
                   "the model must compute head(blocks(stem(x))): no activation after the stem or the head, "
                   "every block in order, nothing else")
            fail(f"The output of `{name}` differs from stem -> hidden[0..{depth - 1}] -> head recomputed "
                 f"from your layers: {why}.")
    return ("residual blocks compute x + tanh(linear(x)), plain ones tanh(linear(x)); both nets return "
            "head(blocks(stem(x))) as logits.")


@dataclass
class _Case:
    kind: str
    depth: int = 8
    width: int = 32
    in_features: int = 12
    classes: int = 5
    batch: int = 32

    def text(self) -> str:
        return (f"on {KINDS[self.kind]}({self.depth}, {self.width}, {self.in_features}, {self.classes}) "
                f"with a batch of {self.batch}")


def _data(ctx: Context, drv: Any, case: _Case, salt: int) -> tuple[Any, Any]:
    rng = ctx.rng(salt)
    x = rng.normal(0, 1.0, (case.batch, case.in_features))
    y = rng.integers(0, case.classes, case.batch)
    return drv.x(x), drv.y(y)


NONE_GRADS = {
    "torch": ("A model fresh from make_plain has every .grad None (torch.autograd.grad never fills "
              "them): test `p.grad is not None` before touching a .grad, or use model.zero_grad(), "
              "which handles None."),
    "tf": ("tape.gradient returned None for a kernel: the tape saw no path to it. Run the forward "
           "pass (model(x)) and the loss inside the `with tf.GradientTape() as tape:` block."),
}


def _learner_norms(ctx: Context, model: Any, x: Any, y: Any, case: _Case, when: str = "") -> np.ndarray:
    try:
        out = call(ctx, "layer_grad_norms", model, x, y, case=case.text() + when)
    except CheckFailed as exc:
        if "None" in exc.message:
            fail(f"{exc.message} {NONE_GRADS[ctx.framework]}")
        raise
    return _floats(out, "layer_grad_norms", "a list of floats, one per hidden layer")


def norms(ctx: Context) -> str:
    """The learner's norms equal the grader's recomputation, in depth order."""
    drv = driver(ctx)
    seen = {}
    # 12 blocks: more than 10, so names sorted as strings (hidden.10 < hidden.2) scramble the order
    for salt, case in enumerate((_Case("plain", depth=12), _Case("residual", depth=6, width=24))):
        model = _make(ctx, drv, case.kind, case.depth, case.width, case.in_features, case.classes, salt)
        x, y = _data(ctx, drv, case, 10 + salt)
        want = ref_grads(drv, model, x, y, case.kind == "residual").norms()  # before the learner runs
        got = _learner_norms(ctx, model, x, y, case)
        if not same(got, want):
            fail(f"`layer_grad_norms` {case.text()} returned {_show(got)}; the grader's recomputation "
                 f"gives {_show(want)}: {norm_mistake(drv, model, x, y, got, case)}.",
                 returned=[float(v) for v in got], expected=[float(v) for v in want])
        seen[case.kind] = want
    p = seen["plain"]
    return (f"equal to the grader's recomputation to 1e-4, first hidden layer first (plain depth 12: "
            f"{p[0]:.3g} ... {p[-1]:.3g}).")


def side_effects(ctx: Context) -> str:
    """Weights unchanged, no gradient left behind (torch), same numbers on a second call."""
    drv = driver(ctx)
    case = _Case("plain", depth=6, width=24)
    model = _make(ctx, drv, case.kind, case.depth, case.width, case.in_features, case.classes, 5)
    x, y = _data(ctx, drv, case, 20)
    before = drv.params(model)
    first = _learner_norms(ctx, model, x, y, case)
    after = drv.params(model)
    if any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True)):
        fail(f"`layer_grad_norms` changed the weights themselves {case.text()}: it measures, it must "
             "not train (no optimizer step, no in-place update).")
    second = _learner_norms(ctx, model, x, y, case)
    if len(second) == len(first) and not same(second, first, 1e-5):
        ratio = np.median(second / np.where(first == 0, np.nan, first))
        why = ("the second call returned twice the first: gradients ACCUMULATE in .grad across "
               "backward() calls. Zero them before the backward pass (model.zero_grad()) and leave them "
               "zeroed or None afterwards, or use torch.autograd.grad, which never touches .grad"
               if ctx.framework == "torch" and abs(ratio - 2) < 1e-3 else
               "the result depends on what ran before: nothing may carry over from one call to the next")
        fail(f"Calling `layer_grad_norms` twice on the same model and batch gave {_show(first)} and then "
             f"{_show(second)}: {why}.")
    left = drv.leftover_grads(model)
    if left:
        fail(f"After `layer_grad_norms` {case.text()}, .grad still holds gradients for "
             f"{', '.join(left[:3])}{' ...' if len(left) > 3 else ''}: the function left gradients "
             "behind, and the learner's next optimizer step would use them. The rule: every .grad is "
             "None or zero afterwards (model.zero_grad(set_to_none=True) after reading the norms), or "
             "use torch.autograd.grad, which never writes .grad.")
    if ctx.framework == "torch":
        # mid-training: after an optimizer step, before the next zero_grad(), .grad is full
        fresh = _make(ctx, drv, case.kind, case.depth, case.width, case.in_features, case.classes, 6)
        drv.step_and_keep_grads(fresh, ctx.rng(21))
        want = ref_grads(drv, fresh, x, y, False).norms()
        mid = " after an optimizer step whose gradients are still in .grad"
        got = _learner_norms(ctx, fresh, x, y, case, mid)
        if len(got) == len(want) and not same(got, want):
            fail(f"On a model in mid-training (after optimizer.step(), before the next zero_grad(), "
                 f"so every .grad still holds the last step's gradient), `layer_grad_norms` "
                 f"{case.text()} returned "
                 f"{_show(got)}; the gradients of this batch give {_show(want)}: the new gradients "
                 "were ADDED onto the ones already in .grad. Zero them before the backward pass "
                 "(model.zero_grad()), or use torch.autograd.grad, which never reads or writes .grad.")
    rule = "no .grad left behind, " if ctx.framework == "torch" else ""
    return f"weights unchanged, {rule}the same numbers on a second call."


def ratio(ctx: Context) -> str:
    """starvation_ratio = last / first."""
    for values in ([2.0e-9, 3.0e-5, 0.5, 4.0], [0.5, 4.0, 0.1, 2.0], [0.8, 0.4, 0.2], [5.0, 5.0]):
        got = call(ctx, "starvation_ratio", list(values), case=f"for norms {values}")
        try:
            got = float(np.asarray(got.numpy() if hasattr(got, "numpy") else got, np.float64).reshape(()))
        except (TypeError, ValueError, AttributeError):
            fail(f"`starvation_ratio` returned {type(got).__name__}; it must return a float.")
        want = values[-1] / values[0]
        if not math.isclose(got, want, rel_tol=1e-6):
            if math.isclose(got, values[0] / values[-1], rel_tol=1e-6):
                why = ("that is first / last. The ratio is the LAST hidden layer's norm over the "
                       "FIRST's, so starvation of the early layers shows as a large number")
            elif math.isclose(got, max(values) / min(values), rel_tol=1e-6):
                why = ("that is max / min, the spread of the norms. The ratio compares two layers by "
                       "position: the LAST hidden layer's norm over the FIRST's, whatever lies between")
            else:
                why = "it should be norms[-1] / norms[0]"
            fail(f"`starvation_ratio({values})` returned {got:.6g}; expected {want:.6g}: {why}.")
    return "norms[-1] / norms[0]: large when the first layer starves."


def starvation(ctx: Context, spec: FlowSpec) -> str:
    """At depth 50 the plain net's first layer starves, the residual net's does not.

    Each net is built once (a 52-layer Keras model takes a second to build); every
    further draw shuffles its hidden layers (weight and bias together), a fresh sample
    of the learner's own initialisation, and uses a fresh batch.
    """
    drv = driver(ctx)
    found: dict[str, list[float]] = {"plain": [], "residual": []}
    case = _Case("plain", spec.deep, spec.width, spec.in_features, spec.classes, spec.batch)
    for kind in KINDS:
        model = _make(ctx, drv, kind, spec.deep, spec.width, spec.in_features, spec.classes)
        lins = linears(model, KINDS[kind])
        layers = [(drv.np(drv.kernel(lin)), drv.np(drv.bias(lin))) for lin in lins]
        for draw, seed in enumerate(spec.seeds):
            if draw:
                order = ctx.rng(60 + seed).permutation(len(lins))
                for lin, i in zip(lins, order, strict=True):
                    drv.assign(drv.kernel(lin), layers[i][0])
                    drv.assign(drv.bias(lin), layers[i][1])
            x, y = _data(ctx, drv, case, 40 + seed)
            n = ref_grads(drv, model, x, y, kind == "residual").norms()
            r = float(n[-1] / n[0]) if n[0] > 0 else math.inf
            found[kind].append(r)
            ctx.details[f"{kind}_ratio_draw{draw}"] = r
            where = (f"`{KINDS[kind]}({spec.deep}, {spec.width}, {spec.in_features}, {spec.classes})` "
                     f"(draw {draw + 1} of {len(spec.seeds)})")
            if kind == "plain" and not r >= spec.plain_min:
                fail(f"In {where}, the last hidden layer's gradient norm is only {r:.3g} x the first's; "
                     f"a deep tanh net without skips should starve its first layer (ratio >= "
                     f"{spec.plain_min:g}; the reference gives about 1e11)."
                     f"{init_hint(ctx.framework, drv, model)}")
            if kind == "residual" and not r <= spec.residual_max:
                fail(f"In {where}, the last hidden layer's gradient norm is {r:.3g} x the first's; with "
                     f"identity skips the first layer should get a comparable gradient (ratio <= "
                     f"{spec.residual_max:g}; the reference gives about 0.4). Check that every block adds "
                     "its input unchanged: y = x + tanh(linear(x)).")
    p, r = found["plain"], found["residual"]
    return (f"depth {spec.deep}, last/first gradient norm over {len(spec.seeds)} draws: plain "
            f"{', '.join(f'{v:.2g}' for v in p)}; residual {', '.join(f'{v:.2g}' for v in r)}.")


def _task(ctx: Context, spec: FlowSpec) -> tuple[np.ndarray, np.ndarray]:
    """Points in R^in labelled by the argmax of a random linear teacher."""
    rng = ctx.rng(77)
    x = rng.normal(0, 1.0, (spec.train_n, spec.in_features)).astype(np.float32)
    teacher = rng.normal(0, 1.0, (spec.in_features, spec.classes))
    return x, (x @ teacher).argmax(axis=1).astype(np.int64)


def training(ctx: Context, spec: FlowSpec) -> str:
    """Same step budget and learning rate: the residual net learns, the plain one barely moves."""
    drv = driver(ctx)
    x, y = _task(ctx, spec)
    total = 2 * spec.train_steps
    final: dict[str, float] = {}
    for k, kind in enumerate(KINDS):
        model = _make(ctx, drv, kind, spec.train_depth, spec.width, spec.in_features, spec.classes, 3)

        def on_step(step: int, loss: float, k: int = k) -> None:
            ctx.progress(step=k * spec.train_steps + step, total=total, loss=loss)

        losses = ctx.A.fit(model, x, y, spec.train_steps, spec.train_batch, spec.train_lr,
                           on_step=on_step, seed=3)
        final[kind] = mean_ce(np.asarray(ctx.A.predict(model, x), np.float64), y)
        ctx.details[f"{kind}_loss_curve"] = curve(losses)
        ctx.details[f"{kind}_sparkline"] = sparkline(losses)
        if not math.isfinite(final[kind]):
            fail(f"Training `{KINDS[kind]}` gave a loss of {final[kind]} (Adam, lr {spec.train_lr}).")
    ctx.details["loss_curve"] = ctx.details["residual_loss_curve"]
    p, r = final["plain"], final["residual"]
    setup = (f"depth {spec.train_depth}, width {spec.width}, {spec.train_steps} Adam steps at lr "
             f"{spec.train_lr}, batch {spec.train_batch}, on {spec.train_n} points of a "
             f"{spec.classes}-class task")
    if not r <= spec.train_margin * p:
        fail(f"After the same training ({setup}) the residual net's loss is {r:.3f} and the plain net's "
             f"{p:.3f}; the residual net should end at most {spec.train_margin:g} x the plain one's (the "
             "reference: about 0.05 against 1.2). Check the skip in make_residual and the initialisation.")
    return f"{setup}: final loss plain {p:.3f}, residual {r:.3f}."


def checks(framework: str, spec: FlowSpec = SPEC) -> list[Check]:
    return [
        Check("api", "API: the four functions, models with stem, hidden, head", flow_api, gate=True),
        Check("structure", "Depth, widths, equal parameter counts (skips add none)", structure),
        Check("blocks", "Each block and each model computes what the statement says", blocks_function,
              needs=("structure",)),
        Check("norms", "Gradient norms equal the grader's, first hidden layer first", norms,
              needs=("structure",)),
        Check("side_effects", "No side effects: weights, .grad, a second call", side_effects,
              needs=("norms",)),
        Check("ratio", "starvation_ratio is last / first", ratio),
        Check("starvation", f"Depth {spec.deep}: the plain net starves its first layer, the residual "
              "net does not", lambda ctx: starvation(ctx, spec), needs=("blocks",)),
        Check("training", "Same budget: the residual net learns, the plain net barely moves",
              lambda ctx: training(ctx, spec), needs=("blocks",)),
    ]
