"""The kit's structure: the shared battery serves every exercise and names none of them.

Everything that serves one exercise lives in its folder; `grader/` may use only what
any exercise may use. These tests read the source, so a new module is held to it too.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from collections import defaultdict
from dataclasses import fields
from pathlib import Path

from resnet_kata import catalog
from resnet_kata.adapters import FrameworkAdapter
from resnet_kata.record import CheckResult, Record

from .conftest import ROOT

GRADER = ROOT / "grader"
CHECKS = GRADER / "checks"
FRAMEWORK_MODULES = ("torch", "tensorflow", "keras")


def _stub_names() -> dict[str, set[str]]:
    """Top-level names the stubs define, mapped to the exercises whose stubs define them."""
    found: dict[str, set[str]] = defaultdict(set)
    for ex in catalog.exercises():
        for fw in ex.frameworks:
            tree = ast.parse(ex.stub(fw).read_text(encoding="utf-8"))
            for node in tree.body:
                if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                    found[node.name].add(ex.id)
                elif isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            found[target.id].add(ex.id)
    return found


def _mentions(path: Path, names: set[str]) -> list[str]:
    """Where `path` names one of `names`: as an identifier of its own (not an attribute of a
    library, `nn.BatchNorm2d`), as a whole string (`ctx.get("confusion_matrix")`), or in
    backticks or as a call inside a string (`` `unfreeze` ``, `prepare_finetune(`)."""
    hits = []
    tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline))
    for i, tok in enumerate(tokens):
        line = tok.start[0]
        if tok.type == tokenize.NAME and tok.string in names:
            if not (i and tokens[i - 1].string == "."):
                hits.append(f"{path.relative_to(ROOT)}:{line}: {tok.string}")
        elif tok.type == tokenize.STRING:
            try:
                text = ast.literal_eval(tok.string)
            except (ValueError, SyntaxError):
                continue
            if not isinstance(text, str):
                continue
            words = {text} | set(re.findall(r"`(\w+)", text)) | set(re.findall(r"\b(\w+)\(", text))
            hits += [f"{path.relative_to(ROOT)}:{line}: {w!r} in a string" for w in sorted(words & names)]
    return hits


# The kit's own vocabulary: members of the framework contract and fields of the record. A stub
# may define a function of the same name (13's `accuracy`, 11's `fit`); the kit's use of its
# own name is not a use of the learner's.
KIT_NAMES = (
    {n for n in dir(FrameworkAdapter) if not n.startswith("_")} | set(FrameworkAdapter.__annotations__)
    | {f.name for f in fields(CheckResult)} | {f.name for f in fields(Record)}
)


def test_no_module_under_grader_names_an_exercise_or_its_api():
    """A learner API name that only one exercise's stubs define, or an exercise id, appears
    in no module under grader/: the exercise's folder holds what serves it alone."""
    only_one = {name for name, owners in _stub_names().items() if len(owners) == 1} - KIT_NAMES
    assert {"prepare_finetune", "confusion_matrix", "BatchNorm2d"} <= only_one
    ids = {ex.id for ex in catalog.exercises()}
    id_pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(ids))) + r")\b")
    hits = []
    for path in sorted(GRADER.rglob("*.py")):
        hits += _mentions(path, only_one)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if id_pattern.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: exercise id {id_pattern.search(line)[0]}")
    assert not hits, "grader/ serves every exercise and names none:\n" + "\n".join(hits)


def _module_level_imports(tree: ast.Module) -> list[str]:
    """Imports executed when the module is imported (top level, or under top-level if/try)."""
    found: list[str] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append(node.module)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, field, []) or []:
                        visit(child.body if isinstance(child, ast.ExceptHandler) else [child])
    visit(tree.body)
    return found


def test_nothing_under_checks_imports_a_framework_at_module_level():
    offenders = []
    for path in sorted(CHECKS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in _module_level_imports(tree):
            if name.split(".")[0] in FRAMEWORK_MODULES:
                offenders.append(f"{path.relative_to(ROOT)}: import {name}")
    assert not offenders, "import the framework inside the function that needs it:\n" + "\n".join(offenders)


def test_importing_the_whole_battery_loads_no_framework():
    modules = sorted(p.stem for p in CHECKS.glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import resnet_kata.checks.{m}\n" for m in modules)
        + f"print([m for m in {FRAMEWORK_MODULES!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_every_check_module_serves_more_than_one_exercise_or_none_by_name():
    """Each module of the battery is imported by the checks of at least two exercises, or by
    another module of the kit: a module that serves one exercise belongs in its folder."""
    users: dict[str, set[str]] = defaultdict(set)
    for ex in catalog.exercises():
        for path in ex.dir.glob("*.py"):
            for mod in re.findall(r"resnet_kata\.checks\.(\w+)", path.read_text(encoding="utf-8")):
                users[mod].add(ex.id)
    kit_users = defaultdict(set)
    for path in GRADER.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        pattern = r"from \.(\w+) import|from \.checks\.(\w+) import|from \.\.checks\.(\w+)"
        for mod in re.findall(pattern, text):
            for m in mod:
                if m:
                    kit_users[m].add(path.stem)
    lonely = [
        p.stem for p in CHECKS.glob("*.py")
        if p.stem != "__init__" and len(users[p.stem]) < 2 and not (kit_users[p.stem] - {p.stem})
    ]
    assert not lonely, f"modules under grader/checks/ that serve one exercise: {lonely}"


def test_no_private_name_crosses_a_module_line():
    """`from module import _name` is a private helper used where it does not belong (gettext's
    `_` from resnet_kata.i18n is the one public name spelled so, by convention)."""
    offenders = []
    files = [*GRADER.rglob("*.py"), *(ROOT / "exercises").glob("*/*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            ours = isinstance(node, ast.ImportFrom) and (
                node.level or (node.module or "").startswith("resnet_kata"))
            if ours:
                offenders += [f"{path.relative_to(ROOT)}: {alias.name}" for alias in node.names
                              if alias.name.startswith("_") and not alias.name.startswith("__")
                              and alias.name != "_"]
    assert not offenders, offenders


def _binds_underscore(fn: ast.AST) -> bool:
    """Whether the function's own body (not a nested scope) assigns the name `_`."""
    def visit(node: ast.AST) -> bool:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
                                  ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)):
                continue
            if isinstance(child, ast.Name) and child.id == "_" and isinstance(child.ctx, ast.Store):
                return True
            if visit(child):
                return True
        return False
    return visit(fn)


def _calls_underscore(fn: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "_"
               for n in ast.walk(fn))


def test_no_function_that_translates_also_binds_underscore():
    """`_, x = ...` in a function that calls `_()` makes `_` local there: the translation
    raises UnboundLocalError, in one language path only."""
    bad = []
    for path in sorted([*(ROOT / "grader").rglob("*.py"), *(ROOT / "exercises").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _calls_underscore(node) \
                    and _binds_underscore(node):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not bad, "rename the throwaway `_` (e.g. `_unused`):\n" + "\n".join(bad)
