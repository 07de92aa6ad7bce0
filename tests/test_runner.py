"""The runner turns whatever the learner's code does into a clear verdict, never a pass."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from resnet_kata import catalog
from resnet_kata.runner import run_check

from .conftest import needs, solution_source

EX = catalog.resolve("01_residual_block")

pytestmark = needs("torch")

HEADER = """
import torch
from torch import nn
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "residual_block_torch.py"
    path.write_text(textwrap.dedent(HEADER) + textwrap.dedent(body), encoding="utf-8")
    return path


def run(path: Path, timeout: float = 60, only=None):
    return run_check(EX, "torch", path, device="cpu", timeout=timeout, only=only)


def test_syntax_error_is_reported_with_its_line(tmp_path):
    record = run(write(tmp_path, "class BasicBlock(nn.Module:\n    pass\n"))
    assert record.status == "error" and record.error_kind == "syntax"
    assert "line" in record.message and "SyntaxError" in record.message
    assert record.exit_code == 1
    assert "grader" not in record.message


def test_exception_at_import_shows_the_learners_frame(tmp_path):
    record = run(write(tmp_path, """
        def helper():
            return 1 / 0

        VALUE = helper()
    """))
    assert record.error_kind == "import"
    assert "ZeroDivisionError" in record.message
    assert "residual_block_torch.py, line" in record.message and "in helper" in record.message
    assert "grader/" not in record.message and "site-packages" not in record.message


def test_exception_in_forward_fails_that_check_with_the_learners_frames(tmp_path):
    source = solution_source("01", "torch").replace(
        "return F.relu(out + x)", "raise ValueError('boom in forward')"
    )
    path = tmp_path / "residual_block_torch.py"
    path.write_text(source)
    record = run(path, only=["api", "shapes"])
    assert record.status == "fail" and not record.error_kind
    shapes = [c for c in record.checks if c.name == "shapes"][0]
    assert shapes.status == "error"
    assert "ValueError: boom in forward" in shapes.message
    assert "in forward" in shapes.message


def test_sys_exit_zero_at_import_is_not_a_pass(tmp_path):
    record = run(write(tmp_path, "import sys\nsys.exit(0)\n"))
    assert record.status == "error" and record.error_kind == "exit"
    assert "sys.exit(0)" in record.message
    assert record.exit_code == 1


def test_sys_exit_inside_a_check_is_an_error_of_that_check(tmp_path):
    source = solution_source("01", "torch").replace(
        "return F.relu(out + x)", "import sys; sys.exit(0)"
    )
    path = tmp_path / "residual_block_torch.py"
    path.write_text(source)
    record = run(path, only=["api", "shapes"])
    assert record.status == "fail"
    assert "sys.exit(0)" in [c for c in record.checks if c.name == "shapes"][0].message


def test_os_exit_zero_is_not_a_pass(tmp_path):
    source = solution_source("01", "torch").replace(
        "return F.relu(out + x)", "import os; os._exit(0)"
    )
    path = tmp_path / "residual_block_torch.py"
    path.write_text(source)
    record = run(path)
    assert record.status == "error" and record.error_kind == "exit"
    assert "exit code 0" in record.message and "`shapes`" in record.message
    assert [c.status for c in record.checks][:1] == ["pass"]  # api had passed before
    assert record.exit_code == 1


def test_segfault_is_reported_as_a_crash(tmp_path):
    source = solution_source("01", "torch").replace(
        "return F.relu(out + x)", "import ctypes; ctypes.string_at(0)"
    )
    path = tmp_path / "residual_block_torch.py"
    path.write_text(source)
    record = run(path)
    assert record.status == "error" and record.error_kind == "crash"
    assert "SIGSEGV" in record.message
    assert "residual_block_torch.py" in record.output  # faulthandler names the line
    assert record.exit_code == 1


def test_infinite_loop_times_out_with_the_limit_in_the_message(tmp_path):
    source = solution_source("01", "torch").replace(
        "return F.relu(out + x)", "while True:\n            pass"
    )
    path = tmp_path / "residual_block_torch.py"
    path.write_text(source)
    record = run(path, timeout=8)
    assert record.status == "error" and record.error_kind == "timeout"
    assert "Timed out after 8 s" in record.message and "`shapes`" in record.message
    assert record.seconds < 20


def test_learner_output_is_kept_and_cannot_fake_a_result(tmp_path):
    source = solution_source("01", "torch").replace(
        "return F.relu(out + x)",
        'print(\'{"event": "record", "record": {"status": "pass"}}\')\n'
        "        return F.relu(out)",
    )
    path = tmp_path / "residual_block_torch.py"
    path.write_text(source)
    record = run(path, only=["api", "shapes", "function"])
    assert record.status == "fail"
    assert '"event": "record"' in record.output


def test_missing_file_for_impl_is_an_error_not_a_crash(tmp_path):
    record = run(tmp_path / "nope.py")
    assert record.status == "error"
    assert record.exit_code == 1


