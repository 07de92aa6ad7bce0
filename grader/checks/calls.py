"""Calling the learner's code from a check, reading what it returned, and saying what went
wrong in it.

The one place that turns an exception raised by learner code into a sentence:
the worker uses it for the whole file, checks use it for each call they make.
Nothing here imports a framework.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..i18n import _
from . import Context, fail, fmt_shape

# The package name prefix under which the worker loads an exercise folder.
EXERCISE_PACKAGE_PREFIX = "resnet_kata_exercise_"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# TensorFlow op errors: "{{function_node __wrapped__AddV2_device_/job:...}} <message> [Op:AddV2] name: "
_TF_OP_PREFIX = re.compile(r"^\{\{function_node [^}]*\}\}\s*")
_TF_OP_SUFFIX = re.compile(r"\s*\[Op:(\w+)\](?: name:.*)?$")


def exception_text(exc: BaseException) -> str:
    """The exception's own message, without Keras' call wrapper or colour codes."""
    text = _ANSI.sub("", str(exc)).strip()
    if text.startswith("Exception encountered when calling"):
        # Keras: "Exception encountered when calling X.call().\n\n<original>\n\nArguments..."
        parts = [p.strip() for p in text.split("\n\n")]
        inner = [p for p in parts[1:] if not p.startswith("Arguments received")]
        text = inner[0] if inner else parts[0]
    text = _TF_OP_PREFIX.sub("", text)
    return _TF_OP_SUFFIX.sub(lambda m: _(" (in the TensorFlow op {op})").format(op=m.group(1)), text)


def _kit_folders() -> set[Path]:
    """The folders of the exercise packages loaded in this process (their modules are the
    kit's, even when a stub is graded where it sits, beside them)."""
    found = set()
    for name, module in list(sys.modules.items()):
        if name.startswith(EXERCISE_PACKAGE_PREFIX):
            found.update(Path(p).resolve() for p in getattr(module, "__path__", None) or ())
    return found


def learner_frames(exc: BaseException, impl: Path) -> str:
    """The traceback reduced to the frames in the learner's own files (its folder)."""
    impl = impl.resolve()
    kit = _kit_folders()
    frames = []
    for fr in traceback.extract_tb(exc.__traceback__):
        if not fr.filename or fr.filename.startswith("<"):  # <frozen ...>, <string>
            continue
        path = Path(fr.filename).resolve()
        if path == impl or (path.parent == impl.parent and path.parent not in kit):
            where = f"  {path.name}, line {fr.lineno}, in {fr.name}"
            frames.append(where + (f"\n    {fr.line.strip()}" if fr.line else ""))
    return "\n".join(frames)


_ADD_MISMATCH = re.compile(
    r"Incompatible shapes|must match the size of tensor|operands could not be broadcast together"
)


def shape_hint(exc: BaseException, frames: str) -> str:
    """A sentence for the commonest crash of a residual network: two tensors of different
    shapes added together (the shortcut was not brought to the branch's shape)."""
    last_line = frames.strip().splitlines()[-1] if frames.strip() else ""
    if _ADD_MISMATCH.search(str(exc)) and "+" in last_line:
        return "\n" + _("The two sides of that addition have different shapes. When a block changes "
                         "the stride or the number of channels, the shortcut must be projected "
                         "(`downsample`) before it is added.")
    return ""


def describe_exception(exc: BaseException, impl: Path) -> str:
    """`Type: message`, the learner's frames under it, and a hint for a shape mismatch."""
    head = f"{type(exc).__name__}: {exception_text(exc)}".rstrip(": ")
    frames = learner_frames(exc, impl)
    return (f"{head}\n{frames}" if frames else head) + shape_hint(exc, frames)


def where(exc: BaseException, module: ModuleType) -> str:
    """` (your file, line N: `code`)` for the last line of the learner's file in the traceback."""
    path = Path(getattr(module, "__file__", "") or "").resolve()
    found = [
        fr for fr in traceback.extract_tb(exc.__traceback__)
        if fr.filename and Path(fr.filename).resolve() == path
    ]
    if not found:
        return ""
    fr = found[-1]
    return _(" (your file, line {line}: `{code}`)").format(line=fr.lineno, code=(fr.line or "").strip())


def invoke(ctx: Context, label: str, fn: Callable[..., Any], *args: Any, case: str,
           advice: str = "", **kwargs: Any) -> Any:
    """Call the learner's code; an exception becomes a failure that names the input.

    NotImplementedError passes through: the worker reports an untouched TODO itself.
    """
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the learner's code may raise anything
        fail(
            _("`{label}` raised {type}: {message}{where} {case}.").format(
                label=label, type=type(exc).__name__, message=exception_text(exc),
                where=where(exc, ctx.module), case=case) + (f" {advice}" if advice else "")
        )


def call(ctx: Context, name: str, *args: Any, case: str, advice: str = "", **kwargs: Any) -> Any:
    """Call the learner's top-level function `name` (see `invoke`)."""
    return invoke(ctx, name, ctx.get(name, "function"), *args, case=case, advice=advice, **kwargs)


def require(ctx: Context, name: str, what: str, example: str,
            args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> Callable[..., Any]:
    """A callable the learner must define that accepts the documented call `example`."""
    fn = ctx.get(name, what)
    if not callable(fn):
        fail(_("`{name}` must be a {what}; it is a {type}.").format(
            name=name, what=what, type=type(fn).__name__))
    with contextlib.suppress(TypeError, ValueError):  # builtins may have no signature
        sig = inspect.signature(fn)
        try:
            sig.bind(*args, **dict(kwargs or {}))
        except TypeError as exc:
            fail(_("`{name}{sig}` cannot be called as `{example}`: {error}.").format(
                name=name, sig=sig, example=example, error=exc))
    return fn


@contextlib.contextmanager
def watch_library(library: Mapping[str, Any], modules: Sequence[ModuleType]) -> Iterator[list[str]]:
    """Swap library functions for recorders that still call through; yield the calls.

    `library` maps the public name ("torch.nn.utils.clip_grad_norm_") to the function.
    Every attribute of `modules` holding one of those objects is swapped: the
    public modules, the module that defines them (so a library function reached
    some other way still calls a watched helper) and the learner's own module
    (which may have bound the name with `from ... import`).
    """
    calls: list[str] = []
    names = {id(fn): public for public, fn in library.items()}

    def recorder(fn: Any, public: str) -> Any:
        @functools.wraps(fn)
        def watched(*args: Any, **kwargs: Any) -> Any:
            calls.append(public)
            return fn(*args, **kwargs)

        return watched

    swapped: list[tuple[ModuleType, str, Any]] = []
    try:
        for module in modules:
            for attr, value in list(vars(module).items()):
                if id(value) in names and callable(value):
                    setattr(module, attr, recorder(value, names[id(value)]))
                    swapped.append((module, attr, value))
        yield calls
    finally:
        for module, attr, value in reversed(swapped):
            setattr(module, attr, value)


def library_message(fn: str, calls: Sequence[str], advice: str = "") -> str:
    """The failure for a function the learner was asked to write but delegated to the library."""
    seen = list(dict.fromkeys(calls))
    return (
        _("Your `{fn}` calls {calls}. This exercise asks you to write it yourself (the grader "
          "compares you with that very function).").format(
            fn=fn, calls=_(", ").join(f"`{c}`" for c in seen)) + (f" {advice}" if advice else "")
    ).rstrip()


def returned_number(value: Any, fn: str, what: str) -> float:
    """A returned scalar (a 0-dim tensor, a numpy or Python number) as a float.

    `fn` names the learner's function and `what` the value it must return, for the failure.
    """
    if value is None:
        fail(_("`{fn}` returned None; it must return {what}.").format(fn=fn, what=what))
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy"):
        value = value.numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(_("`{fn}` returned a {type}; it must return {what}.").format(
            fn=fn, type=type(value).__name__, what=what))
    if arr.size != 1:
        fail(
            _("`{fn}` returned {n} numbers (shape {shape}); it must return one: {what}.").format(
                fn=fn, n=arr.size, shape=fmt_shape(arr.shape), what=what)
        )
    return float(arr.reshape(()))
