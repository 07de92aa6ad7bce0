"""Which exercise and which framework a verb acts on: named, current, or the one started.

Shared by the command line and the Python API, so both choose alike.
"""

from __future__ import annotations

from . import catalog, frameworks
from . import workspace as ws
from .catalog import Exercise, UnknownExercise


class UsageError(Exception):
    """A request the kit cannot act on, said in one clear line (the CLI's exit code 2)."""


def resolve(name: str) -> Exercise:
    try:
        return catalog.resolve(name)
    except UnknownExercise as exc:
        raise UsageError(str(exc) + " Run `resnet-kata list` to see them all.") from exc


def framework(ex: Exercise, requested: str | None, space: ws.Workspace | None) -> str:
    """The requested framework, else the current one, the one started, the first installed."""
    if requested:
        if requested not in ex.frameworks:
            raise UsageError(f"{ex.id} has no {requested} version (it has: {', '.join(ex.frameworks)}).")
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
        raise UsageError(
            f"{frameworks.LABELS[fw]} is not installed. Install it with:\n  "
            f"{frameworks.install_command(fw)}"
        )


def current(space: ws.Workspace, name: str | None) -> Exercise:
    """The named exercise, else the current one."""
    if name:
        return resolve(name)
    cur = space.current()
    if not cur:
        first = catalog.exercises()[0].id
        raise UsageError(f"No current exercise. Start one first: resnet-kata start {first}")
    return resolve(cur[0])
