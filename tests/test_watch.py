"""watch and the spare worker: the same verdicts through a spare as through a fresh worker,
and a re-check on every kind of save."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from resnet_kata import catalog
from resnet_kata.record import ErrorKind
from resnet_kata.runner import SparePool, run_check

from .conftest import needs
from .packs import write_pack

SOLUTION = "def dot(a, b):\n    return float(sum(x * y for x, y in zip(a, b)))\n"
BROKEN = {
    # name: (source, status, error_kind, phrase)
    "syntax error": ("def dot(a, b)\n", "error", ErrorKind.SYNTAX, "does not parse"),
    "exception": ("def dot(a, b):\n    raise ValueError('nope')\n", "fail", ErrorKind.NONE, "nope"),
    "import exception": ("raise KeyError('at import')\n", "error", ErrorKind.IMPORT, "at import"),
    "sys.exit": ("import sys\nsys.exit(3)\n", "error", ErrorKind.EXIT, "sys.exit(3)"),
    "os._exit": ("import os\nos._exit(0)\n", "error", ErrorKind.EXIT, "exit code 0"),
    "segfault": ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", "error", ErrorKind.CRASH,
                 "SIGSEGV"),
    "infinite loop": ("while True:\n    pass\n", "error", ErrorKind.TIMEOUT, "Timed out"),
}


@pytest.fixture(scope="module")
def dot(tmp_path_factory):
    return catalog.load_folder(write_pack(tmp_path_factory.mktemp("pack")) / "90_dot_product")


def _grade(dot, tmp_path, source, spares):
    impl = tmp_path / "dot_np.py"
    impl.write_text(source)
    return run_check(dot, "numpy", impl, timeout=4, spares=spares)


def test_the_spare_path_gives_the_same_verdicts(dot, tmp_path):
    with SparePool() as spares:
        spares.warm("numpy")
        for name, (source, status, kind, phrase) in BROKEN.items():
            fresh = _grade(dot, tmp_path, source, None)
            spared = _grade(dot, tmp_path, source, spares)
            for record in (fresh, spared):
                text = record.message + " ".join(c.message for c in record.checks)
                assert (record.status, record.error_kind) == (status, kind), (name, record.message)
                assert phrase in text, (name, text)
            assert [(c.name, c.status) for c in fresh.checks] == [(c.name, c.status) for c in spared.checks]
        assert _grade(dot, tmp_path, SOLUTION, spares).status == "pass"


def test_a_spare_is_used_once_and_replaced_at_once(dot, tmp_path):
    with SparePool() as spares:
        spares.warm("numpy")
        [first] = spares._spares["numpy"]
        assert _grade(dot, tmp_path, SOLUTION, spares).status == "pass"
        [second] = spares._spares["numpy"]
        assert second is not first, "a used spare is never reused"
        assert first.proc.wait(timeout=10) is not None, "a used spare ends with its verdict"
        assert second.alive()
    assert second.proc.poll() is not None, "closing the pool ends the waiting spare"


@needs("torch")
@pytest.mark.torch
def test_a_torch_spare_has_the_framework_imported_before_the_job(tmp_path):
    ex = catalog.resolve("01_residual_block")
    with SparePool() as spares:
        spares.warm("torch")
        time.sleep(0.5)
        [spare] = spares._spares["torch"]
        deadline = time.time() + 60
        while time.time() < deadline:  # the spare's import is done when torch's .so is mapped
            maps = Path(f"/proc/{spare.proc.pid}/maps").read_text()
            if "libtorch" in maps:
                break
            time.sleep(0.2)
        assert "libtorch" in maps
        record = run_check(ex, "torch", ex.solution("torch"), device="cpu", spares=spares)
        assert record.status == "pass"


def _watch(workspace: Path, pack: Path) -> subprocess.Popen:
    env = dict(os.environ, RESNET_KATA_WORKSPACE=str(workspace), COLUMNS="120", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "resnet_kata", "--exercises", str(pack), "watch"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)


def _until(proc: subprocess.Popen, phrase: str, timeout: float = 60) -> str:
    seen = []
    deadline = time.time() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line:
            seen.append(line)
            if phrase in line:
                return "".join(seen)
        else:
            time.sleep(0.05)
    raise AssertionError(f"{phrase!r} never came:\n{''.join(seen)}")


def test_watch_rechecks_on_rename_and_on_truncate_saves_without_a_terminal(tmp_path):
    pack = write_pack(tmp_path / "pack")
    ws = tmp_path / "ws"
    out = subprocess.run([sys.executable, "-m", "resnet_kata", "--exercises", str(pack), "start", "90"],
                         env=dict(os.environ, RESNET_KATA_WORKSPACE=str(ws)), capture_output=True)
    assert out.returncode == 0, out.stderr
    learner = ws / "90_dot_product" / "dot_np.py"
    proc = _watch(ws, pack)
    try:
        _until(proc, "Watching")
        tmp = learner.with_name(".dot_np.py.swp")
        tmp.write_text(SOLUTION)
        os.replace(tmp, learner)  # how vim saves
        text = _until(proc, "Watching")
        assert "PASS" in text and "Next: resnet-kata start" in text, text
        with open(learner, "w") as fh:  # truncate and write
            fh.write(textwrap.dedent(BROKEN["exception"][0]))
        text = _until(proc, "Watching")
        assert "FAIL" in text and "nope" in text, text
    finally:
        proc.terminate()
        proc.wait(10)


# what the learner's dot does only on vectors of length 5: only the check graded beside sees it
ON_FIVE = {
    "exception": ("raise ValueError('five')", "fail", ErrorKind.NONE, "five"),
    "sys.exit": ("import sys; sys.exit(3)", "fail", ErrorKind.NONE, "sys.exit(3)"),
    "os._exit": ("import os; os._exit(0)", "error", ErrorKind.EXIT, "exit code 0"),
    "segfault": ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "error",
                 ErrorKind.CRASH, "SIGSEGV"),
    "infinite loop": ("while True: pass", "error", ErrorKind.TIMEOUT, "Timed out"),
}


@pytest.fixture(scope="module")
def beside(tmp_path_factory):
    from .packs import write_beside

    return catalog.load_folder(write_beside(tmp_path_factory.mktemp("beside")))


def _two_cores(monkeypatch) -> None:
    """The machine as a learner's laptop: two cores, no RESNET_KATA_WORKERS."""
    import resnet_kata.runner as R

    monkeypatch.setattr(R.os, "cpu_count", lambda: 2)
    monkeypatch.delenv(R.WORKERS_ENV, raising=False)


