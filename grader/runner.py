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
import threading
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
WORKERS_ENV = "RESNET_KATA_WORKERS"  # "1": every check in one worker, whatever `beside` says


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


def _kill_group(proc: subprocess.Popen) -> None:
    """End the worker and everything it started (its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


def _end_group(proc: subprocess.Popen, wait: bool = True) -> None:
    """End the worker's process group and reap the worker: here, or (`wait=False`) on a
    thread of its own, so that the kernel's freeing of a framework's memory (20 to 30 ms
    for torch) is not waited for before the verdict is shown."""
    _kill_group(proc)
    if wait:
        proc.wait()
    elif proc.returncode is None:
        threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()


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
        # (position among the checks, name, title) of each check the worker left to another
        self.aside: list[tuple[int, str, str]] = []

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
        elif kind == Event.ASIDE:
            if self.current:
                self.disorder = self.disorder or f"check {event['check']!r} set aside inside {self.current!r}"
            self.aside.append((len(self.checks), str(event["check"]), str(event.get("title", ""))))
        elif kind == Event.INTERNAL:
            self.internal = event.get("message", "")


def _worker_env(threads: int | None = None) -> dict[str, str]:
    """The worker's environment; with `threads`, the frameworks' thread pools that size (two
    workers on two cores each keep one: measured on 04 tf, 8.6 s with two threads each, 7.9 s
    with one)."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("PYTHONFAULTHANDLER", "1")
    if threads:
        for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            env.setdefault(name, str(threads))
    return env


class Spare:
    """A worker process started ahead of its job: it has imported the framework, numpy and
    the battery, and waits for one job on a pipe. It grades that one file and exits, so
    isolation is as for a fresh worker (one process per check, never reused after learner
    code ran); only the imports are paid before the save instead of after it. It is a new
    interpreter started with subprocess, never a fork of a process that loaded a framework.
    """

    def __init__(self, framework: str, preload: bool = True, cwd: Path | None = None,
                 threads: int | None = None):
        """`preload=False`: a worker for a job at hand, which imports only what the job needs.
        `threads`: the size of the framework's thread pools (default: the framework's own)."""
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
                    env=_worker_env(threads), pass_fds=(write_fd, job_r), start_new_session=True,
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

    def close(self, wait: bool = True) -> None:
        """End the spare (and anything it started) and remove its files; `wait=False`: the
        process is reaped on a thread (`_end_group`)."""
        if not self.used:
            self.used = True
            with contextlib.suppress(OSError):
                os.close(self.job_w)
        _end_group(self.proc, wait)
        if self.read_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.read_fd)
            self.read_fd = -1
        self._tmp.cleanup()


class SparePool:
    """Keeps spare workers ready for a framework (watch, the Python API, interview mode).
    `take()` returns a ready spare, or None; `warm()` starts what is missing at once."""

    def __init__(self) -> None:
        self._spares: dict[str, list[Spare]] = {}

    def warm(self, framework: str, count: int = 1) -> None:
        """Have `count` spares of `framework` ready (the ones that died are replaced)."""
        ready = []
        for spare in self._spares.get(framework, []):
            if spare.alive():
                ready.append(spare)
            else:
                spare.close()
        while len(ready) < count:
            ready.append(Spare(framework, threads=1 if count > 1 else None))
        self._spares[framework] = ready

    def warm_for(self, ex: Exercise, framework: str) -> None:
        """As many spares as one check of `ex` takes (`lanes`)."""
        self.warm(framework, lanes(ex, framework))

    def take(self, framework: str) -> Spare | None:
        ready = self._spares.get(framework, [])
        while ready:
            spare = ready.pop(0)
            if spare.alive():
                return spare
            spare.close()
        return None

    def close(self) -> None:
        for spares in self._spares.values():
            for spare in spares:
                spare.close()
        self._spares.clear()

    def __enter__(self) -> SparePool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def beside(ex: Exercise, framework: str, only: list[str] | None = None) -> list[str]:
    """The checks a second worker grades at the same time as the first grades the others: the
    manifest's `[beside]` list for `framework` (the long, independent ones, such as a training
    run), where the machine has a second core, $RESNET_KATA_WORKERS is not 1, and the first
    worker has checks of its own."""
    names = [n for n in ex.beside.get(framework, ()) if not only or n in only]
    one = os.environ.get(WORKERS_ENV, "").strip() == "1" or (os.cpu_count() or 1) < 2
    if not names or one or (only and set(only) <= set(names)):
        return []
    return names


