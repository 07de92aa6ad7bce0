"""The learner's workspace: their exercise files, backups, and the state file.

Layout (default root: `<kit>/workspace`, else `--workspace` or
`RESNET_KATA_WORKSPACE`):

    workspace/
      state.json                      current exercise, passes, hint levels
      NN_slug/<stub file>.py
      .backups/NN_slug/<stub file>.py.20261123-101500

Nothing a learner wrote is ever deleted: `start` refuses to overwrite and
`reset` moves the old file to `.backups/` first. The state file is replaced
atomically; a corrupt one is set aside, not trusted and not lost. Every
read-modify-write of it holds `.state.lock` (the `filelock` package: an OS file
lock, so a process killed while holding it releases it and never blocks the
next), so checks running at once in one workspace lose no pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .catalog import Exercise, kit_root
from .i18n import _

ENV = "RESNET_KATA_WORKSPACE"
STATE_VERSION = 1
LOCK_TIMEOUT = 30.0  # seconds; a lock is held for a few milliseconds at a time


class WorkspaceError(Exception):
    """The workspace cannot be used (not creatable, not writable, its state file a folder)."""


def default_root() -> Path:
    return kit_root() / "workspace"


def locate(override: str | os.PathLike | None = None) -> Path:
    """`--workspace` beats `RESNET_KATA_WORKSPACE`, which beats the default."""
    if override:
        return Path(override).expanduser().resolve()
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser().resolve()
    return default_root()


def atomic_write(path: Path, text: str) -> None:
    """Write `text` so that a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 1_000_000:06d}"


