"""Run the worker in a child process with a wall-clock limit and collect its record.

The child reports through a pipe of its own (JSON lines), so whatever the
learner prints cannot be mistaken for a result; each event carries a per-run
token the child read before it imported the learner's file, and the events must
come in order, so a line the learner's code writes into that pipe is never taken
for one. If the child hangs, exits early or crashes, the record is completed
here: never a pass, always a sentence saying what happened. When the verdict is
in, the child's whole process group ends: nothing the learner started lives on.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import i18n
from .catalog import Exercise
from .i18n import _
from .record import ERROR, EVENTS_FLAG, JOB_FLAG, SKIP, CheckResult, ErrorKind, Event, Record

OnEvent = Callable[[dict[str, Any]], None]
OUTPUT_TAIL = 4000


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


# What TensorFlow's native code prints at start-up whatever TF_CPP_MIN_LOG_LEVEL says:
# absl's pre-init notice, glog-style info lines (oneDNN, CPU features) and the
# continuation of the CPU-feature notice. None of it is the learner's output.
_FRAMEWORK_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] .*"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.)$"
)


def strip_framework_noise(text: str) -> str:
    """Drop the frameworks' own start-up lines, keep everything else in order."""
    kept = [line for line in text.splitlines(keepends=True)
            if not _FRAMEWORK_NOISE.match(line.rstrip("\r\n"))]
    return "".join(kept)


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - 64 * OUTPUT_TAIL))  # a learner may print gigabytes
            data = f.read()
    except OSError:
        return ""
    text = strip_framework_noise(data.decode("utf-8", "replace"))
    cut = len(text) > OUTPUT_TAIL or size > len(data)
    return ("…" + text[-OUTPUT_TAIL:]) if cut else text


def _end_group(proc: subprocess.Popen) -> None:
    """End the worker and everything it started (its process group); reap the worker."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    proc.wait()


class _Stream:
    """The worker's events, as the runner accepts them: with this run's token, and in order
    (each check's start before its end, the record's checks the very ones reported)."""

    def __init__(self, token: str, on_event: OnEvent):
        self.token = token
        self.on_event = on_event
        self.record: Record | None = None
        self.checks: list[CheckResult] = []
        self.current = ""
        self.internal = ""
        self.forged = 0
        self.disorder = ""

    def feed(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            event = json.loads(line)
        except ValueError:
            self.forged += 1
            return
        if not isinstance(event, dict) or not hmac.compare_digest(str(event.pop("token", "")), self.token):
            self.forged += 1
            return
        kind = event.get("event")
        try:
            self._accept(kind, event)
        except (KeyError, TypeError, ValueError) as exc:
            self.disorder = self.disorder or f"a malformed {kind!r} event ({exc})"
        self.on_event(event)

    def _accept(self, kind: Any, event: dict[str, Any]) -> None:
        if self.record is not None:
            self.disorder = self.disorder or f"a {kind!r} event after the record"
        elif kind == Event.START:
            if self.current:
                self.disorder = self.disorder or f"check {event['check']!r} started inside {self.current!r}"
            self.current = event["check"]
        elif kind == Event.CHECK:
            result = CheckResult.from_dict(event["result"])
            if result.status != SKIP and result.name != self.current:
                self.disorder = self.disorder or f"check {result.name!r} ended without starting"
            self.current = ""
            self.checks.append(result)
        elif kind == Event.RECORD:
            record = Record.from_dict(event["record"])
            sent = [(c.name, c.status) for c in record.checks]
            seen = [(c.name, c.status) for c in self.checks]
            if self.current or sent != seen:
                self.disorder = self.disorder or "the record's checks differ from the checks that ran"
            self.record = record
        elif kind == Event.INTERNAL:
            self.internal = event.get("message", "")


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("PYTHONFAULTHANDLER", "1")
    return env


class Spare:
    """A worker process started ahead of its job: it has imported the framework, numpy and
    the battery, and waits for one job on a pipe. It grades that one file and exits, so
    isolation is as for a fresh worker (one process per check, never reused after learner
    code ran); only the imports are paid before the save instead of after it. It is a new
    interpreter started with subprocess, never a fork of a process that loaded a framework.
    """

    def __init__(self, framework: str, preload: bool = True, cwd: Path | None = None):
        """`preload=False`: a worker for a job at hand, which imports only what the job needs."""
        self.framework = framework
        self._tmp = tempfile.TemporaryDirectory(prefix="resnet-kata-")
        self.log = Path(self._tmp.name) / "output.txt"
        self.read_fd, write_fd = os.pipe()
        job_r, self.job_w = os.pipe()
        cmd = [sys.executable, "-m", "resnet_kata.worker", "--framework", framework,
               EVENTS_FLAG, str(write_fd), JOB_FLAG, str(job_r)] + (["--spare"] if preload else [])
        try:
            with open(self.log, "wb") as out:
                self.proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    env=_worker_env(), pass_fds=(write_fd, job_r), start_new_session=True,
                    cwd=str(cwd) if cwd else None,
                )
        finally:
            os.close(write_fd)
            os.close(job_r)
        self.used = False

    def alive(self) -> bool:
        return not self.used and self.proc.poll() is None

    def hand(self, job: dict[str, Any]) -> None:
        """Give the spare its one job (it reads it before importing the learner's file)."""
        self.used = True
        with os.fdopen(self.job_w, "wb") as pipe:
            pipe.write(json.dumps(job).encode("utf-8") + b"\n")

    def close(self) -> None:
        """End the spare (and anything it started) and remove its files."""
        if not self.used:
            self.used = True
            with contextlib.suppress(OSError):
                os.close(self.job_w)
        _end_group(self.proc)
        if self.read_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.read_fd)
            self.read_fd = -1
        self._tmp.cleanup()