def lanes(ex: Exercise, framework: str) -> int:
    """How many workers grade one check of `ex` in `framework`: 1, or 2 with `beside`."""
    return 2 if beside(ex, framework) else 1


class _Lane:
    """One worker of a check: its process, its event stream and what it has sent."""

    def __init__(self, spare: Spare, stream: _Stream):
        self.spare, self.stream = spare, stream
        self.pipe = os.fdopen(spare.read_fd, "rb", buffering=0)
        spare.read_fd = -1  # the file object owns it now: closed once, whatever happens
        self.buf = b""
        self.ended = False  # the record came, or the worker is gone
        self.timed_out = False
        self.output = ""

    def read(self) -> None:
        chunk = self.pipe.read(65536)
        if not chunk:
            self.ended = True
            return
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            self.stream.feed(line)
        self.ended = self.stream.record is not None

    def gone(self) -> bool:
        """The worker exited and left nothing to read (a child of the learner's may hold the
        pipe open)."""
        return self.spare.proc.poll() is not None and not select.select([self.pipe], [], [], 0)[0]

    def end(self) -> None:
        # With its record in, the worker has flushed what the learner printed and has
        # nothing left to do: it ends now. Without one, its exit status says what happened.
        verdict = self.ended and self.stream.record is not None
        if self.ended and not verdict:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.spare.proc.wait(timeout=5)  # its pipe closed: it is leaving
        _kill_group(self.spare.proc)  # the learner's children end too, before the output is read
        self.output = _tail(self.spare.log)
        with contextlib.suppress(OSError):
            self.pipe.close()
        self.spare.close(wait=not verdict)


