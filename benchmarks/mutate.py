"""Mutation testing of the reference solutions: does the grader fail every changed solution?

cosmic-ray (https://cosmic-ray.readthedocs.io) makes the mutants: `init` lists every
mutation its core operators can make in a solution file (a `+` made `-`, a `3` made `4`,
`False` made `True`, a loop that never runs, ...) into a session database. This script
grades each mutant with the kit itself, exactly as a learner's file is graded (a fresh
worker process per mutant, the exercise's time limit), and stores the outcome in the same
database, so cosmic-ray's own tools (`cosmic-ray dump`, `cr-report`) read it too:

- killed: some check failed, errored or timed out, or the file did not import;
- survived: every check passed.

For speed, a lane is one long-lived process that grades mutant after mutant in itself, as
the test suite does (the framework is imported once; each mutant stops at its first
failing check, under an alarm). A mutant that hangs or crashes its lane is killed, and the
lane starts again. Every survivor is then graded again the learner's way, by
`runner.run_check` in a fresh worker process with the exercise's time limit, and counts as
a survivor only if it passes there too.

A survivor is either a gap in the grader (fix the checks, rerun) or an equivalent mutant
(it behaves exactly like the solution); the reason for each equivalent one is written in
`benchmarks/mutation/equivalent.toml`, keyed by file, operator and position. The report,
`benchmarks/mutation/report.md`, gives per exercise and framework the mutants, killed,
survived, and each survivor with its diff and its reason.

This runs for hours over all 31 solution files (a few seconds per mutant); it is a
maintainer's tool, not part of the test suite. Requires `pip install cosmic-ray`.

    python benchmarks/mutate.py                           # everything still pending
    python benchmarks/mutate.py --exercise 01,02 --framework torch
    python benchmarks/mutate.py --rerun survived          # after fixing the grader
    python benchmarks/mutate.py --report                  # rewrite the report only
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import itertools
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("RESNET_KATA_LANG", "en")

from resnet_kata import catalog, frameworks  # noqa: E402
from resnet_kata.record import PASS, SKIP, Event  # noqa: E402
from resnet_kata.runner import run_check  # noqa: E402

HERE = Path(__file__).resolve().parent / "mutation"
SESSIONS = HERE / "sessions"      # cosmic-ray's databases (not committed)
RESULTS = HERE / "results"        # one JSON per exercise and framework (committed)
EQUIVALENT = HERE / "equivalent.toml"
REPORT = HERE / "report.md"


NUMBERS = itertools.count(1)  # file names no two lanes share


class Killed(Exception):
    """Raised from the event callback at the first failing check: the mutant is killed,
    and the rest of its checks need not run."""

    def __init__(self, check: str, message: str):
        super().__init__(check)
        self.check, self.message = check, message


def targets(exercises: list[str] | None, fws: list[str] | None) -> list[tuple[catalog.Exercise, str]]:
    out = []
    for ex in catalog.exercises():
        if exercises and not any(ex.id.startswith(e) for e in exercises):
            continue
        for fw in ex.frameworks:
            if fws and fw not in fws:
                continue
            if fw != "numpy" and not frameworks.is_installed(fw):
                print(f"skip {ex.id} {fw}: {fw} is not installed", file=sys.stderr)
                continue
            out.append((ex, fw))
    return out


def session_path(ex: catalog.Exercise, fw: str) -> Path:
    return SESSIONS / f"{ex.id}_{fw}.sqlite"


def open_session(ex: catalog.Exercise, fw: str, fresh: bool):
    """The cosmic-ray session of one solution file: created (all mutants pending) when new,
    or when the solution changed since it was made."""
    from cosmic_ray.commands import init
    from cosmic_ray.work_db import WorkDB

    solution = ex.solution(fw)
    stamp = SESSIONS / f"{ex.id}_{fw}.source"
    path = session_path(ex, fw)
    source = solution.read_text(encoding="utf-8")
    SESSIONS.mkdir(parents=True, exist_ok=True)
    if fresh or not path.exists() or not stamp.exists() or stamp.read_text(encoding="utf-8") != source:
        path.unlink(missing_ok=True)
        db = WorkDB(str(path), WorkDB.Mode.create)
        init([solution], db, {})
        stamp.write_text(source, encoding="utf-8")
        return db
    return WorkDB(str(path), WorkDB.Mode.open)


def grade_here(ex_id: str, fw: str, path: Path, seconds: float) -> dict:
    """Grade one mutant in this process (a lane); stop at its first failing check."""

    from resnet_kata.worker import grade

    def on_event(event: dict) -> None:
        if event.get("event") == Event.CHECK:
            result = event["result"]
            if result["status"] not in (PASS, SKIP):
                raise Killed(result["name"], result.get("message", ""))

    def alarm(*_: object) -> None:
        raise Killed("timeout", f"no verdict within {seconds:.0f} s")

    started = time.perf_counter()
    signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        record = grade(ex_id, fw, path, device="cpu", emit=on_event)
        outcome = {"outcome": "survived" if record.passed else "killed",
                   "by": "" if record.passed else str(record.error_kind or "?"),
                   "message": record.message or ""}
    except Killed as kill:
        outcome = {"outcome": "killed", "by": kill.check, "message": kill.message}
    except BaseException as exc:  # noqa: BLE001 - sys.exit and the like, from the mutant
        outcome = {"outcome": "killed", "by": "raised", "message": repr(exc)}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    outcome["seconds"] = round(time.perf_counter() - started, 2)
    return outcome


def lane_main() -> int:
    """A lane: JSON jobs on stdin, one JSON outcome per line on stdout."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # what the mutants print goes nowhere
    for line in sys.stdin:
        job = json.loads(line)
        outcome = grade_here(job["exercise"], job["framework"], Path(job["path"]), job["seconds"])
        out.write(json.dumps(outcome) + "\n")
    return 0