class SparePool:
    """Keeps one spare worker ready for a framework (watch, the Python API, interview mode).
    `take()` returns the ready spare, or None, and starts the next one at once."""

    def __init__(self) -> None:
        self._spares: dict[str, Spare] = {}

    def warm(self, framework: str) -> None:
        spare = self._spares.get(framework)
        if spare is None or not spare.alive():
            if spare is not None:
                spare.close()
            self._spares[framework] = Spare(framework)

    def take(self, framework: str) -> Spare | None:
        spare = self._spares.pop(framework, None)
        if spare is not None and not spare.alive():
            spare.close()
            spare = None
        return spare

    def close(self) -> None:
        for spare in self._spares.values():
            spare.close()
        self._spares.clear()

    def __enter__(self) -> SparePool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_check(
    ex: Exercise,
    framework: str,
    impl: Path,
    device: str = "auto",
    timeout: float | None = None,
    only: list[str] | None = None,
    on_event: OnEvent | None = None,
    spares: SparePool | None = None,
) -> Record:
    """Grade `impl` in a child process; the record is complete whatever the child did.

    With `spares`, a ready spare worker of that framework takes the job when there is one,
    and the next spare is started as soon as this check's verdict is in.
    """
    stream = _Stream(secrets.token_hex(16), on_event or (lambda e: None))
    timeout = float(timeout or ex.time_budget)
    job = {"exercise": ex.id, "exercise_dir": str(ex.dir), "framework": framework,
           "impl": str(impl), "device": device, "only": list(only or []), "token": stream.token,
           "lang": i18n.language()}
    spare = spares.take(framework) if spares is not None else None
    started = time.perf_counter()
    if spare is None:
        spare = Spare(framework, preload=False, cwd=impl.parent)
    spare.hand(job)
    try:
        buf = b""
        timed_out = False
        pipe = os.fdopen(spare.read_fd, "rb", buffering=0)
        spare.read_fd = -1  # the file object owns it now: closed once, whatever happens below
        with pipe:
            proc = spare.proc
            while stream.record is None:
                left = started + timeout - time.perf_counter()
                if left <= 0:
                    timed_out = True
                    break
                ready, _w, _x = select.select([pipe], [], [], min(left, 0.5))
                if not ready:
                    if proc.poll() is not None and not select.select([pipe], [], [], 0)[0]:
                        break  # the worker is gone; a child of the learner's may hold the pipe
                    continue
                chunk = pipe.read(65536)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    stream.feed(line)
        if not timed_out:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)  # the worker leaves at once after its record
        _end_group(proc)  # whatever is left (the learner's children too) ends with the verdict
        output = _tail(spare.log)
    finally:
        spare.close()
        if spares is not None:
            spares.warm(framework)
    return _complete(stream, ex, framework, impl, proc.returncode, timed_out, timeout,
                     time.perf_counter() - started, output)


def _complete(stream: _Stream, ex: Exercise, framework: str, impl: Path, code: int | None,
              timed_out: bool, timeout: float, seconds: float, output: str) -> Record:
    """The record the worker sent, or one that says what happened to the worker."""
    if stream.record is not None and not stream.disorder:
        return stream.record.finish(seconds=seconds, output=output)
    record = Record(ex.id, framework, impl=str(impl), checks=list(stream.checks), output=output,
                    doc=ex.doc, followups=list(ex.followups))
    current = stream.current
    during = _(" during the `{check}` check").format(check=current) if current else ""
    forged = _(
        " Something other than the grader (your code?) wrote {n} line(s) to the grader's "
        "private event channel; they were ignored.").format(n=stream.forged) if stream.forged else ""
    if stream.disorder:
        record.fail_run(ErrorKind.TAMPERED, _(
            "The grading process reported out of order: {what}, so no verdict can be trusted. "
            "Does your code patch or call the grader? If it does not, this is a bug of the kit."
        ).format(what=stream.disorder) + forged)
    elif timed_out:
        record.fail_run(ErrorKind.TIMEOUT, _(
            "Timed out after {seconds:g} s{during}. Look for an infinite loop, or work that grows "
            "with every call (a training loop inside forward, a huge tensor)."
        ).format(seconds=timeout, during=during) + forged)
    elif stream.internal:
        record.fail_run(ErrorKind.INTERNAL,
                        _("The grader itself failed (a bug of the kit, not of your code):")
                        + "\n" + stream.internal)
    elif code is not None and code < 0:
        record.fail_run(ErrorKind.CRASH, _(
            "The grading process crashed with {signal}{during}. The output below shows where "
            "(a native crash inside your code or a library it called)."
        ).format(signal=_signal_name(-code), during=during) + forged)
    else:
        kind = ErrorKind.TAMPERED if stream.forged else ErrorKind.EXIT
        record.fail_run(kind, _(
            "The grading process ended with exit code {code}{during} before the checks finished. "
            "Does your code call os._exit() or exit the interpreter another way?"
        ).format(code=code, during=during) + forged)
    if record.checks and current and current not in {c.name for c in record.checks}:
        record.checks.append(CheckResult(current, current, ERROR, record.message))
    return record.finish(seconds=seconds, output=output)
