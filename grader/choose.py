"""Which exercise and which framework a verb acts on: named, current, or the one started.

Shared by the command line and the Python API, so both choose alike.
"""

from __future__ import annotations

from . import catalog, frameworks
from . import workspace as ws
from .catalog import Exercise, UnknownExercise
from .i18n import _


class UsageError(Exception):
    """A request the kit cannot act on, said in one clear line (the CLI's exit code 2)."""


def resolve(name: str) -> Exercise:
    try:
        return catalog.resolve(name)
    except UnknownExercise as exc:
        raise UsageError(_("{error} Run `resnet-kata list` to see them all.").format(error=exc)) from exc


def framework(ex: Exercise, requested: str | None, space: ws.Workspace | None) -> str:
    """The requested framework, else the current one, the one started, the first installed."""
    if requested:
        if requested not in ex.frameworks:
            raise UsageError(_("{id} has no {framework} version (it has: {names}).").format(
                id=ex.id, framework=requested, names=", ".join(ex.frameworks)))
        return requested
    if space is not None:
        cur = space.current()
        if cur and cur[1] in ex.frameworks:
            return cur[1]
        started = [f for f in ex.frameworks if space.file(ex, f).exists()]
        if len(started) == 1:
            return started[0]
    for fw in ex.frameworks:
        if fw == "numpy" or frameworks.is_installed(fw):
            return fw
    return ex.frameworks[0]


def require_framework(fw: str) -> None:
    if fw != "numpy" and not frameworks.is_installed(fw):
        raise UsageError(_("{framework} is not installed. Install it with:\n  {command}").format(
            framework=frameworks.LABELS[fw], command=frameworks.install_command(fw)))


def current(space: ws.Workspace, name: str | None) -> Exercise:
    """The named exercise, else the current one."""
    if name:
        return resolve(name)
    cur = space.current()
    if not cur:
        first = catalog.exercises()[0].id
        raise UsageError(_("No current exercise. Start one first: resnet-kata start {id}").format(
            id=first))
    return resolve(cur[0])
