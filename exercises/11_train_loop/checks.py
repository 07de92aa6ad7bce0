"""Checks for 11_train_loop: augmentation functions and a `fit` with early stopping.

Augmentations are judged image by image: a flip must be the input or its mirror
along the width axis; a crop must be a window of the zero-padded input, and the
offsets found are checked for coverage and independence. `fit` trains a model the
grader builds; a probe in front of its first layer counts the samples that go
through in training and in inference mode and how many of them carry the zero
border of a crop. The check logic is written once; `drivers.Torch` and
`drivers.Keras` only build the model, the probe and the random generators.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_kata import data as D
from resnet_kata.checks import Check, CheckFailed, Context, fail, fmt_shape
from resnet_kata.checks.calls import call, require
from resnet_kata.checks.mistakes import name_mistake
from resnet_kata.checks.training import curve

from .drivers import COUNTS, driver


@dataclass
class LoopSpec:
    padding: int = 2  # fit's augmentation, as the statement fixes it
    batch: int = 64
    lr: float = 1e-2
    epochs: int = 8
    patience: int = 3
    target: float = 0.85
    n_train: int = 500  # 7 full batches of 64 and a last one of 52: it must not be dropped
    n_val: int = 256
    stop_epochs: int = 10  # the run whose validation loss rises: early stopping must fire
    stop_patience: int = 2
    n_small: int = 256
    # Scripted validation losses (the grader's model sets its own val loss per epoch, see
    # drivers.scripted): they fall, rise, recover to a new best and tie it twice (0.70),
    # so a counter that is not reset (stops after 8), a patience one early (9) or one late
    # (11), `<=` for `<` (12, restores 7), a comparison with the previous epoch instead of the
    # best (14, restores 9) and no early stopping (16) each stop after a different epoch.
    # Correct: best epoch 5, stop after epoch 10.
    recover: tuple[float, ...] = (1.0, 0.8, 0.9, 0.85, 0.7, 0.7, 0.7, 0.76, 0.73, 0.75, 0.77,
                                  0.79, 0.81, 0.83, 0.85, 0.87)
    recover_patience: int = 5
    # too few epochs for early stopping (patience 9): the best, epoch 4, must still come back
    short: tuple[float, ...] = (0.9, 0.6, 0.8, 0.55, 0.7, 0.75)
    short_patience: int = 9
    n_scripted: int = 70  # a batch of 64 and one of 6
    n_scripted_val: int = 40


@dataclass
class FitRun:
    history: dict[str, list[float]]
    counts: dict[str, int]
    epochs: int
    patience: int
    n_train: int
    n_val: int
    val_loss: float  # the grader's own, on the model as fit returned it
    val_accuracy: float
    what: str = ""
    seconds: float = 0.0
    script: tuple[float, ...] = ()  # the scripted validation losses, epoch by epoch
    held: tuple[int, int] = (0, 0)  # scripted: the epoch of the model's parameters, of its buffers
    trace: dict[str, np.ndarray] | None = None  # per training image: fingerprint, crop, batch
    seen: tuple[int, int, float] | tuple[()] = ()  # scripted: largest batch, border, Adam probe


# -- augmentation -------------------------------------------------------------


def _images(rng: np.random.Generator, n: int, shape: tuple[int, ...] = (3, 6, 7)) -> np.ndarray:
    """Distinct, asymmetric, never-zero images: every flip and every window is unique."""
    x = rng.normal(0.0, 1.0, (n, *shape)).astype(np.float32)
    return x + np.where(x >= 0, 0.5, -0.5).astype(np.float32)


def _augment(ctx: Context, name: str, x: np.ndarray, *args: Any, generator: Any = None,
             seed: int = 0) -> np.ndarray:
    """Call the learner's `name(images, *args, generator)` and return canonical numpy."""
    A, drv = ctx.A, driver(ctx)
    xt = drv.tensor(x)
    case = f"on a batch of shape {_shown(ctx, x.shape)}" + (f", padding={args[0]}" if args else "")
    out = call(ctx, name, xt, *args, generator if generator is not None else drv.generator(seed),
               case=case)
    if not A.is_tensor(out):
        fail(f"`{name}` returned {type(out).__name__}; it must return a tensor.")
    got = A.numpy(out)
    if not np.array_equal(A.numpy(xt), x):
        fail(f"`{name}` changed its input batch in place. Return a new tensor: the caller's "
             "images (your training set) must stay as they were.")
    if got.shape != x.shape:
        fail(f"`{name}` turned a batch of shape {_shown(ctx, x.shape)} into "
             f"{_shown(ctx, got.shape)}; the shape must not change.")
    return got


