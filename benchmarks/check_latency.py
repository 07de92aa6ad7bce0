"""How long `resnet-kata check` takes on a passing solution, beside the bare import, and how
long `watch` takes from a save to the verdict.

    python benchmarks/check_latency.py [--runs 5] [--exercise 01 ...] [--framework torch] [--watch-runs 5]

For each exercise and framework: the median wall time of `python -c "import <framework>"`
(the floor) and of a cold `resnet-kata check EXERCISE --impl <solution> --json`, run in turn,
and the median of each pair's difference (what the kit adds: process start, checks, training).
With `--watch-runs N`, for each exercise also the median time from writing the file to the
verdict on screen in `resnet-kata watch` (a spare worker has imported the framework by then).
Targets on a 2-core CPU are printed beside each figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from resnet_kata import catalog

IMPORTS = {"torch": "import torch", "tf": "import tensorflow, keras", "numpy": "import numpy"}
HEAVY_TF = {"04", "05", "09", "11", "14", "15"}


def target(ex: catalog.Exercise, fw: str) -> float:
    """What the kit may add over the import floor, cold."""
    if fw == "tf":
        return 6.0 if ex.number in HEAVY_TF else 3.0
    return 1.5


def watch_target(ex: catalog.Exercise, fw: str) -> float | None:
    return {("01", "torch"): 0.5, ("01", "tf"): 1.5, ("04", "torch"): 1.5, ("04", "tf"): 6.0}.get(
        (ex.number, fw))


def timed(cmd: list[str], **kw) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}"
                         f"{done.stderr[-2000:]}")
    return elapsed


def kata(*args: str) -> list[str]:
    return [sys.executable, "-m", "resnet_kata", *args]


SETTLE = {"torch": 4.0, "tf": 8.0, "numpy": 1.5}  # seconds from a verdict to the next save


def watch_latency(ex: catalog.Exercise, fw: str, runs: int) -> float:
    """Median seconds from writing the learner's file to the verdict line in `watch`."""
    with tempfile.TemporaryDirectory() as ws:
        env = dict(os.environ, RESNET_KATA_WORKSPACE=ws, PYTHONUNBUFFERED="1", COLUMNS="120")
        subprocess.run(kata("start", ex.id, "--framework", fw), env=env, capture_output=True, check=True)
        learner = Path(ws) / ex.id / ex.files[fw]
        source = ex.solution(fw).read_text()
        proc = subprocess.Popen(kata("watch", ex.id, "--framework", fw), env=env, text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            _wait(proc, "Watching")
            times = []
            for _ in range(runs):
                # a learner reads the verdict and edits before the next save; by then the
                # next spare has imported the framework (about 4 s for TensorFlow here). A
                # save sooner than that waits for the spare's imports.
                time.sleep(SETTLE[fw])
                start = time.perf_counter()
                learner.write_text(source)
                _wait(proc, "checks passed")
                times.append(time.perf_counter() - start)
                _wait(proc, "Watching")
            print(f"  watch {ex.id} {fw}: " + ", ".join(f"{t:.2f}" for t in times), file=sys.stderr)
            return statistics.median(times)
        finally:
            proc.terminate()
            proc.wait(10)


def _wait(proc: subprocess.Popen, phrase: str) -> None:
    for line in proc.stdout:
        if phrase in line:
            return
    raise SystemExit(f"watch ended before {phrase!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--watch-runs", type=int, default=0)
    parser.add_argument("--exercise", nargs="*", default=[])
    parser.add_argument("--framework", choices=("torch", "tf", "numpy"))
    args = parser.parse_args()
    items = [catalog.resolve(n) for n in args.exercise] or list(catalog.exercises())
    print(f"median of {args.runs} runs (seconds); watch: median of {args.watch_runs}")
    print(f"{'exercise':<24}{'fw':<7}{'import':>7}{'check':>7}{'added':>7}{'target':>7}"
          f"{'watch':>7}{'target':>7}  verdict")
    worst = 0
    for ex in items:
        for fw in ex.frameworks:
            if args.framework and fw != args.framework:
                continue
            cmd = kata("check", ex.id, "--framework", fw, "--impl", str(ex.solution(fw)), "--json")
            # the import and the check in turn, paired: this machine's speed drifts by tens of
            # per cent within minutes, and a pair shares its moment
            pairs = [(timed([sys.executable, "-c", IMPORTS[fw]]), timed(cmd)) for _ in range(args.runs)]
            floor = statistics.median(p[0] for p in pairs)
            chk = statistics.median(p[1] for p in pairs)
            added = statistics.median(c - i for i, c in pairs)
            ok = added <= target(ex, fw)
            w, wt = "", ""
            if args.watch_runs:
                seconds = watch_latency(ex, fw, args.watch_runs)
                w = f"{seconds:.2f}"
                limit = watch_target(ex, fw)
                wt = f"{limit:.1f}" if limit else ""
                ok &= limit is None or seconds <= limit
            worst |= not ok
            print(f"{ex.id:<24}{fw:<7}{floor:>7.2f}{chk:>7.2f}{added:>7.2f}{target(ex, fw):>7.1f}"
                  f"{w:>7}{wt:>7}  {'ok' if ok else 'over target'}", flush=True)
    return int(worst)


if __name__ == "__main__":
    sys.exit(main())
