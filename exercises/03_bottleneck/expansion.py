"""The bottleneck's class attribute: `expansion = 4` on the class itself, and conv3 uses it."""

from __future__ import annotations

from resnet_kata.checks import Check, Context, fail
from resnet_kata.checks.blocks import BlockSpec, Case, build, call_text


def expansion_check(spec: BlockSpec, value: int, case: Case, width: int, path: str = "conv3",
                    name: str = "expansion") -> Check:
    """`<cls>.expansion == value` on the class itself (a builder reads it before any block
    exists), and the block uses it: the layer at `path` outputs value * width channels.

    Read before any forward pass, so a block whose add fails still gets its mistake named.
    """
    cls_name = spec.cls
    why = (f"The block outputs expansion·width channels, and a ResNet builder reads "
           f"`{cls_name}.expansion` before any block exists, to size the next stage.")

    def run(ctx: Context) -> str:
        cls = ctx.get(cls_name)
        if not hasattr(cls, "expansion"):
            try:
                on_instance = hasattr(cls(*case.args, **case.kwargs), "expansion")
            except Exception:  # noqa: BLE001 - the api check reports a constructor that raises
                on_instance = False
            where = (" It is set on each instance (in __init__); define it in the class body."
                     if on_instance else "")
            fail(f"`{cls_name}.expansion` is not defined: expected a class attribute "
                 f"`expansion = {value}`.{where} {why}")
        found = cls.expansion
        if type(found) is not int or found != value:
            fail(f"`{cls_name}.expansion` is {found!r}, expected {value}. {why}")
        block = build(ctx, spec, case, prepare=False)
        out = ctx.A.info(ctx.A.get(block, path)).out_channels
        if out is not None and out != value * width:
            fail(f"`{path}` of `{call_text(spec, case)}` outputs {out} channels, expected "
                 f"expansion·width = {value}·{width} = {value * width}: the last 1x1 conv "
                 "expands the width back, and its BatchNorm and the projection follow.")
        return (f"`{cls_name}.expansion == {value}` on the class; `{path}` outputs "
                f"expansion·width channels.")

    return Check(name, f"Class attribute: {cls_name}.expansion", run)
