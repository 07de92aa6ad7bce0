"""How long `resnet-kata check` takes on a passing solution, beside the bare import.

    python benchmarks/check_latency.py [--runs 5] [--exercise 01_residual_block]

For each framework: the median wall time of `python -c "import <framework>"` and
of `resnet-kata check EXERCISE --impl <solution> --json`, and their difference
(what the kit adds: process start, checks, training run). Targets on a 2-core
CPU: torch <= import + 2 s, tf <= import + 4 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

from resnet_kata import catalog

IMPORTS = {"torch": "import torch", "tf": "import tensorflow, keras"}
TARGETS = {"torch": 2.0, "tf": 4.0}


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}"
                         f"{done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--exercise", default="01_residual_block")
    args = parser.parse_args()
    ex = catalog.resolve(args.exercise)
    exe = shutil.which("resnet-kata") or sys.executable
    base = [exe] if exe.endswith("resnet-kata") else [exe, "-m", "grader"]
    print(f"{ex.id}: median of {args.runs} runs (seconds)")
    print(f"{'framework':<10}{'import':>8}{'check':>8}{'added':>8}{'target':>8}  verdict")
    worst = 0
    for fw in ex.frameworks:
        imp = statistics.median(timed([sys.executable, "-c", IMPORTS[fw]]) for _ in range(args.runs))
        cmd = base + ["check", ex.id, "--framework", fw, "--impl", str(ex.solution(fw)), "--json"]
        chk = statistics.median(timed(cmd) for _ in range(args.runs))
        added = chk - imp
        ok = added <= TARGETS[fw]
        worst |= not ok
        print(f"{fw:<10}{imp:>8.2f}{chk:>8.2f}{added:>8.2f}{TARGETS[fw]:>8.1f}  "
              f"{'ok' if ok else 'over target'}")
    return int(worst)


if __name__ == "__main__":
    sys.exit(main())
