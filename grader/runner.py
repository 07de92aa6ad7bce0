"""Run the worker in a child process with a wall-clock limit and collect its record.

The child reports through a pipe of its own (JSON lines), so whatever the
learner prints cannot be mistaken for a result. If the child hangs, exits
early or crashes, the record is completed here: never a pass, always a
sentence saying what happened.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .catalog import Exercise
from .record import ERROR, EVENT_FD_ENV, CheckResult, ErrorKind, Event, Record

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


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def run_check(
    ex: Exercise,
    framework: str,
    impl: Path,
    device: str = "auto",
    timeout: float | None = None,
    only: list[str] | None = None,
    on_event: OnEvent | None = None,
) -> Record:
    """Grade `impl` in a child process; the record is complete whatever the child did."""
    on_event = on_event or (lambda e: None)
    timeout = float(timeout or ex.time_budget)
    read_fd, write_fd = os.pipe()
    env = dict(os.environ)
    env[EVENT_FD_ENV] = str(write_fd)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("PYTHONFAULTHANDLER", "1")
    cmd = [
        sys.executable, "-m", "resnet_kata.worker",
        "--exercise", ex.id, "--exercise-dir", str(ex.dir), "--framework", framework,
        "--impl", str(impl), "--device", device,
    ]
    if only:
        cmd += ["--only", ",".join(only)]
    record: Record | None = None
    checks: list[CheckResult] = []
    current = ""
    internal = ""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="resnet-kata-") as tmp:
        log = Path(tmp) / "output.txt"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                pass_fds=(write_fd,), start_new_session=True, cwd=str(impl.parent),
            )
        os.close(write_fd)
        buf = b""
        timed_out = done = False
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            while not done:
                left = started + timeout - time.perf_counter()
                if left <= 0:
                    timed_out = True
                    break
                ready, _, _ = select.select([pipe], [], [], min(left, 0.5))
                if not ready:
                    continue
                chunk = pipe.read(65536)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    kind = event.get("event")
                    if kind == Event.START:
                        current = event.get("check", "")
                    elif kind == Event.CHECK:
                        checks.append(CheckResult.from_dict(event["result"]))
                    elif kind == Event.RECORD:
                        record = Record.from_dict(event["record"])
                        done = True
                    elif kind == Event.INTERNAL:
                        internal = event.get("message", "")
                    on_event(event)
        if timed_out:
            _kill(proc)
        else:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill(proc)  # the record is in; whatever still runs is the learner's
        output = _tail(log)
    seconds = time.perf_counter() - started
    if record is not None:
        return record.finish(seconds=seconds, output=output)
    record = Record(ex.id, framework, impl=str(impl), checks=checks, output=output,
                    doc=ex.doc, followups=list(ex.followups))
    during = f" during the `{current}` check" if current else ""
    code = proc.returncode
    if timed_out:
        record.error_kind = ErrorKind.TIMEOUT
        record.message = (
            f"Timed out after {timeout:g} s{during}. Look for an infinite loop, or work that "
            "grows with every call (a training loop inside forward, a huge tensor)."
        )
    elif internal:
        record.error_kind = ErrorKind.INTERNAL
        record.message = "The grader itself failed (a bug of the kit, not of your code):\n" + internal
    elif code is not None and code < 0:
        record.error_kind = ErrorKind.CRASH
        record.message = (
            f"The grading process crashed with {_signal_name(-code)}{during}. The output "
            "below shows where (a native crash inside your code or a library it called)."
        )
    else:
        record.error_kind = ErrorKind.EXIT
        record.message = (
            f"The grading process ended with exit code {code}{during} before the checks "
            "finished. Does your code call os._exit() or exit the interpreter another way?"
        )
    if record.checks and current and current not in {c.name for c in record.checks}:
        record.checks.append(CheckResult(current, current, ERROR, record.message))
    return record.finish(seconds=seconds, output=output)
