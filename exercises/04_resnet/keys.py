"""04_resnet's torch-only check: the state_dict equals torchvision's, key for key and shape for shape."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from resnet_kata.checks import Check, Context, fail, fmt_shape
from resnet_kata.checks.networks import NetSpec, cap, group_paths, prepared

from .network import ResNetBuild, layout_line

# measured with torchvision (its versions and device are in the file):
# {model name: {"params": ..., "keys_shapes": {key: shape}, ...}}
REFERENCE = Path(__file__).with_name("torchvision_resnet.json")


def state_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """A torch model's state_dict as {key: shape}."""
    return {k: tuple(int(s) for s in v.shape) for k, v in model.state_dict().items()}


def key_diff(found: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]]) -> list[str]:
    """Missing keys, unexpected keys and shape mismatches, a module per line."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    lines = []
    for prefix in group_paths(missing, list(expected)):
        n = sum(1 for k in missing if k == prefix or k.startswith(prefix + "."))
        lines.append(f"missing: `{prefix}`" + (f" ({n} entries)" if n > 1 else ""))
    for prefix in group_paths(unexpected, list(found)):
        n = sum(1 for k in unexpected if k == prefix or k.startswith(prefix + "."))
        lines.append(f"unexpected: `{prefix}`" + (f" ({n} entries)" if n > 1 else ""))
    for k in expected:
        if k in found and found[k] != expected[k]:
            lines.append(f"shape of `{k}`: yours {fmt_shape(found[k])}, torchvision's "
                         f"{fmt_shape(expected[k])}")
    return lines


def key_hint(lines: list[str]) -> str:
    """The likely mistake behind a key diff."""
    text = "\n".join(lines)
    if "missing: `fc`" in text:
        return " The classifier must be named `fc`."
    if re.search(r"missing: `layer\d\.\d\.downsample`", text):
        return (" A block that changes the shape needs its projection shortcut, registered as "
                "`downsample` (a Sequential of conv then BN: keys downsample.0, downsample.1).")
    if re.search(r"unexpected: `layer\d\.\d+`", text) or re.search(r"missing: `layer\d\.\d+`", text):
        return " The number of blocks per stage differs."
    return ""


def aliases(model: Any, expected: dict[str, tuple[int, ...]]) -> list[tuple[str, str]]:
    """(extra path, torchvision's path) for each module registered under a second name."""
    paths: dict[int, list[str]] = {}
    for path, module in model.named_modules(remove_duplicate=False):
        if path:
            paths.setdefault(id(module), []).append(path)
    prefixes = {k.rsplit(".", 1)[0] for k in expected}
    found = []
    for names in paths.values():
        kept = [n for n in names if n in prefixes or any(p.startswith(n + ".") for p in prefixes)]
        found += [(n, kept[0]) for n in names if kept and n not in kept
                  and not any(n.startswith(o + ".") for o, _k in found)]
    return found


def alias_hint(found: list[tuple[str, str]]) -> str:
    if not found:
        return ""
    extra, original = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return (f" `{extra}` is a second name for `{original}`{more}: the same module registered under "
            "two attributes puts its weights in the state_dict twice, and a strict load fails on "
            f"the extra keys. Keep only torchvision's name (`{original.rsplit('.', 1)[-1]}`).")


def _keys(spec: NetSpec, builds: list[tuple[str, ResNetBuild]]) -> Callable[[Context], str]:
    def run(ctx: Context) -> str:
        reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
        for name, b in builds:
            model = prepared(ctx, spec, b)
            want = {k: tuple(v) for k, v in reference[name]["keys_shapes"].items()}
            lines = key_diff(state_shapes(model), want)
            if lines:
                layout = layout_line(ctx.A, model, b)
                why = alias_hint(aliases(model, want)) or key_hint(lines)
                fail(
                    f"The state_dict of `{b.text()}` does not match torchvision's {name}, so "
                    "`load_state_dict(torchvision_weights)` would fail."
                    + why + (f"\n  {layout}" if layout else "") + "\n"
                    + "\n".join(f"  - {line}" for line in cap(lines)),
                    diff=lines,
                )
        counts = ", ".join(f"{name} {len(reference[name]['keys_shapes'])}" for name, _ in builds)
        return f"state_dict keys and shapes equal torchvision's, key for key ({counts} entries)."

    return run


def keys_check(spec: NetSpec, builds: list[tuple[str, ResNetBuild]]) -> Check:
    """`builds`: (torchvision's model name, the learner's call that should match it)."""
    return Check("keys", "state_dict keys and shapes equal torchvision's", _keys(spec, builds),
                 needs=("api",))
