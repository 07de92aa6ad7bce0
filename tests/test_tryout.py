"""The notebooks' try-out cells: every exercise's `[tryout]` snippet, per framework.

Each snippet runs after its exercise's reference solution, in the same namespace (as in
the notebook, where the `%%kata` cell above has defined the learner's code), and must
exit cleanly and print exactly what the comments of its `print(...)` lines say:

    print(block(x).shape)  # torch.Size([2, 8, 5, 5])

One driver process per framework imports the framework once and then runs every
snippet in a fresh child process of its own (forked, or `python -c` where there is no
fork), so a snippet sees nothing of another one; the drivers run side by side.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from resnet_kata import catalog, frameworks

from .conftest import exercise_framework_params

EXERCISES = catalog.exercises()
PAIRS = exercise_framework_params()
CHILD_LIMIT_S = 120  # one snippet, after its solution (they take about a second)
MAX_LINES = 12  # "a few lines": the statement's own examples, not a program
FRAMEWORK_ORDER = ("tf", "torch", "numpy")  # the slowest first: the two workers end together

# The child: the solution's code, then the snippet, in one namespace.
CHILD = """
import sys
ns = {"__name__": "__main__"}
exec(compile(open(sys.argv[1], encoding="utf-8").read(), sys.argv[1], "exec"), ns)
exec(compile(sys.argv[2], "<tryout>", "exec"), ns)
"""

# The driver: stdin holds {framework, out_dir, jobs: [[solution, snippet], ...], child,
# limit}; job i writes i.out and i.err in out_dir; stdout gets the exit codes as JSON.
DRIVER = """
import json, os, signal, subprocess, sys, traceback
task = json.load(sys.stdin)
framework, out_dir, jobs = task["framework"], task["out_dir"], task["jobs"]
CHILD, LIMIT = task["child"], task["limit"]
if framework == "torch":
    import torch
elif framework == "tf":
    import keras, tensorflow
import numpy

def forked(i, solution, snippet):
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd, ext in ((1, "out"), (2, "err")):
                path = os.path.join(out_dir, f"{i}.{ext}")
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
            signal.alarm(LIMIT)
            ns = {"__name__": "__main__"}
            exec(compile(open(solution, encoding="utf-8").read(), solution, "exec"), ns)
            exec(compile(snippet, "<tryout>", "exec"), ns)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

def spawned(i, solution, snippet):
    base = os.path.join(out_dir, str(i))
    with open(base + ".out", "w") as out, open(base + ".err", "w") as err:
        try:
            return subprocess.run([sys.executable, "-c", CHILD, solution, snippet], stdout=out, stderr=err,
                                  timeout=LIMIT).returncode
        except subprocess.TimeoutExpired:
            return -9

run = forked if hasattr(os, "fork") else spawned
print(json.dumps([run(i, solution, snippet) for i, (solution, snippet) in enumerate(jobs)]))
"""


def expected_output(snippet: str) -> list[str]:
    """What the snippet says it prints: the comment after `  # ` on each print line."""
    lines = []
    for line in snippet.splitlines():
        if line.lstrip().startswith("print("):
            code, sep, comment = line.partition("  # ")
            assert sep and comment.strip(), f"a print line without its expected output: {line!r}"
            lines.append(comment.strip())
    return lines


def _environment() -> dict[str, str]:
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
    # two drivers share the machine: one thread each keeps them from fighting over the cores
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        env.setdefault(name, "1")
    return env


def _drive(framework: str, pairs: list[catalog.Exercise], out_dir: Path) -> dict[str, tuple[int, str, str]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    task = {
        "framework": framework, "out_dir": str(out_dir), "child": CHILD, "limit": CHILD_LIMIT_S,
        "jobs": [[str(ex.solution(framework)), ex.tryout[framework]] for ex in pairs],
    }
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER], input=json.dumps(task),
        capture_output=True, text=True, env=_environment(), timeout=CHILD_LIMIT_S * len(pairs) + 60,
    )
    if proc.returncode != 0:
        failed = (proc.returncode, "", f"the {framework} driver failed:\n{proc.stderr[-4000:]}")
        return {ex.id: failed for ex in pairs}
    codes = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        ex.id: (code, (out_dir / f"{i}.out").read_text(encoding="utf-8", errors="replace"),
                (out_dir / f"{i}.err").read_text(encoding="utf-8", errors="replace"))
        for i, (ex, code) in enumerate(zip(pairs, codes, strict=True))
    }


@pytest.fixture(scope="module")
def outputs(request, tmp_path_factory) -> dict[tuple[str, str], tuple[int, str, str]]:
    """(exit code, stdout, stderr) of every selected snippet whose framework is installed."""
    wanted: dict[str, list[catalog.Exercise]] = {}
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.module is sys.modules[__name__] and "ex" in params and "fw" in params:
            fw = params["fw"]
            if fw == "numpy" or frameworks.is_installed(fw):
                wanted.setdefault(fw, []).append(params["ex"])
    root = tmp_path_factory.mktemp("tryout")
    order = sorted(wanted, key=FRAMEWORK_ORDER.index)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {fw: pool.submit(_drive, fw, wanted[fw], root / fw) for fw in order}
        return {(ex_id, fw): result
                for fw, future in futures.items() for ex_id, result in future.result().items()}


@pytest.mark.parametrize("ex", EXERCISES, ids=[ex.id for ex in EXERCISES])
def test_every_framework_has_a_short_tryout(ex):
    assert set(ex.tryout) == set(ex.frameworks), "one [tryout] snippet per framework of the exercise"
    stems = {Path(name).stem for name in ex.files.values()}
    for fw, snippet in ex.tryout.items():
        lines = [line for line in snippet.splitlines() if line.strip()]
        assert 2 <= len(lines) <= MAX_LINES, f"{fw}: {len(lines)} lines"
        tree = ast.parse(snippet)
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert not imported & stems, f"{fw}: the snippet imports the learner's file (the notebook defines it)"
        assert expected_output(snippet), f"{fw}: the snippet prints nothing to check by eye"


@pytest.mark.parametrize("ex, fw", PAIRS)
def test_tryout_runs_on_the_solution_and_prints_what_it_says(ex, fw, outputs):
    code, out, err = outputs[ex.id, fw]
    assert code == 0, f"exit {code}\n{out[-2000:]}\n{err[-4000:]}"
    printed = [line.strip() for line in out.splitlines() if line.strip()]
    assert printed == expected_output(ex.tryout[fw]), f"stderr:\n{err[-2000:]}"
