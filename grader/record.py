"""The result record: what a grading run found, as versioned plain data.

The worker fills it, the runner completes it when the worker dies, the report
renders it (rich or JSON). `record.schema.json` beside this file describes the
JSON form (`resnet-kata check --json`); `RECORD_VERSION` changes whenever that
form does. The event protocol between the worker and the runner is defined here
too. Nothing here imports a framework.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

RECORD_VERSION = 1
SCHEMA = Path(__file__).with_name("record.schema.json")


class _Text(str, Enum):
    """An enum whose members are their string values (in JSON, f-strings and comparisons)."""

    def __str__(self) -> str:
        return str.__str__(self)

    __format__ = str.__format__


class Status(_Text):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"


PASS, FAIL, ERROR, SKIP = Status.PASS, Status.FAIL, Status.ERROR, Status.SKIP


class ErrorKind(_Text):
    """Why a whole run did not get through its checks."""

    NONE = ""
    SYNTAX = "syntax"            # the learner's file does not parse
    IMPORT = "import"            # importing it raised, or it could not be read
    EXIT = "exit"                # sys.exit / os._exit / an early exit of the process
    CRASH = "crash"              # a signal (segfault, abort)
    TIMEOUT = "timeout"          # the wall-clock limit
    INTERNAL = "internal"        # a bug of the kit
    MISSING_FRAMEWORK = "missing_framework"
    DEVICE = "device"            # --device cuda without CUDA
    TAMPERED = "tampered"        # the event channel carried lines the grader did not write

    @property
    def is_kit(self) -> bool:
        """The kit's (or the machine's) fault, not the learner's: exit code 2, no attempt counted."""
        return self in (ErrorKind.INTERNAL, ErrorKind.MISSING_FRAMEWORK, ErrorKind.DEVICE)


class Event(_Text):
    """The JSON-lines events the worker writes to the runner's pipe, in this order:
    begin, then per check start (progress ...) check, or aside (a check another worker
    grades), then record; or internal."""

    BEGIN = "begin"
    START = "start"
    PROGRESS = "progress"
    CHECK = "check"
    ASIDE = "aside"
    RECORD = "record"
    INTERNAL = "internal"


# The worker's command-line flags for its two pipes: the events it writes, and the job
# it reads (one JSON line: exercise, exercise_dir, framework, impl, device, only and the
# run's token) before it imports the learner's file. Every event carries the token; the
# runner drops any line without it (nothing names the pipes in the environment the
# learner's code sees).
EVENTS_FLAG = "--events"
JOB_FLAG = "--job-from"


def encode_event(event: dict[str, Any], token: str) -> str:
    """One event as a line of JSON, with the run's token; the leading newline ends any
    partial line another writer left in the pipe."""
    return "\n" + json.dumps({**event, "token": token}) + "\n"


@dataclass
class CheckResult:
    name: str
    title: str
    status: Status
    message: str = ""
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    # a training check's loss, resampled to at most 60 points (the report draws it)
    loss_curve: list[float] = field(default_factory=list)
    # a training check's validation accuracy, in [0, 1]
    accuracy: float | None = None

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(**data)


@dataclass
class Record:
    exercise: str
    framework: str
    status: Status = ERROR
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    device: str = ""
    impl: str = ""
    error_kind: ErrorKind = ErrorKind.NONE
    message: str = ""
    output: str = ""
    doc: str = ""
    followups: list[str] = field(default_factory=list)
    # which frameworks the grading process had imported when it finished
    loaded: list[str] = field(default_factory=list)
    version: int = RECORD_VERSION

    def __post_init__(self) -> None:
        self.status = Status(self.status)
        self.error_kind = ErrorKind(self.error_kind)

    def fail_run(self, kind: ErrorKind, message: str) -> Record:
        """The whole run stopped for `kind`; say why."""
        self.error_kind = ErrorKind(kind)
        self.message = message
        return self

    def finish(self, seconds: float | None = None, output: str | None = None) -> Record:
        """The one place a record is completed: its time, the learner's output (kept unless
        it passed) and the overall status derived from the checks (an error already set stays)."""
        if seconds is not None:
            self.seconds = round(seconds, 3)
        if self.error_kind:
            self.status = ERROR
        elif any(c.status in (FAIL, ERROR) for c in self.checks):
            self.status = FAIL
        elif self.checks and all(c.status == PASS for c in self.checks):
            self.status = PASS
        else:
            self.status = FAIL
        if output is not None:
            self.output = "" if self.status == PASS else output
        return self

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def exit_code(self) -> int:
        if self.status == PASS:
            return 0
        return 2 if self.error_kind.is_kit else 1

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        data = dict(data)
        data["checks"] = [CheckResult.from_dict(c) for c in data.get("checks", [])]
        return cls(**data)
