"""The Python API: grade from a script or a notebook with the same isolated grader as the CLI.

    import resnet_kata
    result = resnet_kata.check("01", source=my_code)   # or impl="path.py", or your workspace file
    result.passed, result.status, result.checks, result.to_dict()

Grading runs in a separate process with the exercise's time limit, never in the caller's
own interpreter (or notebook kernel). Passes, attempts and hint levels go to the same
workspace state as the CLI's (`RESNET_KATA_WORKSPACE`, or `workspace=`). A spare worker
is kept ready for the framework last used, so the next check skips the framework's import.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import i18n, report, runner
from . import workspace as ws
from .choose import UsageError, current, require_framework, resolve
from .choose import framework as choose_framework
from .i18n import _
from .record import Record, Status

_spares: runner.SparePool | None = None


try:  # a notebook speaks the language of $RESNET_KATA_LANG or the locale, as the CLI does
    i18n.set_language(i18n.detect())
except i18n.LanguageError:
    i18n.set_language("en")


def language(lang: str | None = None) -> str:
    """The language the kit speaks ('en' or 'zh'); with `lang`, switch to it first."""
    if lang is not None:
        i18n.set_language(i18n.detect(lang))
    return i18n.language()


def _pool() -> runner.SparePool:
    global _spares
    if _spares is None:
        _spares = runner.SparePool()
        atexit.register(_spares.close)
    return _spares


@dataclass(frozen=True)
class CheckView:
    name: str
    status: str
    message: str
    seconds: float


class Result:
    """One grading run: `.passed`, `.status`, `.checks`, `.to_dict()` (the JSON record)."""

    def __init__(self, record: Record):
        self.record = record

    @property
    def passed(self) -> bool:
        return self.record.passed

    @property
    def status(self) -> str:
        return str(self.record.status)

    @property
    def checks(self) -> list[CheckView]:
        return [CheckView(c.name, str(c.status), c.message, c.seconds) for c in self.record.checks]

    @property
    def message(self) -> str:
        """What happened to the whole run, when it did not get through its checks."""
        return self.record.message

    def to_dict(self) -> dict[str, Any]:
        return self.record.to_dict()

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        r = self.record
        lines = [f"<Result {r.exercise} · {r.framework}: {str(r.status).upper()}"
                 + (f" ({r.error_kind})" if r.error_kind else "") + ">"]
        marks = {Status.PASS: "✓", Status.FAIL: "✗", Status.ERROR: "!", Status.SKIP: "-"}
        for c in r.checks:
            first = c.message.splitlines()[0] if c.message else ""
            lines.append(f"  {marks.get(c.status, '?')} {c.name}: {first}")
        if r.error_kind:
            lines.append("  " + r.message.splitlines()[0] if r.message else "")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return report.to_html(self.record)


def _space(workspace: str | Path | None) -> ws.Workspace:
    space = ws.Workspace(ws.locate(workspace))
    space.check_usable()
    return space


def check(exercise: str | None = None, *, framework: str | None = None, impl: str | Path | None = None,
          source: str | None = None, device: str = "auto", timeout: float | None = None,
          only: list[str] | None = None, on_event: Callable[[dict[str, Any]], None] | None = None,
          workspace: str | Path | None = None) -> Result:
    """Grade an exercise: `source=` a string of code, `impl=` a file, or your workspace file.

    A graded `source=` or workspace file counts as an attempt (and a pass) in the workspace
    state, as `resnet-kata check` does; `impl=` grades any file and records nothing.
    """
    if source is not None and impl is not None:
        raise UsageError("give source= or impl=, not both")
    space = _space(workspace)
    ex = current(space, exercise)
    fw = choose_framework(ex, framework, space)
    require_framework(fw)
    if source is not None:
        path = space.root / "notebooks" / ".cells" / ex.id / ex.files[fw]
        ws.atomic_write(path, source)
    elif impl is not None:
        path = Path(impl).expanduser().resolve()
        if not path.is_file():
            raise UsageError(f"impl={impl}: no such file")
    else:
        path = space.file(ex, fw)
        if not path.is_file():
            raise UsageError(f"You have not started {ex.id} in {fw} yet: resnet_kata.start({ex.id!r})")
    pool = _pool()
    record = runner.run_check(ex, fw, path, device, timeout, only, on_event, spares=pool)
    if impl is None and not record.error_kind.is_kit:
        space.record_result(ex.id, fw, record.passed and not only)
    return Result(record)


def hint(exercise: str | None = None, *, workspace: str | Path | None = None) -> str:
    """The hints shown so far and the next one (the same level as `resnet-kata hint`)."""
    space = _space(workspace)
    ex = current(space, exercise)
    level = space.hint_level(ex.id)
    if level < len(ex.hints):
        level = space.next_hint_level(ex.id, len(ex.hints))
    return "\n".join(_("Hint {k}/{n}: {hint}").format(k=i + 1, n=len(ex.hints), hint=ex.hints[i])
                     for i in range(max(level, 1)))


def start(exercise: str, framework: str | None = None, *, workspace: str | Path | None = None) -> Path:
    """Copy the stub into the workspace (never over your file); return its path."""
    space = _space(workspace)
    ex = resolve(exercise)
    fw = choose_framework(ex, framework, None)
    path, _ = space.start(ex, fw)
    space.set_current(ex.id, fw)
    return path


def statement(exercise: str) -> str:
    """The exercise's statement, as Markdown."""
    return resolve(exercise).statement.read_text(encoding="utf-8")


def docs(exercise: str) -> str:
    """The exercise's docs page (or a topic page by name), as Markdown."""
    from .catalog import kit_root

    docs = kit_root() / "docs"
    name = f"{exercise.removesuffix('.md')}.md"
    lang = i18n.language()
    page = docs / lang / name if lang != "en" and (docs / lang / name).is_file() else docs / name
    if not page.is_file():
        page = resolve(exercise).doc_path()
    return page.read_text(encoding="utf-8")
