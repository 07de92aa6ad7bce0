"""The result record is versioned data: its JSON Schema holds, and golden records stay stable.

Golden records live in tests/golden/ with the times, paths and run-specific output masked.
After an intended change of the record, regenerate them with
`RESNET_KATA_UPDATE_GOLDEN=1 pytest tests/test_record.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

from resnet_kata import catalog, frameworks, worker
from resnet_kata.record import RECORD_VERSION, SCHEMA, ErrorKind, Event, Record, Status
from resnet_kata.runner import run_check

from .packs import write_pack

GOLDEN = Path(__file__).with_name("golden")
UPDATE = os.environ.get("RESNET_KATA_UPDATE_GOLDEN") == "1"

LEARNER = {
    "pass": "def dot(a, b):\n    return float(sum(x * y for x, y in zip(a, b)))\n",
    "failed_check": "def dot(a, b):\n    return float(sum(a))\n",
    "syntax_error": "def dot(a, b)\n    return 0.0\n",
    "import_exception": "raise RuntimeError('the learner file raises while imported')\n",
    "timeout": "while True:\n    pass\n",
    "crash": "import os\nimport signal\n\nos.kill(os.getpid(), signal.SIGSEGV)\n",
}


def _mask(data: dict) -> dict:
    data = json.loads(json.dumps(data))
    data["seconds"] = 0
    data["impl"] = "<impl>"
    data["message"] = data["message"].replace(sys.executable, "<python>")
    first = data["output"].strip().splitlines()[:1]
    data["output"] = first[0] if first else ""
    for check in data["checks"]:
        check["seconds"] = 0
    return data


def _compare(name: str, record: Record) -> None:
    data = record.to_dict()
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    masked = _mask(data)
    path = GOLDEN / f"{name}.json"
    if UPDATE or not path.exists():
        assert UPDATE, f"no golden record {path.name}: run with RESNET_KATA_UPDATE_GOLDEN=1"
        path.write_text(json.dumps(masked, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert masked == json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    return write_pack(tmp_path_factory.mktemp("pack"))


@pytest.mark.parametrize("name", list(LEARNER))
def test_golden_record(name, pack, tmp_path):
    ex = catalog.load_folder(pack / "90_dot_product")
    impl = tmp_path / "dot_np.py"
    impl.write_text(textwrap.dedent(LEARNER[name]), encoding="utf-8")
    record = run_check(ex, "numpy", impl, timeout=4 if name == "timeout" else None)
    _compare(name, record)


def test_golden_record_missing_framework(pack, tmp_path, monkeypatch):
    ex = catalog.load_folder(pack / "91_torch_norm")
    monkeypatch.setattr(frameworks, "is_installed", lambda fw: False)
    events = []
    record = worker.grade(ex, "torch", ex.stub("torch"), emit=events.append)
    assert record.exit_code == 2
    assert [e["event"] for e in events] == [Event.RECORD]
    record.loaded = []  # graded in this process: `loaded` would list the test session's imports
    _compare("missing_framework", record)


def test_record_fields_are_enums_and_the_version_is_set():
    record = Record.from_dict({"exercise": "90_x", "framework": "numpy", "status": "fail",
                               "error_kind": "timeout",
                               "checks": [{"name": "a", "title": "A", "status": "pass"}]})
    assert record.version == RECORD_VERSION
    assert record.status is Status.FAIL and record.error_kind is ErrorKind.TIMEOUT
    assert record.checks[0].status is Status.PASS
    assert f"{record.status}" == "fail" and json.dumps(record.to_dict()["status"]) == '"fail"'
    assert record.exit_code == 1
    assert Record("90_x", "numpy", error_kind=ErrorKind.DEVICE).exit_code == 2
    with pytest.raises(ValueError):
        Record("90_x", "numpy", status="passed")


def test_finish_is_the_one_place_the_status_is_derived():
    record = Record("90_x", "numpy")
    assert record.finish(seconds=1.23456, output="printed").status is Status.FAIL  # no checks
    assert record.seconds == 1.235 and record.output == "printed"
    record = Record.from_dict({"exercise": "90_x", "framework": "numpy",
                               "checks": [{"name": "a", "title": "A", "status": "pass"}]})
    assert record.finish(output="printed").status is Status.PASS
    assert record.output == "", "a pass keeps no output"


def test_the_training_curve_is_a_named_field_of_the_check(tmp_path):
    """A check's `loss_curve` and `accuracy` leave `details` for fields of their own."""
    from resnet_kata.checks import Check, Context

    def trains(ctx: Context) -> str:
        ctx.details.update(loss_curve=[1.0, 0.5, 0.25], accuracy=0.75, steps=3)
        return "trained"

    ctx = Context("numpy", None, None, "90_x")
    result = worker._run_one(Check("training", "Trains", trains), ctx, tmp_path / "x.py")
    assert result.loss_curve == [1.0, 0.5, 0.25] and result.accuracy == 0.75
    assert result.details == {"steps": 3}


def test_a_long_follow_up_question_wraps_under_its_own_text():
    import io

    from rich.console import Console

    from resnet_kata import report

    question = "Why does the identity shortcut add no parameters, and when does a block need a projection?"
    record = Record.from_dict({"exercise": "90_x", "framework": "numpy", "doc": "x.md",
                               "followups": [question, "[Why] no bias?"],
                               "checks": [{"name": "a", "title": "A", "status": "pass"}]}).finish()
    console = Console(file=io.StringIO(), width=60, color_system=None)
    report.render(record, console)
    lines = console.file.getvalue().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  • Why does"))
    assert lines[first + 1].startswith("    ") and lines[first + 1].strip(), lines
    assert " ".join(" ".join(lines[first:first + 3]).replace("•", "").split()).startswith(question)
    assert any(line.startswith("  • [Why] no bias?") for line in lines), "the text is not markup"
