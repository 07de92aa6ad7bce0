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
        first = spares._spares["numpy"]
        assert _grade(dot, tmp_path, SOLUTION, spares).status == "pass"
        second = spares._spares["numpy"]
        assert second is not first and first.proc.poll() is not None, "a used spare is never reused"
        assert second.alive()
    assert second.proc.poll() is not None, "closing the pool ends the waiting spare"


@needs("torch")
@pytest.mark.torch
def test_a_torch_spare_has_the_framework_imported_before_the_job(tmp_path):
    ex = catalog.resolve("01_residual_block")
    with SparePool() as spares:
        spares.warm("torch")
        time.sleep(0.5)
        spare = spares._spares["torch"]
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