def _shown(ctx: Context, shape: tuple[int, ...]) -> str:
    if ctx.A.channels_last and len(shape) == 4:
        shape = (shape[0], shape[2], shape[3], shape[1])
    return fmt_shape(shape)


def _axis_words(ctx: Context) -> str:
    return "the last axis, W of (N, C, H, W)" if ctx.framework == "torch" else \
        "axis 2, W of (N, H, W, C)"


def _flip_kinds(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Per image: 0 unchanged, 1 mirrored left-right, 2 upside down, 3 channels reversed,
    4 another image of the batch (or its mirror), 5 something else."""
    def same(a: np.ndarray) -> np.ndarray:
        return np.all(out == a, axis=(1, 2, 3))

    kinds = np.full(len(x), 5)
    for kind, ref in ((3, x[:, ::-1]), (2, x[:, :, ::-1]), (1, x[..., ::-1]), (0, x)):
        kinds[same(ref)] = kind
    lookup = {img.tobytes() for img in x} | {img[..., ::-1].tobytes() for img in x}
    for i in np.flatnonzero(kinds == 5):
        if out[i].tobytes() in lookup:
            kinds[i] = 4
    return kinds


def _flip(ctx: Context) -> str:
    rng = ctx.rng(11)
    gen = driver(ctx).generator(11)
    kinds = []
    for _ in range(4):
        x = _images(rng, 128)
        k = _flip_kinds(x, _augment(ctx, "random_flip", x, generator=gen))
        width = f" A horizontal flip reverses the width axis: {_axis_words(ctx)}."
        bad = {
            2: ("flipped upside down (along the height axis).", width),
            3: ("reversed along the channel axis.", width),
            4: ("moved to another place in the batch.", " Keep the images in order (no "
                "boolean-mask gather and concatenate), so each one still matches its label."),
            5: ("neither the input nor its mirror image.", " Each image must come back either "
                "unchanged or mirrored left-right, exactly."),
        }
        for kind, (words, hint) in bad.items():
            if np.any(k == kind):
                fail(f"Image {int(np.flatnonzero(k == kind)[0])} of a batch came back {words}{hint}")
        kinds.append(k)
    flipped = [bool(np.all(k == 1)) if np.all(k == k[0]) else None for k in kinds]
    if all(f is True for f in flipped) or all(f is False for f in flipped):
        what = "every image was flipped" if flipped[0] else "no image was ever flipped"
        fail(f"Over 4 batches of 128, {what}: flip each image with probability 1/2.")
    if all(f is not None for f in flipped):
        fail(
            "Each batch is flipped as a whole (all images or none): one random draw for the "
            "whole batch. Draw one decision per image."
        )
    share = float(np.mean(np.concatenate(kinds) == 1))
    if not 0.4 <= share <= 0.6:
        fail(f"{share:.0%} of 512 images were flipped; each must be flipped with probability 1/2.")
    return f"Each image is mirrored along W or left as is, independently; {share:.0%} of 512 flipped."


def _windows(x: np.ndarray, out: np.ndarray, padded: np.ndarray) -> np.ndarray:
    """match[i, dy, dx]: out[i] is the window of padded[i] at offset (dy, dx)."""
    h, w = x.shape[2:]
    size = padded.shape[2] - h + 1
    match = np.zeros((len(x), size, size), bool)
    for dy in range(size):
        for dx in range(size):
            match[:, dy, dx] = np.all(out == padded[:, :, dy:dy + h, dx:dx + w], axis=(1, 2, 3))
    return match


def _crop(ctx: Context) -> str:
    p = 3
    rng = ctx.rng(12)
    x = _images(rng, 350)
    out = _augment(ctx, "random_crop", x, p, seed=4)
    pad = ((0, 0), (0, 0), (p, p), (p, p))
    match = _windows(x, out, np.pad(x, pad))
    found = match.reshape(len(x), -1).any(axis=1)
    if not found.all():
        i = int(np.flatnonzero(~found)[0])
        xi = x[i:i + 1]
        padded = [(f"'{mode}'", lambda mode=mode: np.pad(xi, pad, mode=mode))
                  for mode in ("reflect", "edge", "symmetric", "wrap")]
        mistake = name_mistake(out[i:i + 1], [*padded, ("mirrored", lambda: np.pad(xi[..., ::-1], pad))],
                               same=lambda got, ref: bool(_windows(xi, got, ref).any()))
        if mistake == "mirrored":
            fail(f"Image {i} is a mirrored window: random_crop must only crop, not flip.")
        if mistake:
            fail(f"Image {i} is a window of the image padded in {mistake} mode; the padding "
                 "must be zeros (torch F.pad's default, keras.ops.pad's default).")
        fail(
            f"Image {i} of the batch is no {x.shape[2]}x{x.shape[3]} window of the image "
            f"zero-padded by {p} on each side. Pad first, then cut each image's window at "
            f"row and column offsets between 0 and 2*padding = {2 * p}."
        )
    dy = match.any(axis=2).argmax(axis=1)
    dx = match.any(axis=1).argmax(axis=1)
    if np.all(dy == dy[0]) and np.all(dx == dx[0]):
        fail(f"All 350 images were cut at the same offset ({dy[0]}, {dx[0]}): one random "
             "window for the whole batch. Draw the offsets per image.")
    want = set(range(2 * p + 1))
    for axis, offsets in (("row", dy), ("column", dx)):
        seen = set(offsets.tolist())
        if seen != want:
            missing = sorted(want - seen)
            hint = (f" Offsets never exceed {p}: draw them from 0..2*padding, not 0..padding."
                    if max(seen) <= p else
                    f" The largest offset, 2*padding = {2 * p}, never occurs: randint's upper "
                    "bound is exclusive, so it must be 2*padding + 1." if missing == [2 * p] else
                    f" Offsets {missing} never occur.")
            fail(f"With padding={p}, the {axis} offsets of 350 crops were only {sorted(seen)}; "
                 f"every offset 0..{2 * p} must be possible.{hint}")
        counts = np.bincount(offsets, minlength=2 * p + 1)
        if counts.min() < 0.5 * len(x) / (2 * p + 1):
            fail(f"The {axis} offsets are far from uniform over 0..{2 * p} (counts "
                 f"{counts.tolist()} in 350 crops).")
    if not np.array_equal(_augment(ctx, "random_crop", x, 0, seed=3), x):
        fail("random_crop(images, 0, generator) must return the images unchanged: with no "
             "padding the only window is the image itself.")
    return (f"Every crop is a window of the zero-padded image; offsets cover 0..{2 * p} in both "
            "axes, drawn per image.")


def _seeding(ctx: Context) -> str:
    A, drv = ctx.A, driver(ctx)
    x = _images(ctx.rng(13), 64)
    calls = {"random_flip": (), "random_crop": (2,)}
    for name, args in calls.items():
        A.reset(1)
        a = _augment(ctx, name, x, *args, seed=7)
        A.reset(2)
        b = _augment(ctx, name, x, *args, seed=7)
        if not np.array_equal(a, b):
            fail(f"`{name}` with two generators seeded alike gave different results after the "
                 "global random seed changed: draw every random number from the generator "
                 f"you are given, {drv.generator_words}, not from the global state.")
        if np.array_equal(a, _augment(ctx, name, x, *args, seed=8)):
            fail(f"`{name}` gives the same result for generators seeded 7 and 8: it ignores "
                 "the generator it is given.")
        gen = drv.generator(9)
        if np.array_equal(_augment(ctx, name, x, *args, generator=gen),
                          _augment(ctx, name, x, *args, generator=gen)):
            fail(f"Two calls of `{name}` with the same generator gave the same result: each "
                 "call must advance the generator (do not re-seed a new one inside).")
    return "Both functions draw only from the generator they are given, and advance it."


# -- fit ----------------------------------------------------------------------


def _task(spec: LoopSpec, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if name in SCRIPTED:  # any images: the model ignores them in inference mode
        rng = np.random.default_rng(33)
        x = rng.normal(0, 1, (spec.n_scripted + spec.n_scripted_val, 3, 8, 8)).astype(np.float32)
        y = rng.integers(0, 4, spec.n_scripted)
        return (x[: spec.n_scripted], y, x[spec.n_scripted :],
                np.zeros(spec.n_scripted_val, np.int64))
    if name == "learn":
        x, y = D.patterns(spec.n_train + spec.n_val, 16, 3, seed=31)
        return x[: spec.n_train], y[: spec.n_train], x[spec.n_train :], y[spec.n_train :]
    # Validation labels shifted by one class: the better the model fits its training
    # labels, the higher the validation loss, so the best epoch comes early.
    x, y = D.patterns(2 * spec.n_small, 16, 3, seed=32)
    return x[: spec.n_small], y[: spec.n_small], x[spec.n_small :], (y[spec.n_small :] + 1) % 4


RUNS = {
    "learn": ("a seeded pattern task", lambda s: (s.epochs, s.patience)),
    "stop": ("a task whose validation loss rises once training starts",
             lambda s: (s.stop_epochs, s.stop_patience)),
    "recover": ("a model whose validation loss falls, rises, recovers and ties its best",
                lambda s: (len(s.recover), s.recover_patience)),
    "short": ("a model whose validation loss falls, rises and recovers, with too few epochs "
              "for early stopping", lambda s: (len(s.short), s.short_patience)),
}
SCRIPTED = {"recover": lambda s: s.recover, "short": lambda s: s.short}


def _logit(loss: float) -> float:
    """The logit z of class 0 (the others 0) whose cross-entropy for label 0 is `loss`."""
    return -math.log((math.exp(loss) - 1.0) / 3.0)


def _history(history: Any, epochs: int) -> dict[str, list[float]]:
    keys = ("loss", "val_loss", "val_accuracy")
    if not isinstance(history, dict) or any(k not in history for k in keys):
        fail(f"fit must return a dict with the keys {', '.join(keys)} (one value per epoch run); "
             f"it returned {type(history).__name__}"
             + (f" with keys {sorted(history)}" if isinstance(history, dict) else "") + ".")
    try:
        clean = {k: [float(v) for v in history[k]] for k in keys}
    except (TypeError, ValueError):
        fail("The history's values must be numbers (use loss.item() for a tensor).")
    lengths = {len(v) for v in clean.values()}
    if len(lengths) != 1 or not 1 <= lengths.pop() <= epochs:
        fail(f"The history's lists must have one entry per epoch run (1 to {epochs}); their "
             f"lengths are {[len(v) for v in clean.values()]}.")
    if not all(math.isfinite(v) for v in clean["val_loss"]):
        fail("The validation loss in the history is not finite.")
    return clean


def _fit_run(ctx: Context, spec: LoopSpec, name: str) -> FitRun:
    """Run the learner's fit on one of the grader's setups, once per grading run."""
    key = f"fit_{name}"
    found = ctx.store.get(key)
    if isinstance(found, CheckFailed):
        raise found
    if isinstance(found, BaseException):
        fail(f"fit raised {type(found).__name__} on {RUNS[name][0]}: the traceback is under "
             "the first check that ran it.")
    if found is not None:
        return found
    try:
        ctx.store[key] = _fit_once(ctx, spec, name)
    except BaseException as exc:  # reported here in full, by later checks in one line
        ctx.store[key] = exc
        raise
    return ctx.store[key]


def _fit_once(ctx: Context, spec: LoopSpec, name: str) -> FitRun:
    drv = driver(ctx)
    what, numbers = RUNS[name]
    epochs, patience = numbers(spec)
    xtr, ytr, xva, yva = _task(spec, name)
    ctx.A.reset(5)
    counts = dict.fromkeys(COUNTS, 0)
    script = tuple(SCRIPTED[name](spec)) if name in SCRIPTED else ()
    if script:  # index 0: before any training; then one entry per epoch
        model = drv.scripted(np.array([_logit(1.5)] + [_logit(v) for v in script]))
    else:
        model = drv.model(ctx, counts, epochs * len(xtr))
    args = (model, drv.data(xtr, ytr), drv.data(xva, yva))
    # the scripted runs leave lr, batch_size, padding and seed at fit's defaults
    kwargs = dict(epochs=epochs, patience=patience) if script else dict(
        epochs=epochs, patience=patience, lr=spec.lr, batch_size=spec.batch,
        padding=spec.padding, seed=3)
    require(ctx, "fit", "function", FIT_CALL, args, kwargs)
    start = time.perf_counter()
    history = call(ctx, "fit", *args, case=f"on {what} (epochs={epochs}, patience={patience})",
                   **kwargs)
    seconds = time.perf_counter() - start
    if ctx.framework == "tf" and not script:
        drv.read(counts)
    counts = dict(counts)  # before the grader's own evaluation passes through the probe
    held = drv.epochs_held(model) if script else (0, 0)
    seen = drv.defaults_seen(model) if script else ()
    trace = None if script else drv.read_trace()
    loss, acc = drv.evaluate(model, xva, yva)
    return FitRun(_history(history, epochs), counts, epochs, patience, len(xtr), len(xva),
                  loss, acc, what, seconds, script, held, trace, seen)


def _training(spec: LoopSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        r = _fit_run(ctx, spec, "learn")
        h = r.history
        ctx.details.update(loss_curve=curve(h["loss"]), accuracy=round(r.val_accuracy, 4),
                           target=spec.target, epochs=len(h["loss"]),
                           train_seconds=round(r.seconds, 2))
        if r.val_accuracy < spec.target:
            fail(
                f"After fit ({len(h['loss'])} epochs, lr={spec.lr:g}, batch {spec.batch}) the "
                f"model reaches {r.val_accuracy:.1%} validation accuracy; the check needs "
                f"{spec.target:.0%}. Training loss per epoch: "
                + ", ".join(f"{v:.3f}" for v in h["loss"]) + "."
            )
        return (f"fit reached {r.val_accuracy:.1%} validation accuracy (needs {spec.target:.0%}) "
                f"in {len(h['loss'])} epochs, {r.seconds:.1f} s.")

    return run


def _modes(spec: LoopSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        drv = driver(ctx)
        r = _fit_run(ctx, spec, "learn")
        c, e = r.counts, len(r.history["val_loss"])
        ctx.details.update(counts=c, epochs=e)
        want_train, want_eval = e * r.n_train, e * r.n_val
        if c["train"] == 0:
            fail(f"The model never ran in training mode: train each batch after "
                 f"{drv.train_words}, or BatchNorm never learns batch statistics.")
        if c["train"] < want_train and c["train"] % r.n_train == 0 and c["eval"] >= want_eval:
            fail(f"Only {c['train'] // r.n_train} of {e} epochs trained in training mode: after "
                 f"the first validation the model stayed in eval mode. Call "
                 f"{drv.train_words} at the start of every epoch.")
        if c["train"] > want_train:
            extra = (c["train"] - want_train) / e
            fail(f"Over {e} epochs, {c['train']} samples went through the model in training "
                 f"mode, {extra:.0f} per epoch more than the {r.n_train} training images. Is "
                 f"the validation set evaluated in training mode? Use {drv.eval_words}.")
        if c["train"] < want_train:
            fail(f"Over {e} epochs only {c['train']} training samples went through the model; "
                 f"every epoch must use each of the {r.n_train} training images once (keep the "
                 "last, smaller batch).")
        if c["eval"] < want_eval:
            fail(f"Only {c['eval']} samples were evaluated in inference mode over {e} epochs; "
                 f"evaluate all {r.n_val} validation images after every epoch with "
                 f"{drv.eval_words}.")
        share = c["train_border"] / c["train"]
        if share < 0.5:
            fail(f"Only {share:.0%} of the training images reached the model with a zero border "
                 f"from random_crop (padding {spec.padding}): fit must augment every training "
                 "batch with random_crop and random_flip.")
        if c["eval_border"]:
            fail(f"{c['eval_border']} validation images were cropped: evaluate on the raw "
                 "validation set, without augmentation.")
        _fresh_augmentation(r, e)
        scripted = _fit_run(ctx, spec, "recover")
        _defaults(scripted, scripted.history["val_loss"])
        return (f"{e} epochs: each trained on all {r.n_train} images, augmented ({share:.0%} "
                f"cropped off-centre), in training mode; validation in inference mode, raw. "
                f"With lr, batch_size and padding left out, fit uses 1e-3, 64 and 2.")

    return run


def _fresh_augmentation(r: FitRun, epochs: int) -> None:
    """The augmentation is drawn afresh for every batch, and per image within a batch."""
    t = r.trace
    if t is None or len(t["fingerprint"]) < 2 * r.n_train:
        return
    seen = np.round(t["fingerprint"].astype(np.float64), 3)
    repeated = 1.0 - len(np.unique(seen)) / len(seen)
    if repeated > 0.5:
        fail(f"Over {epochs} epochs, {repeated:.0%} of the training images reached the model "
             "exactly as they did in an earlier epoch: the augmentation was drawn once and "
             "reused (augmented before the loop, or the generator re-seeded every epoch). "
             "Draw it afresh for every batch, inside the loop: "
             "random_flip(random_crop(x[idx], padding, g), g) with one generator made before it.")
    crops, batch = t["crop"], t["batch"]
    whole = [bool(np.all(crops[batch == b] == crops[batch == b][0]))
             for b in np.unique(batch) if np.sum(batch == b) >= 8]
    if len(whole) >= 2 and all(whole):
        fail("In every training batch all images carried the same zero border: one crop "
             "offset for the whole batch. fit must crop each image at its own offset "
             "(random_crop draws one per image).")


def _best(values: list[float], strict: bool) -> int:
    best, at = math.inf, 0
    for i, v in enumerate(values):
        if v < best or (not strict and v <= best * (1 + 1e-6)):
            best, at = min(best, v), i
    return at


# the wrong stopping rules a learner writes, simulated on the validation losses
STOP_RULES = ("correct", "never", "first_bad", "no_reset", "ties", "previous", "late", "early")


def _simulate(values: list[float] | tuple[float, ...], patience: int, epochs: int,
              rule: str) -> tuple[int | None, int]:
    """(epochs run, the epoch of the last copy taken, counting from 1) under `rule`; epochs
    run is None when `values` ends before the rule would stop."""
    best = prev = math.inf
    wait, saved = 0, 1
    limit = {"late": patience + 1, "early": max(1, patience - 1), "first_bad": 1}.get(rule, patience)
    for e, v in enumerate(values[:epochs]):
        better = v <= best if rule == "ties" else v < prev if rule == "previous" else v < best
        prev = v
        if better:
            best, saved = (v if rule == "previous" else min(best, v)), e + 1
            if rule != "no_reset":
                wait = 0
            continue
        wait += 1
        if rule != "never" and wait >= limit:
            return e + 1, saved
    return (min(epochs, len(values)) if len(values) >= epochs else None), saved


def _stop_mistake(r: FitRun, h: list[float]) -> str:
    """What the stopping epoch says about the rule, in words; '' when no wrong rule explains it."""
    values = r.script or h
    stops = {rule: _simulate(values, r.patience, r.epochs, rule)[0] for rule in STOP_RULES}
    b = _best(h, True)
    explained = [rule for rule in STOP_RULES[1:] if stops[rule] == len(h)
                 and stops[rule] != stops["correct"]]
    if not explained:
        return ""
    rule = explained[0]
    if rule == "never":
        return (f"but it ran all {r.epochs} epochs: early stopping never fired. Count the epochs "
                "since the last improvement and stop when the count reaches patience.")
    if rule == "first_bad":
        return (f"but it stopped after epoch {len(h)}, the first epoch without improvement. "
                f"patience={r.patience} allows that many epochs in a row without a new best.")
    if rule == "no_reset":
        return (f"but it stopped after epoch {len(h)}: the count of epochs without improvement "
                "was not reset when an epoch brought a new best, so bad epochs from before it "
                "still counted. Set the count back to 0 at every improvement: only epochs in a "
                "row count.")
    if rule == "ties":
        ties = [i + 1 for i, v in enumerate(values[:len(h)]) if i > b and v == h[b]]
        tie = f"epoch {ties[0]}" if ties else "an epoch"
        return (f"but it stopped after epoch {len(h)}: {tie} only equalled the best "
                f"({h[b]:.3f}) and counted as an improvement. An epoch improves only if its "
                "val_loss is strictly lower than every earlier one (`<`, not `<=`).")
    if rule == "previous":
        return (f"but it stopped after epoch {len(h)}: each epoch was compared with the "
                "previous epoch, not with the best so far, so an epoch that only beat its "
                "predecessor reset the count. Keep the lowest val_loss seen and compare with it.")
    if rule == "late":
        return (f"but it stopped after epoch {len(h)} (one late: stop when the count reaches "
                "patience, not when it exceeds it).")
    return (f"but it stopped after epoch {len(h)} (one early: stop when `patience` epochs in a "
            "row have brought no new best, not one before).")


LN4 = math.log(4.0)  # the cross-entropy of all-zero logits over 4 classes


DEFAULTS = {"lr": 1e-3, "batch_size": 64, "padding": 2}  # fit's, as the statement fixes them


def _defaults(r: FitRun, h: list[float]) -> None:
    """A scripted run calls fit with lr, batch_size and padding left out: the model saw
    batches of at most 64, crops with a zero border of up to 2, and Adam steps of 1e-3."""
    largest, border, stepper = r.seen
    call = (f"On {r.what}, called as fit(model, train_data, val_data, epochs={r.epochs}, "
            f"patience={r.patience})")
    if largest != min(DEFAULTS["batch_size"], r.n_train):
        fail(f"{call}, the largest training batch had {largest} images: the default "
             f"batch_size is {DEFAULTS['batch_size']}.")
    if border != DEFAULTS["padding"]:
        fail(f"{call}, the training images' zero borders were at most {border} pixels wide; "
             f"with the default padding={DEFAULTS['padding']} some crops have a border of "
             f"{DEFAULTS['padding']}. Is the default padding in your signature 2?")
    # the probe moved once per step until the epoch the returned parameters come from (a
    # wrong restore is named by best_weights, so this counts the epoch actually held)
    epoch = r.held[0]
    steps = -(-r.n_train // DEFAULTS["batch_size"]) * epoch
    lr = -stepper / steps if steps else DEFAULTS["lr"]
    if not math.isclose(lr, DEFAULTS["lr"], rel_tol=1e-3):
        fail(f"{call}, each Adam step moved the grader's probe parameter (gradient 1) by "
             f"{lr:.4g}, so the optimizer ran at learning rate {lr:.4g}; the default lr is "
             f"{DEFAULTS['lr']:g}.")


def _recorded_script(r: FitRun, h: list[float]) -> None:
    """On a scripted run, the history must hold the model's validation losses, its training
    loss (the model outputs zeros in training: ln 4 for every batch) and its validation
    accuracy (every validation image is right: 1.0)."""
    def shown(values: list[float]) -> str:
        return ", ".join(f"{v:.3f}" for v in values)

    train = r.history["loss"]
    if not all(abs(v - LN4) <= 1e-4 for v in train):
        fail(f"On {r.what}, the grader's model outputs zeros in training mode, so every "
             f"training batch's cross-entropy is ln 4 = {LN4:.3f}, and so is the mean over an "
             f"epoch; but the history's `loss` holds {shown(train)}. Record the mean of the "
             "epoch's batch losses (sum of the batch losses / number of batches, or the mean "
             "over all training images).")
    accuracy = r.history["val_accuracy"]
    if not all(abs(v - 1.0) <= 1e-6 for v in accuracy):
        fail(f"On {r.what}, the grader's model gets every validation image right after every "
             f"epoch (accuracy 1.0), but the history's `val_accuracy` holds {shown(accuracy)}. "
             "val_accuracy is the fraction of validation images whose highest logit is their "
             "label: count argmax(logits) == y over all of them, divide by their number.")
    want = r.script[: len(h)]
    if all(abs(a - b) <= 1e-4 * max(1.0, abs(b)) for a, b in zip(h, want, strict=True)):
        return
    fail(f"On {r.what}, the grader's model has validation loss "
         + ", ".join(f"{v:.3f}" for v in want) + " after each epoch, but the history holds "
         + ", ".join(f"{v:.3f}" for v in h) + ". Evaluate the whole validation set once after "
         "each epoch's training, in inference mode, and record the mean cross-entropy.")


def _early_stopping(spec: LoopSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        for name in ("recover", "stop", "learn"):
            r = _fit_run(ctx, spec, name)
            h = r.history["val_loss"]
            if r.script:
                _recorded_script(r, h)
            trained = r.counts["train"] / r.n_train
            if not r.script and r.counts["train"] % r.n_train == 0 and trained != len(h):
                fail(f"On {r.what}, the model trained {trained:.0f} epochs but the history has "
                     f"{len(h)} entries: one per epoch run.")
            stricts = (True,) if r.script else (True, False)
            allowed = {min(r.epochs, _best(h, strict) + 1 + r.patience) for strict in stricts}
            b = _best(h, True)
            losses = ", ".join(f"{v:.3f}" for v in h)
            ctx.details.update(val_loss=[round(v, 5) for v in h], patience=r.patience)
            if len(h) in allowed:
                continue
            setting = (f"On {r.what} (epochs={r.epochs}, patience={r.patience}), the validation "
                       f"losses were {losses}: the best is epoch {b + 1}, so training must stop "
                       f"after epoch {min(allowed)}, ")
            words = _stop_mistake(r, h)
            if words:
                fail(setting + words)
            late = len(h) > min(allowed)
            fail(setting + f"but it stopped after epoch {len(h)}"
                 + (" (too late)." if late else " (too early)."))
        r = ctx.store["fit_recover"]
        return (f"Stops exactly `patience` epochs after the best one (after epoch "
                f"{len(r.history['val_loss'])} of {r.epochs} on validation losses that fall, "
                "rise, recover and tie; on a rising one; on a real run).")

    return run


def _restore_fix(ctx: Context) -> str:
    return ("`model.state_dict()` returns the live tensors, so keep a copy "
            "(copy.deepcopy, or {k: v.clone()}) and load_state_dict it at the end"
            if ctx.framework == "torch" else
            "keep `model.get_weights()` of the best epoch and `model.set_weights()` "
            "it at the end (keras.callbacks.EarlyStopping needs "
            "restore_best_weights=True)")


def _scripted_weights(ctx: Context, r: FitRun, h: list[float]) -> None:
    """On a scripted run the model tells which epoch its parameters and its buffers come from."""
    b = _best(h, True) + 1
    params, state = r.held
    if (params, state) == (b, b):
        return
    start = (f"On {r.what} (validation losses {', '.join(f'{v:.3f}' for v in h)}), the best "
             f"epoch is {b}, but the model fit returned holds ")
    if params == b:
        rest = ("`model.state_dict()` (parameters and buffers), not just the parameters"
                if ctx.framework == "torch" else
                "`model.get_weights()` (all of `model.weights`), not just the trainable ones")
        fail(start + f"epoch {b}'s parameters with epoch {state}'s buffers: only the parameters "
             "were restored, so in a real network BatchNorm's running statistics stay as the "
             f"last epoch left them. Copy everything the model holds: {rest}.")
    last = len(h)
    ties = [e for e in range(b + 1, last + 1) if h[e - 1] == h[b - 1]]
    _, previous = _simulate(h, r.patience, r.epochs, "previous")
    if params == last and state == last:
        fail(start + f"the last epoch's weights (epoch {last}). Restore the best epoch's, "
             f"whether or not early stopping fired: {_restore_fix(ctx)}.")
    if ties and params == ties[-1]:
        fail(start + f"epoch {params}'s weights, an epoch that only equalled the best "
             f"({h[b - 1]:.3f}): keep a copy only when val_loss is strictly lower than every "
             "earlier one (`<`, not `<=`).")
    if params == previous:
        fail(start + f"epoch {params}'s weights: it beat the epoch before it but not the best "
             "epoch. The copy was taken on a comparison with the previous epoch, not with the "
             "best so far: compare with the lowest val_loss seen before keeping a copy.")
    fail(start + f"epoch {params}'s weights. Remember the weights whenever the validation loss "
         "reaches a new minimum, and restore those.")


def _best_weights(spec: LoopSpec) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        for name in ("recover", "short", "stop", "learn"):
            r = _fit_run(ctx, spec, name)
            h = r.history["val_loss"]
            if r.script:
                _recorded_script(r, h)
                _scripted_weights(ctx, r, h)
            b = _best(h, True)

            def same(v: float, ref: float) -> bool:
                return abs(v - ref) <= 1e-4 * max(1.0, abs(ref))

            if same(r.val_loss, h[b]):
                acc = r.history["val_accuracy"][b]
                if not r.script and abs(acc - r.val_accuracy) > 0.5 / r.n_val:
                    fail(f"On {r.what}, the model fit returned holds epoch {b + 1}'s weights, "
                         f"as it should, and the grader measures {r.val_accuracy:.4f} validation "
                         f"accuracy for it, but the history's `val_accuracy` for epoch {b + 1} is "
                         f"{acc:.4f}. val_accuracy is the fraction of all validation images whose "
                         "highest logit is their label (argmax(logits) == y, counted over every "
                         "batch, divided by the number of images).")
                continue
            start = (f"On {r.what}, the best validation loss was {h[b]:.4f} (epoch {b + 1} of "
                     f"{len(h)}), but the model fit returned has validation loss "
                     f"{r.val_loss:.4f}")
            match = [i for i, v in enumerate(h) if same(r.val_loss, v)]
            if match and match[-1] == len(h) - 1:
                fail(start + f": the last epoch's weights. Restore the best epoch's: "
                     f"{_restore_fix(ctx)}.")
            if match:
                fail(start + f": epoch {match[0] + 1}'s weights. Remember the weights whenever "
                     "the validation loss reaches a new minimum, and restore those.")
            fail(start + ", which matches no epoch. Restore everything the model holds, BN "
                 "running statistics included, exactly as they were at the best epoch "
                 "(and compute val_loss as the mean cross-entropy over all validation images).")
        return ("After fit the model holds the best epoch's weights and buffers: on scripted "
                "losses that fall, rise, recover and tie, with and without early stopping, and "
                "on real runs.")

    return run


def loop_checks(spec: LoopSpec) -> list[Check]:
    return [
        Check("api", "API: random_flip, random_crop, fit", _api, gate=True),
        Check("flip", "random_flip: mirror along W, per image, half the time", _flip,
              needs=("api",)),
        Check("crop", "random_crop: a window of the zero-padded image, per image", _crop,
              needs=("api",)),
        Check("seeding", "Randomness comes from the given generator", _seeding,
              needs=("flip", "crop")),
        Check("training", "fit learns a seeded task", _training(spec), needs=("api",)),
        Check("modes", "fit: train and eval modes, augmentation", _modes(spec)),
        Check("early_stopping", "Early stopping after `patience` epochs", _early_stopping(spec)),
        Check("best_weights", "The best epoch's weights are restored", _best_weights(spec)),
    ]


FIT_CALL = ("fit(model, train_data, val_data, epochs=epochs, patience=patience, lr=lr, "
            "batch_size=batch_size, padding=padding, seed=seed)")


def _api(ctx: Context) -> str:
    gen = "generator" if ctx.framework == "torch" else "seed"
    require(ctx, "random_flip", "function", f"random_flip(images, {gen})", (None, None))
    require(ctx, "random_crop", "function", f"random_crop(images, padding, {gen})", (None, 2, None))
    require(ctx, "fit", "function", FIT_CALL, (None, None, None),
            dict(epochs=1, patience=1, lr=1e-3, batch_size=64, padding=2, seed=0))
    return "Defines random_flip, random_crop and fit."


SPEC = LoopSpec()


def checks(framework: str) -> list[Check]:
    return loop_checks(SPEC)
