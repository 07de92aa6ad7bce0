"""A small exercise pack written from outside the kit, for the tests of packs and records.

`write_pack(folder)` lays out `folder/90_dot_product/` (numpy: no framework to import,
so it grades fast) with a manifest, statement, stub, solution, docs page and checks that
import a sibling module of their folder; `91_torch_norm` is a torch exercise of the pack.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

CHECKS = '''
"""Checks for 90_dot_product."""

from resnet_kata.checks import Check, fail
from resnet_kata.checks.calls import call

from .reference import dot_reference


def api(ctx):
    ctx.get("dot", "function")
    return "defines dot(a, b)"


def value(ctx):
    rng = ctx.rng(1)
    a, b = rng.normal(size=7), rng.normal(size=7)
    got = call(ctx, "dot", a, b, case="on two vectors of length 7")
    want = dot_reference(a, b)
    if not isinstance(got, float) or abs(got - want) > 1e-9:
        fail(f"dot(a, b) returned {got!r} on two vectors of length 7; expected {want:.6f}, "
             "the sum of the element-wise products.")
    return "the sum of the element-wise products"


def checks(framework):
    return [Check("api", "Defines dot", api, gate=True), Check("value", "Computes a . b", value)]
'''

MANIFEST = '''
title = "A dot product"
order = 90
difficulty = "easy"
frameworks = ["numpy"]
time_budget = 20
doc = "dot.md"
summary = "The dot product of two vectors, as a float."
support = ["reference.py", "dot.md"]
hints = [
    "Multiply the two vectors element by element, then add the products up.",
    "numpy does both in one call, but a loop over zip(a, b) is fine too.",
    "return float(sum(x * y for x, y in zip(a, b)))",
]
followups = ["Why is the dot product of two unit vectors their cosine similarity?"]

[files]
numpy = "dot_np.py"
'''

TORCH_MANIFEST = '''
title = "A vector norm in torch"
order = 91
difficulty = "easy"
frameworks = ["torch"]
doc = "norm.md"
support = ["norm.md"]
hints = ["sum the squares, then take the square root of the sum"]

[files]
torch = "norm_torch.py"
'''

STUB = '''
def dot(a, b):
    """The dot product of the vectors a and b, as a Python float."""
    raise NotImplementedError("dot")
'''

SOLUTION = '''
def dot(a, b):
    """The dot product of the vectors a and b, as a Python float."""
    return float(sum(x * y for x, y in zip(a, b, strict=True)))
'''


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def write_pack(folder: Path, passing_stub: bool = False) -> Path:
    ex = folder / "90_dot_product"
    _write(ex / "kata.toml", MANIFEST)
    _write(ex / "README.md", "# A dot product\n\nWrite `dot(a, b)`: the sum of `a[i] * b[i]`, a float.\n")
    _write(ex / "dot.md", "# A dot product\n\nQuestions about dot products.\n")
    _write(ex / "dot_np.py", SOLUTION if passing_stub else STUB)
    _write(ex / "solution" / "dot_np.py", SOLUTION)
    _write(ex / "reference.py", '"""The reference the checks compare with."""\n\n\n'
           "def dot_reference(a, b):\n    return float(sum(x * y for x, y in zip(a, b)))\n")
    _write(ex / "checks.py", CHECKS)
    tex = folder / "91_torch_norm"
    _write(tex / "kata.toml", TORCH_MANIFEST)
    _write(tex / "README.md", "# A vector norm\n\nWrite `norm(v)`.\n")
    _write(tex / "norm.md", "# Norms\n")
    _write(tex / "norm_torch.py", "def norm(v):\n    raise NotImplementedError\n")
    _write(tex / "solution" / "norm_torch.py", "def norm(v):\n    return float((v * v).sum().sqrt())\n")
    _write(tex / "checks.py", '''
        """Checks for 91_torch_norm."""

        from resnet_kata.checks import Check, fail


        def value(ctx):
            v = ctx.A.tensor(ctx.rng().normal(size=(3, 4)).astype("float32"))
            got = ctx.get("norm", "function")(v)
            want = float((ctx.A.numpy(v) ** 2).sum() ** 0.5)
            if abs(got - want) > 1e-4:
                fail(f"norm(v) returned {got!r}, expected {want:.5f}")
            return "the square root of the sum of squares"


        def checks(framework):
            return [Check("value", "Computes the L2 norm", value)]
    ''')
    return folder


BESIDE_CHECKS = '''
"""Checks for 92_dot_beside: `long` is graded by a second worker beside the others."""

from resnet_kata.checks import Check, fail


def api(ctx):
    ctx.get("dot", "function")
    return "defines dot(a, b)"


def value(ctx):
    got = ctx.get("dot")([1.0, 2.0], [3.0, 4.0])
    if got != 11.0:
        fail(f"dot([1, 2], [3, 4]) returned {got!r}, expected 11.0")
    return "dot of two vectors of length 2"


def long(ctx):
    for step in range(3):
        ctx.progress(step=step + 1, total=3)
    got = ctx.get("dot")([1.0] * 5, [2.0] * 5)
    if got != 10.0:
        fail(f"dot on vectors of length 5 returned {got!r}, expected 10.0")
    return "dot of two vectors of length 5"


def last(ctx):
    return "a check after the one graded beside"


def checks(framework):
    return [Check("api", "Defines dot", api, gate=True), Check("value", "Length 2", value),
            Check("long", "Length 5", long, needs=("value",)), Check("last", "After it", last)]
'''


def write_beside(folder: Path) -> Path:
    """`folder/92_dot_beside`: a numpy exercise whose check `long` runs in a second worker."""
    ex = folder / "92_dot_beside"
    _write(ex / "kata.toml", MANIFEST.replace("order = 90", "order = 92").replace(
        'support = ["reference.py", "dot.md"]', 'support = ["dot.md"]\nbeside = { numpy = ["long"] }'))
    _write(ex / "README.md", "# A dot product\n\nWrite `dot(a, b)`.\n")
    _write(ex / "dot.md", "# A dot product\n")
    _write(ex / "dot_np.py", STUB)
    _write(ex / "solution" / "dot_np.py", SOLUTION)
    _write(ex / "checks.py", BESIDE_CHECKS)
    return ex
