"""Calling the learner's repaired code: the shared `invoke`, with advice read off the exception."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resnet_kata.checks import CheckFailed, Context, fail
from resnet_kata.checks.calls import exception_text, invoke

Advice = Callable[[str], str]  # the exception as `reason` gives it -> the likely mistake


def reason(exc: BaseException) -> str:
    """`Type: first line of the message`, without Keras' call wrapper or TF's op decoration."""
    lines = exception_text(exc).splitlines()
    first = lines[0].strip() if lines else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def attempt(ctx: Context, label: str, fn: Callable[..., Any], *args: Any, case: str,
            advice: Advice | None = None, **kwargs: Any) -> Any:
    """`invoke`, and when the call raised, the likely mistake that `advice` reads off the exception.

    NotImplementedError passes through: the worker reports an untouched TODO."""
    try:
        return invoke(ctx, label, fn, *args, case=case, **kwargs)
    except CheckFailed as failed:
        raised = failed.__context__  # invoke fails while it handles the learner's exception
        hint = advice(reason(raised)) if advice is not None and raised is not None else ""
        if not hint:
            raise
        fail(f"{failed.message} {hint}", **failed.details)
