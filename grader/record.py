"""The result record: what a grading run found, as plain data.

The worker fills it, the runner completes it when the worker dies, the report
renders it (rich or JSON). Nothing here imports a framework.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASS, FAIL, ERROR, SKIP = "pass", "fail", "error", "skip"

# Why a whole run did not get through its checks. The learner's kinds exit 1,
# the kit's own kinds exit 2.
LEARNER_ERRORS = ("syntax", "import", "exception", "exit", "crash", "timeout")
KIT_ERRORS = ("internal", "missing_framework", "device")


@dataclass
class CheckResult:
    name: str
    title: str
    status: str
    message: str = ""
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Record:
    exercise: str
    framework: str
    status: str = ERROR
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    device: str = ""
    impl: str = ""
    error_kind: str = ""
    message: str = ""
    output: str = ""
    doc: str = ""
    followups: list[str] = field(default_factory=list)
    # which frameworks the grading process had imported when it finished
    loaded: list[str] = field(default_factory=list)

    def finish(self) -> Record:
        """Derive the overall status from the checks (an error already set stays)."""
        if self.error_kind:
            self.status = ERROR
        elif any(c.status in (FAIL, ERROR) for c in self.checks):
            self.status = FAIL
        elif self.checks and all(c.status == PASS for c in self.checks):
            self.status = PASS
        else:
            self.status = FAIL
        return self

    @property
    def exit_code(self) -> int:
        if self.status == PASS:
            return 0
        if self.error_kind in KIT_ERRORS:
            return 2
        return 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        data = dict(data)
        data["checks"] = [CheckResult(**c) for c in data.get("checks", [])]
        return cls(**data)