class Lane:
    """One lane process, started again whenever a mutant hangs or kills it."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        return subprocess.Popen([sys.executable, __file__, "--lane"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=env, start_new_session=True)

    def grade(self, ex: catalog.Exercise, fw: str, code: str, seconds: float) -> dict:
        path = self.workdir / f"mutant_{next(NUMBERS)}_{ex.solution(fw).name}"  # one file per mutant
        path.write_text(code, encoding="utf-8")
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        job = {"exercise": ex.id, "framework": fw, "path": str(path), "seconds": seconds}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        ready, _w, _x = select.select([self.proc.stdout], [], [], seconds + 60)
        line = self.proc.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        code_ = self.proc.poll()
        self.close()
        why = f"the lane ended with code {code_}" if code_ is not None else "the lane hung"
        return {"outcome": "killed", "by": "crash" if code_ is not None else "timeout",
                "message": why, "seconds": None}

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None


def confirm(ex: catalog.Exercise, fw: str, code: str, workdir: Path) -> dict:
    """Grade a survivor the learner's way: a fresh worker process, the exercise's limit."""
    path = workdir / f"survivor_{next(NUMBERS)}_{ex.solution(fw).name}"  # lanes confirm at once
    path.write_text(code, encoding="utf-8")
    record = run_check(ex, fw, path, device="cpu")
    if record.passed:
        return {"outcome": "survived", "by": "", "message": "", "seconds": round(record.seconds, 2)}
    by = record.error_kind or next((c.name for c in record.checks if c.status not in (PASS, SKIP)), "?")
    message = record.message or next((c.message for c in record.checks if c.status not in (PASS, SKIP)), "")
    return {"outcome": "killed", "by": str(by), "message": message, "seconds": round(record.seconds, 2)}


def run_target(ex: catalog.Exercise, fw: str, lanes: int, rerun: str, fresh: bool) -> None:
    import cosmic_ray.plugins
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    db = open_session(ex, fw, fresh)
    source = ex.solution(fw).read_text(encoding="utf-8")
    if rerun:
        done = {job for job, res in db.results if res.test_outcome == TestOutcome(rerun)}
        spans = annotation_spans(source)  # equivalent by construction: not graded again
        items = [item for item in db.work_items if item.job_id in done and not in_annotation(
            {"line": item.mutations[0].start_pos[0], "column": item.mutations[0].start_pos[1]},
            spans)]
    else:
        items = list(db.pending_work_items)
    total = db.num_work_items
    print(f"{ex.id} {fw}: {total} mutants, {len(items)} to grade", flush=True)
    if not items:
        db.close()
        write_results(ex, fw)
        return
    workdir = Path(tempfile.mkdtemp(prefix=f"mutants-{ex.id}-{fw}-"))
    baseline = confirm(ex, fw, source, workdir)
    if baseline["outcome"] != "survived":
        print(f"  the solution itself fails ({baseline['by']}): {baseline['message'][:200]}", flush=True)
        db.close()
        return
    seconds = min(float(ex.time_budget), max(30.0, 4 * baseline["seconds"]))
    lock = threading.Lock()
    free = queue.SimpleQueue()
    all_lanes = [Lane(workdir) for _ in range(lanes)]
    for lane in all_lanes:
        free.put(lane)
    done_count = [0]

    def one(item) -> None:
        (mutation,) = item.mutations
        operator = cosmic_ray.plugins.get_operator(mutation.operator_name)(**(mutation.operator_args or {}))
        code = mutate_code(source, operator, mutation.occurrence)
        if code is None:
            result = WorkResult(worker_outcome=WorkerOutcome.NO_TEST)
        else:
            lane = free.get()
            try:
                graded = lane.grade(ex, fw, code, seconds)
            finally:
                free.put(lane)
            if graded["outcome"] == "survived":
                graded = confirm(ex, fw, code, workdir)
            outcome = TestOutcome.SURVIVED if graded["outcome"] == "survived" else TestOutcome.KILLED
            result = WorkResult(worker_outcome=WorkerOutcome.NORMAL, test_outcome=outcome,
                                output=json.dumps(graded), diff=unified_diff(source, code, ex, fw))
        with lock:
            db.set_result(item.job_id, result)
            done_count[0] += 1
            if result.test_outcome == TestOutcome.SURVIVED:
                print(f"  survived: {mutation.operator_name} at line {mutation.start_pos[0]}", flush=True)
            if done_count[0] % 20 == 0:
                print(f"  {done_count[0]}/{len(items)}", flush=True)

    try:
        with concurrent.futures.ThreadPoolExecutor(lanes) as pool:
            for future in [pool.submit(one, item) for item in items]:
                future.result()
    finally:
        for lane in all_lanes:
            lane.close()
        db.close()
        shutil.rmtree(workdir, ignore_errors=True)
    write_results(ex, fw)


def unified_diff(before: str, after: str, ex: catalog.Exercise, fw: str) -> str:
    import difflib

    name = f"solutions/{ex.id}/{ex.solution(fw).name}"
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                        name, name, n=0))


def write_results(ex: catalog.Exercise, fw: str) -> None:
    """The session's outcomes, as a JSON file the report is made from."""
    from cosmic_ray.work_db import WorkDB

    db = WorkDB(str(session_path(ex, fw)), WorkDB.Mode.open)
    results = dict(db.results)
    rows = []
    for item in db.work_items:
        (mutation,) = item.mutations
        res = results.get(item.job_id)
        output = res.output if res is not None and res.output else ""
        graded = json.loads(output) if output.startswith("{") else {}
        rows.append({
            "operator": mutation.operator_name, "occurrence": mutation.occurrence,
            "line": mutation.start_pos[0], "column": mutation.start_pos[1],
            "outcome": (res.test_outcome.value if res is not None and res.test_outcome else
                        (res.worker_outcome.value if res is not None else "pending")),
            "by": graded.get("by", ""), "message": graded.get("message", "")[:300],
            "seconds": graded.get("seconds"), "diff": res.diff if res is not None else "",
        })
    db.close()
    rows.sort(key=lambda r: (r["line"], r["column"], r["operator"], r["occurrence"]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{ex.id}_{fw}.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the annotations are, in a module that never evaluates them
    (`from __future__ import annotations`): a mutant there is equivalent by construction."""
    import ast

    tree = ast.parse(source)
    future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
                 and any(a.name == "annotations" for a in n.names) for n in tree.body)
    if not future:
        return []
    spans = []
    for node in ast.walk(tree):
        notes = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            notes = [a.annotation for a in [*args.posonlyargs, *args.args, *args.kwonlyargs,
                                            args.vararg, args.kwarg] if a is not None]
            notes.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            notes = [node.annotation]
        spans += [((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset)) for n in notes if n]
    return spans


def in_annotation(row: dict, spans) -> bool:
    at = (row["line"], row["column"])
    return any(start <= at < end for start, end in spans)


ANNOTATION = "in an annotation, which this module never evaluates (`from __future__ import annotations`)."


def key_of(ex_id: str, fw: str, row: dict) -> str:
    return f"{ex_id}/{fw}/{row['operator']}@{row['line']}:{row['column']}"


def write_report() -> None:
    """benchmarks/mutation/report.md from the committed results and the reasons."""
    import tomllib  # Python 3.11

    reasons = tomllib.loads(EQUIVALENT.read_text(encoding="utf-8")) if EQUIVALENT.exists() else {}
    reasons = reasons.get("equivalent", {})
    lines = ["# Mutation testing of the reference solutions", "",
             "Made by `python benchmarks/mutate.py` (cosmic-ray's core operators make the mutants; the "
             "kit grades each one as it grades a learner's file). A mutant is *killed* when some "
             "check fails, errors or times out; a *survivor* passes every check and is either "
             "equivalent to the solution (the reason is given) or a gap still open.", "",
             "| exercise | framework | mutants | killed | survived | equivalent | open | pending |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    totals = [0] * 6
    sections = []
    used = set()
    for path in sorted(RESULTS.glob("*.json")):
        ex_id, fw = path.stem.rsplit("_", 1)
        rows = json.loads(path.read_text(encoding="utf-8"))
        rows = [r for r in rows if r["outcome"] != "no-test"]
        killed = sum(r["outcome"] == "killed" for r in rows)
        survivors = [r for r in rows if r["outcome"] == "survived"]
        pending = sum(r["outcome"] not in ("killed", "survived") for r in rows)
        spans = annotation_spans(catalog.resolve(ex_id).solution(fw).read_text(encoding="utf-8"))

        def reason_for(row: dict, ex_id=ex_id, fw=fw, spans=spans) -> str | None:
            return reasons.get(key_of(ex_id, fw, row)) or (ANNOTATION if in_annotation(row, spans) else None)

        explained = [r for r in survivors if reason_for(r)]
        used.update(key_of(ex_id, fw, r) for r in explained)
        open_ = [r for r in survivors if not reason_for(r)]
        figures = [len(rows), killed, len(survivors), len(explained), len(open_), pending]
        totals = [a + b for a, b in zip(totals, figures, strict=True)]
        lines.append(f"| {ex_id} | {fw} | " + " | ".join(map(str, figures)) + " |")
        if survivors:
            sections += [f"## {ex_id}, {fw}", ""]
            for r in survivors:
                reason = reason_for(r)
                sections += [f"- `{r['operator']}`, line {r['line']}: "
                             + (f"equivalent: {reason}" if reason else "**open**"), "",
                             "  ```diff", *["  " + d for d in r["diff"].splitlines()[2:]], "  ```", ""]
    lines.append("| **all** | | " + " | ".join(f"**{t}**" for t in totals) + " |")
    stale = sorted(set(reasons) - used)
    if stale:
        sections += ["## Reasons with no survivor any more", "", *[f"- `{k}`" for k in stale], ""]
    REPORT.write_text("\n".join(lines + [""] + sections).rstrip() + "\n", encoding="utf-8")
    print(f"wrote {REPORT.relative_to(HERE.parents[1])}: {totals[0]} mutants, {totals[1]} killed, "
          f"{totals[2]} survived ({totals[3]} equivalent, {totals[4]} open), {totals[5]} pending")


def _split(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exercise", help="comma-separated ids or prefixes (default: all)")
    parser.add_argument("--framework", help="comma-separated: torch, tf, numpy (default: all)")
    parser.add_argument("--lanes", type=int, default=2, help="mutants graded at once (default 2)")
    parser.add_argument("--rerun", choices=["survived", "killed"], default="",
                        help="grade these again (after a change to the grader)")
    parser.add_argument("--fresh", action="store_true", help="make the sessions anew")
    parser.add_argument("--report", action="store_true", help="only rewrite the report")
    parser.add_argument("--lane", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.lane:
        return lane_main()
    if not args.report:
        try:
            import cosmic_ray  # noqa: F401
        except ImportError:
            print("cosmic-ray is not installed: pip install cosmic-ray", file=sys.stderr)
            return 2
        for ex, fw in targets(_split(args.exercise), _split(args.framework)):
            started = time.perf_counter()
            run_target(ex, fw, args.lanes, args.rerun, args.fresh)
            print(f"  {ex.id} {fw}: {time.perf_counter() - started:.0f} s", flush=True)
    write_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