class _Merge:
    """The events of two workers in the order one worker would have sent them: where the
    first says a check runs aside, the second's events for that check, then the rest."""

    def __init__(self, on_event: OnEvent):
        self.out = on_event
        self.queue: list[dict[str, Any]] = []
        self.aside: dict[str, list[dict[str, Any]]] = {}
        self.done: set[str] = set()
        self.waiting = ""

    def first(self, event: dict[str, Any]) -> None:
        self.queue.append(event)
        self._pump()

    def second(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        name = event.get("check") if kind != Event.CHECK else event["result"].get("name")
        if kind in (Event.START, Event.PROGRESS, Event.CHECK) and name:
            self.aside.setdefault(str(name), []).append(event)
            if kind == Event.CHECK:
                self.done.add(str(name))
            self._pump()

    def _pump(self) -> None:
        while True:
            if self.waiting:
                for event in self.aside.pop(self.waiting, []):
                    self.out(event)
                if self.waiting not in self.done:
                    return
                self.waiting = ""
            if not self.queue:
                return
            event = self.queue.pop(0)
            if event.get("event") == Event.ASIDE:
                self.waiting = str(event["check"])
            else:
                self.out(event)

    def flush(self) -> None:
        """What is left once both workers are done. If the second stopped inside a check (a
        crash, an exit, the time limit), one worker would have sent nothing after it."""
        if self.waiting and self.waiting not in self.done:
            for event in self.aside.pop(self.waiting, []):
                self.out(event)
            self.queue.clear()
            self.waiting = ""
        self._pump()


def run_check(
    ex: Exercise,
    framework: str,
    impl: Path,
    device: str = "auto",
    timeout: float | None = None,
    only: list[str] | None = None,
    on_event: OnEvent | None = None,
    spares: SparePool | None = None,
    split: bool = True,
) -> Record:
    """Grade `impl` in a child process; the record is complete whatever the child did.

    With `spares`, ready spare workers of that framework take the job when there are some,
    and the next ones are started as soon as this check's verdict is in. The checks the
    exercise sets `beside` go to a second child at the same time (unless `split` is False);
    the record and the events are the ones a single child would have sent.
    """
    on_event = on_event or (lambda e: None)
    timeout = float(timeout or ex.time_budget)
    aside = beside(ex, framework, only) if split else []
    merge = _Merge(on_event)
    jobs = [(list(only or []), aside, merge.first if aside else on_event)]
    if aside:
        jobs.append((aside, [], merge.second))
    started = time.perf_counter()
    workers: list[_Lane] = []
    try:
        for names, elsewhere, sink in jobs:
            stream = _Stream(secrets.token_hex(16), sink)
            spare = spares.take(framework) if spares is not None else None
            if spare is None:
                spare = Spare(framework, preload=False, cwd=impl.parent,
                              threads=1 if aside else None)
            workers.append(_Lane(spare, stream))
            spare.hand({"exercise": ex.id, "exercise_dir": str(ex.dir), "framework": framework,
                        "impl": str(impl), "device": device, "only": names,
                        "elsewhere": elsewhere, "token": stream.token, "lang": i18n.language()})
        _collect(workers, started + timeout)
    finally:
        for lane in workers:
            lane.end()
        merge.flush()
        if spares is not None:
            spares.warm(framework, len(jobs))
    seconds = time.perf_counter() - started
    first = workers[0]
    record = _complete(first.stream, ex, framework, impl, first.spare.proc.returncode,
                       first.timed_out, timeout, seconds, first.output)
    if len(workers) == 1 or not first.stream.aside:
        return record
    second = workers[1]
    other = _complete(second.stream, ex, framework, impl, second.spare.proc.returncode,
                      second.timed_out, timeout, seconds, second.output)
    return _join(record, first.stream.aside, other, seconds,
                 "".join(lane.output for lane in workers))


def _collect(workers: list[_Lane], deadline: float) -> None:
    """Read the workers' events until the verdict is in or the time is up. The second worker
    is waited for only if the first set checks aside for it; else it is not needed."""
    first = workers[0]
    while True:
        if first.ended:
            if first.stream.record is None or not first.stream.aside:
                return
            active = [w for w in workers[1:] if not w.ended]
        else:
            active = [w for w in workers if not w.ended]
        if not active:
            return
        left = deadline - time.perf_counter()
        if left <= 0:
            for w in active:
                w.timed_out = True
            return
        ready, _w, _x = select.select([w.pipe for w in active], [], [], min(left, 0.5))
        for w in active:
            if w.pipe in ready:
                w.read()
            elif w.gone():
                w.ended = True


def _join(record: Record, aside: list[tuple[int, str, str]], other: Record, seconds: float,
          output: str) -> Record:
    """The first worker's record with the second's results in the places it left for them.
    Where the second worker's run stopped (a crash, an exit, the time limit), the record
    stops too, as a single worker's would have."""
    for k, (pos, name, title) in enumerate(aside):
        if pos > len(record.checks):
            break
        found = next((c for c in other.checks if c.name == name), None)
        if found is None:
            found = CheckResult(name, title, ERROR, other.message or _(
                "This check's grading process sent no result."))
        record.checks.insert(pos + k, found)
        if other.error_kind and (found.status == ERROR or other.checks[-1:] == [found]):
            del record.checks[pos + k + 1:]
            if not record.error_kind:
                record.fail_run(other.error_kind, other.message)
            break
    record.loaded = sorted(set(record.loaded) | set(other.loaded))
    return record.finish(seconds=seconds, output=output)


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
