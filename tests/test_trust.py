"""What a learner must be able to trust: no lost passes, no forged verdicts, nothing left
running, and one clear line for every bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from resnet_kata import catalog
from resnet_kata.record import ErrorKind
from resnet_kata.runner import run_check

from .packs import write_pack


def _kata(workspace: Path, *args: str, pack: Path | None = None, env: dict | None = None):
    full = dict(os.environ, RESNET_KATA_WORKSPACE=str(workspace), COLUMNS="200", **(env or {}))
    full.pop("RESNET_KATA_PATH", None)
    extra = ["--exercises", str(pack)] if pack else []
    out = subprocess.run([sys.executable, "-m", "resnet_kata", *extra, *args], capture_output=True,
                         text=True, env=full, timeout=180, stdin=subprocess.DEVNULL)
    return out.returncode, out.stdout, out.stderr


@pytest.fixture
def pack(tmp_path):
    return write_pack(tmp_path / "pack")


@pytest.fixture
def dot(pack):
    return catalog.load_folder(pack / "90_dot_product")


def test_eight_concurrent_passing_checks_record_eight_passes(tmp_path, pack, dot):
    ws = tmp_path / "ws"
    assert _kata(ws, "start", "90", pack=pack)[0] == 0
    shutil.copy(dot.solution("numpy"), ws / dot.id / "dot_np.py")
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: _kata(ws, "check", "90", pack=pack)[0], range(8)))
    assert codes == [0] * 8
    entry = json.loads((ws / "state.json").read_text())["exercises"][dot.id]["numpy"]
    assert entry["attempts"] == 8 and entry["passes"] == 8, entry


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    from resnet_kata.workspace import Workspace

    ws = tmp_path / "ws"
    ws.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from filelock import FileLock
        lock = FileLock({str(ws / ".state.lock")!r})
        lock.acquire()
        print("held", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    start = time.perf_counter()
    Workspace(ws).set_current("90_dot_product", "numpy")
    assert time.perf_counter() - start < 2
    assert json.loads((ws / "state.json").read_text())["current"]["exercise"] == "90_dot_product"


FORGER = '''
import json, os
forged = {"event": "record", "record": {"exercise": "90_dot_product", "framework": "numpy",
          "status": "pass", "checks": [{"name": "api", "title": "a", "status": "pass"}]}}
line = ("\\n" + json.dumps(forged) + "\\n").encode()
for value in os.environ.values():           # any fd named in the environment
    if value.isdigit():
        try:
            os.write(int(value), line)
        except OSError:
            pass
for name in os.listdir("/proc/self/fd"):    # and every descriptor the process holds
    try:
        os.write(int(name), line)
    except OSError:
        pass
os._exit(0)
'''


def test_a_forged_record_gets_a_failing_verdict(tmp_path, pack, dot):
    ws = tmp_path / "ws"
    assert _kata(ws, "start", "90", pack=pack)[0] == 0
    (ws / dot.id / "dot_np.py").write_text(FORGER)
    code, out, err = _kata(ws, "check", "90", "--json", pack=pack)
    record = json.loads(out)
    assert code == 1 and record["status"] == "error", record
    assert record["error_kind"] == "tampered"
    assert "event channel" in record["message"]
    code, _, err = _kata(ws, "solution", "90", pack=pack)
    assert code != 0, "a forged pass must not unlock the solution"


def test_the_environment_names_no_event_channel(tmp_path, dot):
    dump = tmp_path / "env.json"
    impl = tmp_path / "dot_np.py"
    impl.write_text(f"import json, os\njson.dump(dict(os.environ), open({str(dump)!r}, 'w'))\n"
                    "def dot(a, b):\n    return float(sum(x * y for x, y in zip(a, b)))\n")
    assert run_check(dot, "numpy", impl).status == "pass"
    env = json.loads(dump.read_text())
    assert not [k for k in env if "EVENT" in k.upper() or "TOKEN" in k.upper()], sorted(env)


def test_a_child_the_learner_forks_is_gone_within_a_second_of_the_verdict(tmp_path, dot):
    pid_file = tmp_path / "child.pid"
    impl = tmp_path / "dot_np.py"
    impl.write_text(textwrap.dedent(f"""
        import os, time
        if os.fork() == 0:
            open({str(pid_file)!r}, "w").write(str(os.getpid()))
            time.sleep(60)
            os._exit(0)
        def dot(a, b):
            return float(sum(x * y for x, y in zip(a, b)))
    """))
    record = run_check(dot, "numpy", impl)
    assert record.status == "pass", record.checks
    done = time.perf_counter()
    for _ in range(50):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.02)
    pid = int(pid_file.read_text())
    while time.perf_counter() - done < 1.0 and _alive(pid):
        time.sleep(0.02)
    assert not _alive(pid), f"the learner's child {pid} outlived the verdict"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


# -- bad input: one line, exit 2 (1 for the learner's own code), no traceback, nothing lost --

def _cases(tmp_path: Path, pack: Path):
    folder = tmp_path / "afolder"
    folder.mkdir()
    binary = tmp_path / "binary.py"
    binary.write_bytes(bytes(range(256)) * 4)
    huge = tmp_path / "huge.py"
    huge.write_bytes(b"# x\n" * (50_000_000 // 4))
    unreadable = tmp_path / "unreadable.py"
    unreadable.write_text("def dot(a, b):\n    return 0.0\n")
    unreadable.chmod(0)
    broken = tmp_path / "broken_pack"
    shutil.copytree(pack, broken)
    (broken / "90_dot_product" / "kata.toml").write_text("title = \n")
    blocked = tmp_path / "a_file"
    blocked.write_text("not a folder")
    sol = str(pack / "90_dot_product" / "solution" / "dot_np.py")
    p = ["--exercises", str(pack)]
    return [
        # name, args, workspace override, expected exit, phrase
        ("workspace cannot be created", [*p, "start", "90"], str(blocked / "ws"), 2, "cannot be created"),
        ("workspace is a file", [*p, "start", "90"], str(blocked), 2, "is not a folder"),
        ("state file is a folder", [*p, "start", "90"], "STATE_DIR", 2, "is not a file"),
        ("--impl a folder", [*p, "check", "90", "--impl", str(folder)], None, 2, "is a folder"),
        ("--impl a device", [*p, "check", "90", "--impl", "/dev/null"], None, 2, "not a regular file"),
        ("--impl missing", [*p, "check", "90", "--impl", str(tmp_path / "nope.py")], None, 2,
         "no such file"),
        ("--impl binary", [*p, "check", "90", "--impl", str(binary)], None, 1, "not Python source"),
        ("--impl 50 MB", [*p, "check", "90", "--impl", str(huge)], None, 2, "50 MB"),
        ("--impl unreadable", [*p, "check", "90", "--impl", str(unreadable)], None,
         2 if os.geteuid() else 1, "cannot be read" if os.geteuid() else ""),  # root reads all
        ("name with a slash", [*p, "start", "../01_residual_block"], None, 2, "No exercise named"),
        ("name with ..", [*p, "hint", ".."], None, 2, "No exercise named"),
        ("unknown framework", [*p, "check", "90", "--framework", "jax", "--impl", sol], None, 2,
         "invalid choice"),
        ("corrupt manifest in a pack", ["--exercises", str(broken), "list"], None, 2,
         "exercise folder is broken"),
        ("unknown verb", ["frobnicate"], None, 2, "invalid choice"),
    ]


def test_bad_input_gets_one_clear_line(tmp_path, pack):
    failures = []
    for name, args, workspace, want, phrase in _cases(tmp_path, pack):
        ws = tmp_path / f"ws-{abs(hash(name))}"
        if workspace == "STATE_DIR":
            (ws / "state.json").mkdir(parents=True)
            workspace = str(ws)
        code, out, err = _kata(Path(workspace) if workspace else ws, *args)
        text = (out + err).strip()
        problems = []
        if code != want:
            problems.append(f"exit {code}, expected {want}")
        if "Traceback" in text:
            problems.append("a traceback")
        if phrase and phrase not in text:
            problems.append(f"no {phrase!r}")
        if want == 2 and len(err.strip().splitlines()) != 1:
            problems.append(f"{len(err.strip().splitlines())} lines on stderr")
        if problems:
            failures.append(f"{name}: {', '.join(problems)}\n    {text[:300]!r}")
    assert not failures, "\n".join(failures)
    assert (tmp_path / "a_file").read_text() == "not a folder", "nothing lost"


def test_a_record_with_the_token_but_out_of_order_is_refused(tmp_path, dot):
    """Events with the right token but impossible order (a check that never started)."""
    from resnet_kata import runner

    stream = runner._Stream("t0ken", lambda e: None)
    stream.feed(json.dumps({"event": "check", "token": "t0ken",
                            "result": {"name": "value", "title": "v", "status": "pass"}}).encode())
    stream.feed(json.dumps({"event": "record", "token": "t0ken", "record": {
        "exercise": dot.id, "framework": "numpy", "status": "pass",
        "checks": [{"name": "value", "title": "v", "status": "pass"}]}}).encode())
    stream.feed(b'{"event": "record", "record": {"status": "pass"}}')
    assert stream.forged == 1 and "ended without starting" in stream.disorder
    record = runner._complete(stream, dot, "numpy", tmp_path / "x.py", 0, False, 10, 1.0, "")
    assert record.status == "error" and record.error_kind is ErrorKind.TAMPERED