def _five(tmp_path, line: str) -> Path:
    impl = tmp_path / "dot_np.py"
    impl.write_text("def dot(a, b):\n    if len(a) == 5:\n        " + line + "\n"
                    "    return float(sum(x * y for x, y in zip(a, b)))\n")
    return impl


def test_a_check_graded_beside_gives_the_verdict_and_events_of_one_worker(beside, tmp_path, monkeypatch):
    import resnet_kata.runner as R

    _two_cores(monkeypatch)
    assert R.lanes(beside, "numpy") == 2
    with SparePool() as spares:
        spares.warm_for(beside, "numpy")
        assert len(spares._spares["numpy"]) == 2
        for name, (line, status, kind, phrase) in ON_FIVE.items():
            impl = _five(tmp_path, line)
            runs = []
            for split, pool in ((False, None), (True, None), (True, spares)):
                events: list = []
                record = run_check(beside, "numpy", impl, timeout=4, spares=pool, split=split,
                                   on_event=events.append)
                order = [(e["event"], e.get("check") or e["result"]["name"]) for e in events
                         if e["event"] in ("start", "check")]
                runs.append((record, order))
            for record, order in runs:
                assert (record.status, record.error_kind) == (status, kind), (name, record.message)
                text = record.message + " ".join(c.message for c in record.checks)
                assert phrase in text, (name, text)
                assert "`long`" in record.message or kind == ErrorKind.NONE, (name, record.message)
                assert [(c.name, c.status) for c in record.checks] == [
                    (c.name, c.status) for c in runs[0][0].checks], name
                assert order == runs[0][1], name
        impl = _five(tmp_path, "pass")
        record = run_check(beside, "numpy", impl, timeout=4, spares=spares)
        assert record.status == "pass" and [c.name for c in record.checks] == [
            "api", "value", "long", "last"]
        assert len(spares._spares["numpy"]) == 2, "both spares are replaced after the check"


