"""Training throughput of the kit's ResNet-18/50 against torchvision's, on one GPU.

    python benchmarks/gpu_throughput.py [--batch 256] [--steps 30] [--warmup 10] [--repeats 3]
    python benchmarks/gpu_throughput.py --smoke      # CPU, batch 2, one step: does it run?

For resnet18 and resnet50, in fp32 and in bf16 autocast, both in the channels_last
memory format: images per second of a full training step (forward, cross-entropy,
backward, SGD update) of the reference solution (solutions/04_resnet/resnet_torch.py)
and of torchvision's model, built with the same arguments and measured in the same
process on the same GPU, alternating between the two. Prints a table with the ratio
ours / torchvision; the solution should be within the tolerance (3%): the exit status
is 1 when a ratio falls below 1 - tolerance. Without CUDA or without torchvision it
exits with status 2 and says what is missing (in --smoke mode it runs on the CPU and
skips torchvision when it is absent).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "04_resnet" / "resnet_torch.py"
MODELS = ("resnet18", "resnet50")
PRECISIONS = ("fp32", "bf16")


def load_solution() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kata_resnet_solution", SOLUTION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_torchvision() -> Any | None:
    try:
        import torchvision.models
    except ImportError:
        return None
    return torchvision.models


def images_per_second(model: nn.Module, device: torch.device, precision: str, batch: int,
                      size: int, steps: int, warmup: int) -> float:
    """Time `steps` training steps after `warmup` untimed ones."""
    model = model.to(device, memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return batch * steps / (time.perf_counter() - start)


def measure(builders: dict[str, Any], device: torch.device, precision: str,
            args: argparse.Namespace) -> dict[str, float]:
    """Median images/s per builder, alternating builders so drift hits both alike."""
    runs: dict[str, list[float]] = {name: [] for name in builders}
    for _ in range(args.repeats):
        for name, build in builders.items():
            torch.manual_seed(0)
            model = build()
            runs[name].append(images_per_second(model, device, precision, args.batch, args.size,
                                                args.steps, args.warmup))
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return {name: statistics.median(v) for name, v in runs.items()}


def same_state_dict(ours: nn.Module, theirs: nn.Module) -> bool:
    a = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    b = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    return a == b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tolerance", type=float, default=0.03)
    parser.add_argument("--smoke", action="store_true",
                        help="CPU, batch 2, 32x32, one step: checks that the script runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.batch, args.size, args.steps, args.warmup, args.repeats = 2, 32, 1, 1, 1
        torch.set_num_threads(1)  # a shared CI core: no thread pool to contend for

    if torch.cuda.is_available() and not args.smoke:
        device = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
        where = torch.cuda.get_device_name(device)
    elif args.smoke:
        device, where = torch.device("cpu"), "cpu (smoke mode: timings mean nothing)"
    else:
        print(f"No CUDA device: torch {torch.__version__} sees none. This benchmark compares GPU "
              "throughput; run it on a machine with a GPU, or use --smoke to check it runs.")
        return 2
    tv = load_torchvision()
    if tv is None and not args.smoke:
        print("torchvision is not installed, so there is nothing to compare against. Install the "
              "build matching your torch (pip install torchvision) and run again.")
        return 2

    ours = load_solution()
    versions = f"torch {torch.__version__}" + (f", torchvision {sys.modules['torchvision'].__version__}"
                                               if tv is not None else ", torchvision absent")
    print(f"device: {where}; {versions}")
    print(f"training step, batch {args.batch}, {args.size}x{args.size}, channels_last, SGD; "
          f"median of {args.repeats} x {args.steps} steps after {args.warmup} warm-up steps\n")
    head = f"{'model':<10}{'precision':<11}{'ours img/s':>12}{'torchvision img/s':>19}{'ratio':>8}"
    print(head)
    print("-" * len(head))
    worst = 1.0
    for name in MODELS:
        builders = {"ours": getattr(ours, name)}
        if tv is not None:
            builders["torchvision"] = functools.partial(getattr(tv, name), weights=None)
            if not same_state_dict(builders["ours"](), builders["torchvision"]()):
                print(f"{name}: the solution's state_dict differs from torchvision's; "
                      "the comparison would be meaningless.")
                return 1
        for precision in PRECISIONS:
            speed = measure(builders, device, precision, args)
            theirs = speed.get("torchvision")
            ratio = speed["ours"] / theirs if theirs else None
            if ratio is not None:
                worst = min(worst, ratio)
            print(f"{name:<10}{precision:<11}{speed['ours']:>12.1f}"
                  f"{(f'{theirs:.1f}' if theirs else '-'):>19}"
                  f"{(f'{ratio:.3f}' if ratio else '-'):>8}")
    if tv is None:
        print("\ntorchvision is absent: only the solution was timed.")
        return 0
    ok = worst >= 1 - args.tolerance
    print(f"\nslowest ratio {worst:.3f}; within {args.tolerance:.0%} of torchvision: "
          f"{'yes' if ok else 'no'}")
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