class Workspace:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.warnings: list[str] = []
        self._state: dict[str, Any] | None = None

    # -- files -------------------------------------------------------------
    def file(self, ex: Exercise, framework: str) -> Path:
        return self.root / ex.id / ex.files[framework]

    def start(self, ex: Exercise, framework: str) -> tuple[Path, bool]:
        """Copy the stub in if the learner has no file yet. Returns (path, created)."""
        self.ensure()
        target = self.file(ex, framework)
        if target.exists():
            return target, False
        target.parent.mkdir(parents=True, exist_ok=True)
        # exclusive create: a file appearing meanwhile is never overwritten
        with open(target, "x", encoding="utf-8") as fh:
            fh.write(ex.stub(framework).read_text(encoding="utf-8"))
        return target, True

    def backup(self, ex: Exercise, framework: str) -> Path | None:
        self.ensure()
        source = self.file(ex, framework)
        if not source.exists():
            return None
        dest = self.root / ".backups" / ex.id / f"{source.name}.{_stamp()}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
        return dest

    def reset(self, ex: Exercise, framework: str) -> Path | None:
        """Back the learner's file up, then put the stub back. Returns the backup."""
        saved = self.backup(ex, framework)
        target = self.file(ex, framework)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, ex.stub(framework).read_text(encoding="utf-8"))
        return saved

    # -- state -------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def _fresh(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "current": None, "exercises": {}}

    @property
    def state(self) -> dict[str, Any]:
        if self._state is None:
            self._state = self._read_state()
        return self._state

    def _read_state(self) -> dict[str, Any]:
        path = self.state_file
        if not path.exists():
            return self._fresh()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("exercises"), dict):
                raise ValueError("unexpected layout")
            current = data.get("current")
            if current is not None and not (
                isinstance(current, dict) and {"exercise", "framework"} <= current.keys()
            ):
                raise ValueError("unexpected 'current' entry")
            return data
        except (OSError, ValueError) as exc:
            aside = path.with_name(f"{path.name}.corrupt-{_stamp()}")
            try:
                path.replace(aside)
                self.warnings.append(_(
                    "The state file {path} could not be read ({error}); it was moved to {aside} "
                    "and a fresh state was started. Your exercise files are untouched."
                ).format(path=path, error=exc, aside=aside))
            except OSError:
                self.warnings.append(_(
                    "The state file {path} could not be read ({error}); it could not be moved "
                    "aside and a fresh state was started. Your exercise files are untouched."
                ).format(path=path, error=exc))
            return self._fresh()

    def save(self) -> None:
        """Write the state as it is in memory (use `update()` to change it)."""
        atomic_write(self.state_file, json.dumps(self.state, indent=2, sort_keys=True) + "\n")

    @contextlib.contextmanager
    def update(self) -> Iterator[dict[str, Any]]:
        """Read the state afresh under the workspace's lock, let the caller change it, write it.

        Concurrent `check`s, `watch`, a notebook and the CLI each hold the lock only for
        this read-modify-write, so no change of one is lost to another.
        """
        self.ensure()
        lock = FileLock(str(self.root / ".state.lock"), timeout=LOCK_TIMEOUT)
        try:
            with lock:
                self._state = self._read_state()
                yield self._state
                self.save()
        except Timeout as exc:
            raise WorkspaceError(_(
                "another resnet-kata process has held {path} for {seconds:g} s; is one stuck? "
                "End it, then try again.").format(path=self.root / ".state.lock",
                                                  seconds=LOCK_TIMEOUT)) from exc

    def check_usable(self) -> None:
        """Fail in one line if what exists of the workspace cannot serve (creates nothing)."""
        if self.root.exists() and not self.root.is_dir():
            raise WorkspaceError(_(
                "the workspace {path} is not a folder. Point --workspace or ${env} at a folder."
            ).format(path=self.root, env=ENV))
        if self.state_file.exists() and not self.state_file.is_file():
            raise WorkspaceError(_(
                "{path} is not a file (a folder?). Move it away; resnet-kata keeps its progress "
                "in that file.").format(path=self.state_file))

    def ensure(self) -> None:
        """Create the workspace folder, or say in one line why it cannot be."""
        self.check_usable()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(_(
                "the workspace {path} cannot be created ({reason}). Point --workspace or ${env} "
                "at a folder you can write to.").format(path=self.root, reason=exc.strerror or exc,
                                                        env=ENV)) from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise WorkspaceError(_(
                "the workspace {path} is not writable. Point --workspace or ${env} at a folder "
                "you can write to.").format(path=self.root, env=ENV))

    @staticmethod
    def _entry(state: dict[str, Any], ex_id: str, framework: str) -> dict[str, Any]:
        per_ex = state["exercises"].setdefault(ex_id, {})
        return per_ex.setdefault(framework, {})

    def current(self) -> tuple[str, str] | None:
        cur = self.state.get("current")
        return (cur["exercise"], cur["framework"]) if cur else None

    def set_current(self, ex_id: str, framework: str) -> None:
        with self.update() as state:
            state["current"] = {"exercise": ex_id, "framework": framework}
            self._entry(state, ex_id, framework).setdefault("started", time.time())

    def record_result(self, ex_id: str, framework: str, passed: bool) -> None:
        with self.update() as state:
            entry = self._entry(state, ex_id, framework)
            entry["attempts"] = int(entry.get("attempts", 0)) + 1
            entry["passes"] = int(entry.get("passes", 0)) + int(passed)
            if passed and "passed" not in entry:
                entry["passed"] = time.time()

    def passed(self, ex_id: str, framework: str | None = None) -> bool:
        per_ex = self.state["exercises"].get(ex_id, {})
        entries = [per_ex.get(framework, {})] if framework else list(per_ex.values())
        return any(isinstance(e, dict) and "passed" in e for e in entries)


    def hint_level(self, ex_id: str) -> int:
        return int(self.state["exercises"].get(ex_id, {}).get("hint_level", 0))

    def set_hint_level(self, ex_id: str, level: int) -> None:
        with self.update() as state:
            state["exercises"].setdefault(ex_id, {})["hint_level"] = level

    def next_hint_level(self, ex_id: str, most: int) -> int:
        """Advance the exercise's hint level by one (up to `most`) and return the new level."""
        with self.update() as state:
            per_ex = state["exercises"].setdefault(ex_id, {})
            per_ex["hint_level"] = min(most, int(per_ex.get("hint_level", 0)) + 1)
            return per_ex["hint_level"]

    def gave_up(self, ex_id: str) -> None:
        with self.update() as state:
            state["exercises"].setdefault(ex_id, {})["gave_up"] = time.time()