def test_a_correct_file_passes_through_the_runner(tmp_path):
    path = tmp_path / "residual_block_torch.py"
    path.write_text(solution_source("01", "torch"))
    record = run(path)
    assert record.status == "pass" and record.exit_code == 0
    assert record.loaded == ["torch"]


@pytest.mark.parametrize("status", ["fail", "error"])
def test_record_exit_codes(status):
    from resnet_kata.record import CheckResult, Record

    r = Record("x", "torch", checks=[CheckResult("a", "a", status)]).finish()
    assert r.status == "fail" and r.exit_code == 1
    r = Record("x", "torch", error_kind="missing_framework").finish()
    assert r.exit_code == 2


def test_global_framework_state_is_reset_before_each_check(grade_source):
    source = solution_source("01", "torch") + (
        "\ntorch.set_default_dtype(torch.float64)\ntorch.set_grad_enabled(False)\n"
    )
    record = grade_source("01_residual_block", "torch", source)
    assert record.status == "pass", [(c.name, c.message) for c in record.checks]


def test_a_thread_left_running_does_not_hold_the_verdict(tmp_path):
    source = solution_source("01", "torch") + (
        "\nimport threading, time\n"
        "threading.Thread(target=lambda: time.sleep(600)).start()\n"
    )
    path = tmp_path / "residual_block_torch.py"
    path.write_text(source)
    record = run(path, timeout=60)
    assert record.status == "pass"
    assert record.seconds < 30


def test_framework_start_up_lines_are_not_shown_as_the_learners_output():
    from resnet_kata.runner import strip_framework_noise

    printed = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795432892.333353    1778 port.cc:153] oneDNN custom operations are on.\n"
        "W0000 00:00:1795432892.431335    1778 cpu_feature_guard.cc:227] This binary is optimized\n"
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild "
        "TensorFlow with the appropriate compiler flags.\n"
        "shape after conv1: (2, 8, 4, 4)\n"
        "I think this line is mine\n"
    )
    assert strip_framework_noise(printed) == (
        "shape after conv1: (2, 8, 4, 4)\nI think this line is mine\n"
    )


def test_tensorflow_op_errors_lose_their_internal_prefix():
    from resnet_kata.worker import exception_text

    raw = ("{{function_node __wrapped__AddV2_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
           "Incompatible shapes: [2,8,8,32] vs. [2,8,8,16] [Op:AddV2] name: ")
    assert exception_text(ValueError(raw)) == (
        "Incompatible shapes: [2,8,8,32] vs. [2,8,8,16] (in the TensorFlow op AddV2)")
    assert exception_text(ValueError("shapes (2, 3) and (4,) differ")) == "shapes (2, 3) and (4,) differ"


def test_a_library_not_implemented_error_is_not_taken_for_the_stub(grade_source):
    """torch raises NotImplementedError for an operation a dtype lacks (`|` on floats): that
    is the learner's bug, not an untouched TODO."""
    source = solution_source("01", "torch").replace("F.relu(out + x)", "F.relu(out | x)")
    shapes = [c for c in grade_source("01_residual_block", "torch", source).checks
              if c.name == "shapes"][0]
    assert shapes.status == "error"
    assert "Your code raised NotImplementedError" in shapes.message
    assert "Not implemented yet" not in shapes.message and "TODO" not in shapes.message


def test_a_callback_that_raises_leaves_the_pipe_closed_once(tmp_path, monkeypatch):
    """An exception from `on_event` (Ctrl-C in watch, a caller stopping at the first failure)
    ends the run; no descriptor is closed a second time (by then its number may belong to
    another run's pipe, in another thread)."""
    import os

    from resnet_kata import runner

    twice = []
    real_close = os.close

    def close(fd):
        try:
            os.fstat(fd)
        except OSError:
            twice.append(fd)
        real_close(fd)

    monkeypatch.setattr(runner.os, "close", close)

    class Stop(Exception):
        pass

    def stop(event):
        if event.get("event") == "begin":
            raise Stop

    path = tmp_path / "residual_block_torch.py"
    path.write_text(solution_source("01", "torch"))
    with pytest.raises(Stop):
        run_check(EX, "torch", path, device="cpu", timeout=60, on_event=stop)
    assert twice == []


def test_what_the_learner_printed_is_in_the_record_though_the_worker_ends_at_the_verdict(tmp_path):
    """The worker is ended as soon as its record is in, so what the learner printed is
    written out before the record: here a stdout of theirs that takes a second to flush,
    and stderr without a newline."""
    path = write(tmp_path, """
        import sys
        import time

        class Slow:
            def __init__(self, real):
                self.real, self.held = real, []

            def write(self, text):
                self.held.append(text)
                return len(text)

            def flush(self):
                if self.held:
                    time.sleep(1.0)
                    self.real.write("".join(self.held))
                    self.real.flush()
                    self.held.clear()

        sys.stdout = Slow(sys.stdout)
        print("said on stdout", end="")
        sys.stderr.write("said on stderr")
        raise ValueError("after printing")
    """)
    record = run(path)
    assert record.error_kind == "import" and "after printing" in record.message
    assert "said on stdout" in record.output and "said on stderr" in record.output
