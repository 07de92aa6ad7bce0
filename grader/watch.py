"""`resnet-kata watch`: re-check on every save, as fast as the framework allows.

File events come from `watchfiles` (inotify and its kin; `--poll` for file systems
without events). The folder is watched, not the file, so editors that save by
writing a new file and renaming it over the old one (vim) are seen like those that
truncate and write. A spare worker (`runner.SparePool`) has already imported the
framework when the save comes. In a terminal the screen is cleared between runs,
and after a pass the next exercise is offered, with keys: n next, h hint, q quit.
Without one (output piped, no standard input) it re-checks on every save, nothing more.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from . import catalog
from . import workspace as ws
from .catalog import Exercise
from .i18n import _
from .runner import SparePool

DEBOUNCE_MS = 400  # group the several events of one save
STEP_MS = 30       # a save's events are over when none came for this long
TICK_MS = 100      # how often keys are read while waiting for a save


@dataclass
class Target:
    exercise: Exercise
    framework: str
    path: Path


@contextlib.contextmanager
def keys(enabled: bool) -> Iterator[Callable[[], str]]:
    """A function returning the key pressed since the last call ('' for none); the terminal is
    in cbreak mode meanwhile (keys arrive without Enter, nothing is echoed)."""
    if not enabled:
        yield lambda: ""
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def read() -> str:
        if select.select([fd], [], [], 0)[0]:
            return os.read(fd, 1).decode("utf-8", "replace").lower()
        return ""

    try:
        yield read
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def next_unpassed(space: ws.Workspace, after: Exercise, framework: str) -> Target | None:
    """The first exercise after `after` (then from the start) not passed in a framework it has."""
    items = list(catalog.exercises())
    start = next((i for i, e in enumerate(items) if e.id == after.id), -1) + 1
    for ex in items[start:] + items[:start]:
        if ex.id == after.id:
            continue
        fw = framework if framework in ex.frameworks else ex.frameworks[0]
        if not space.passed(ex.id, fw):
            return Target(ex, fw, space.file(ex, fw))
    return None


def stamp(path: Path) -> tuple[int, int, int] | None:
    """What identifies a version of the file (inode, size, mtime), or None when it is absent.

    Compared at every tick as well as on file events, so a save made before the watcher
    was up (or an event the file system never sent) is not missed.
    """
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def settled(path: Path, pause: float = 0.01, tries: int = 50) -> tuple[int, int, int] | None:
    """The file's stamp once it stopped changing: a tick that falls inside a save (between
    the truncate and the write) would otherwise grade one save twice."""
    seen = stamp(path)
    for _try in range(tries):
        time.sleep(pause)
        now = stamp(path)
        if now == seen:
            break
        seen = now
    return seen


def watch(target: Target, space: ws.Workspace, console: Console,
          check: Callable[[Target, SparePool], int], hint: Callable[[Exercise], None],
          poll: bool = False, poll_ms: int = 300, once: bool = False,
          interactive: bool | None = None) -> int:
    """Run `check` now and after every save of the target's file; return its last exit code."""
    import watchfiles

    interactive = (sys.stdin.isatty() and console.is_terminal) if interactive is None else interactive
    code = 1
    with SparePool() as spares, keys(interactive) as read_key:
        spares.warm_for(target.exercise, target.framework)
        offer: Target | None = None

        def run() -> int:
            nonlocal offer
            if interactive:
                console.clear()
            console.rule(f"{target.exercise.id} · {time.strftime('%H:%M:%S')}")
            result = check(target, spares)
            offer = next_unpassed(space, target.exercise, target.framework) if result == 0 else None
            if offer and interactive:
                console.print(_("[bold green]Passed.[/] Next: [bold]{id}[/] ({title}).  [bold]n[/] "
                                "start it and keep watching · [bold]h[/] hint · [bold]q[/] quit")
                              .format(id=offer.exercise.id, title=offer.exercise.title))
            elif offer:
                console.print(_("Passed. Next: resnet-kata start {id}").format(id=offer.exercise.id))
            if interactive:
                console.print(_("[dim]Watching {path} (Ctrl-C to stop)  n next · h hint · q quit[/]")
                              .format(path=target.path))
            else:
                console.print(_("[dim]Watching {path} (Ctrl-C to stop)[/]").format(path=target.path))
            return result

        last = stamp(target.path)
        code = run()
        if once:
            return code
        folder = target.path.parent
        events = watchfiles.watch(
            folder, debounce=DEBOUNCE_MS, step=STEP_MS, rust_timeout=TICK_MS, yield_on_timeout=True,
            force_polling=poll, poll_delay_ms=poll_ms, raise_interrupt=False, recursive=False,
        )
        for _changes in events:
            key = read_key()
            if key == "q":
                break
            if key == "h":
                hint(target.exercise)
            elif key == "n" and offer is not None:
                target = offer
                space.start(target.exercise, target.framework)
                space.set_current(target.exercise.id, target.framework)
                if target.path.parent != folder:
                    events.close()
                    return watch(target, space, console, check, hint, poll, poll_ms, once, interactive)
                spares.warm_for(target.exercise, target.framework)
                last = stamp(target.path)
                code = run()
            elif target.path.exists() and stamp(target.path) != last:
                # events only wake the loop: the events of a save that came in while its
                # check ran name a version already graded
                last = settled(target.path)
                code = run()
    return code