def test_a_check_graded_beside_is_skipped_as_it_would_be_in_one_worker(beside, tmp_path, monkeypatch):

    _two_cores(monkeypatch)
    impl = tmp_path / "dot_np.py"
    impl.write_text("def dot(a, b):\n    return 0.0\n")  # value fails: long, which needs it, is skipped
    split = run_check(beside, "numpy", impl, timeout=4)
    serial = run_check(beside, "numpy", impl, timeout=4, split=False)
    want = [("api", "pass"), ("value", "fail"), ("long", "skip"), ("last", "pass")]
    assert [(c.name, c.status) for c in split.checks] == want
    assert [(c.name, c.status, c.message) for c in split.checks] == [
        (c.name, c.status, c.message) for c in serial.checks]
    started = time.perf_counter()
    impl.write_text("def dott(a, b):\n    return 0.0\n")  # no dot: the gate fails
    record = run_check(beside, "numpy", impl, timeout=4)
    assert [c.status for c in record.checks] == ["fail", "skip", "skip", "skip"]
    assert time.perf_counter() - started < 3, "the second worker is not waited for"


def test_only_a_single_core_grades_in_one_worker(beside, monkeypatch):
    import resnet_kata.runner as R

    _two_cores(monkeypatch)
    monkeypatch.setattr(R.os, "cpu_count", lambda: 1)
    assert R.lanes(beside, "numpy") == 1 and R.beside(beside, "numpy") == []
    monkeypatch.setattr(R.os, "cpu_count", lambda: 2)
    assert R.beside(beside, "numpy", only=["long"]) == [], "nothing left for the first worker"
    assert R.beside(beside, "numpy", only=["value", "long"]) == ["long"]
    assert R.beside(beside, "numpy", only=["value"]) == []
    monkeypatch.setenv(R.WORKERS_ENV, "1")
    assert R.lanes(beside, "numpy") == 1, "RESNET_KATA_WORKERS=1 asks for one worker"


@needs("torch")
@pytest.mark.torch
def test_a_real_exercise_graded_by_two_workers_gets_the_verdict_of_one(tmp_path, monkeypatch):
    import resnet_kata.runner as R

    ex = catalog.resolve("04_resnet")
    _two_cores(monkeypatch)
    assert R.beside(ex, "torch") == ["training"]
    source = ex.solution("torch").read_text(encoding="utf-8")
    detached = tmp_path / "resnet_torch.py"  # the blocks' output never reaches fc: training fails
    marker = "return self.fc(torch.flatten(self.avgpool(x), 1))"
    assert source.count(marker) == 1
    detached.write_text(source.replace(marker, marker.replace("(x)", "(x.detach())")))
    for impl, status in ((ex.solution("torch"), "pass"), (detached, "fail")):
        split, serial = (run_check(ex, "torch", impl, device="cpu", split=s) for s in (True, False))
        assert split.status == serial.status == status
        assert [(c.name, c.status) for c in split.checks] == [(c.name, c.status) for c in serial.checks]


def test_a_save_is_graded_once_it_is_written_whole(tmp_path, monkeypatch):
    import resnet_kata.watch as W

    path = tmp_path / "dot_np.py"
    path.write_text("")  # a tick fell between the save's truncate and its write
    steps = [lambda: path.write_text(SOLUTION), lambda: None]
    monkeypatch.setattr(W.time, "sleep", lambda s: steps.pop(0)() if steps else None)
    seen = W.settled(path)
    assert seen == W.stamp(path) and seen[1] == len(SOLUTION)
