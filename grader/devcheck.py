"""`resnet-kata dev check`: is every exercise of the kit (or of a pack) sound?

For maintainers and pack authors. Per exercise: the manifest is valid, every file
of the folder is declared, the statement and the docs page exist, every untouched
stub fails with readable messages, every reference solution passes and imports
only its own framework. The stubs and solutions go through the real runner, in
parallel.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import catalog, frameworks
from .catalog import Exercise
from .record import PASS
from .runner import run_check

_IGNORED = {"__pycache__", ".DS_Store"}
_SHADOWING = {"torch", "tf", "keras", "tensorflow", "numpy"}
_OTHER = {"torch": {"tensorflow", "keras"}, "tf": {"torch"}, "numpy": {"torch", "tensorflow", "keras"}}


@dataclass
class Finding:
    """What dev check found for one exercise: problems make it red, notes do not."""

    exercise: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def manifest_problems(ex: Exercise) -> list[str]:
    """The folder against its manifest: declared files, statement, docs page, stubs."""
    problems = list(catalog.validate(ex))
    declared = ex.declared_files()
    for name in sorted(declared):
        if not (ex.dir / name).is_file():
            problems.append(f"{name} is declared but missing")
    for path in sorted(ex.dir.iterdir()):
        if path.name in _IGNORED or path.name.startswith("."):
            continue
        if path.is_dir():
            if path.name != "solution":
                problems.append(f"folder {path.name}/ is not part of an exercise (only solution/ is)")
        elif path.name not in ex.accounted_files():
            problems.append(
                f"{path.name} is not declared: list it in kata.toml's `support` (or remove it)"
            )
    if ex.statement.is_file() and not ex.statement.read_text(encoding="utf-8").startswith("# "):
        problems.append("the statement (README.md) does not start with a '# ' title")
    if not ex.doc_path().is_file():
        problems.append(f"the docs page {ex.doc} is missing")
    for fw in ex.frameworks:
        stub, solution = ex.stub(fw), ex.solution(fw)
        if Path(ex.files[fw]).stem in _SHADOWING:
            problems.append(f"{ex.files[fw]} would shadow a framework module: rename it")
        if not solution.is_file():
            problems.append(f"the {fw} solution {solution} is missing")
        if stub.is_file():
            try:
                ast.parse(stub.read_text(encoding="utf-8"))
            except SyntaxError as exc:
                problems.append(f"the {fw} stub does not parse: {exc}")
    return problems


def stub_problems(ex: Exercise, fw: str) -> list[str]:
    """An untouched stub must fail, through the checks, with a readable message each."""
    record = run_check(ex, fw, ex.stub(fw), device="cpu")
    if record.status == PASS:
        return [f"the untouched {fw} stub passes every check: the checks test nothing it lacks"]
    if record.error_kind not in ("", "import"):
        return [f"the {fw} stub ends in {record.error_kind}: {record.message.splitlines()[0]}"]
    failing = [c for c in record.checks if c.status in ("fail", "error")]
    if not failing and not record.message:
        return [f"the {fw} stub fails without saying why"]
    return [
        f"the {fw} stub fails `{c.name}` without a readable message: {c.message!r}"
        for c in failing if len(c.message) <= 20 or "Traceback" in c.message
    ]


def solution_problems(ex: Exercise, fw: str) -> list[str]:
    """The reference solution passes and imports only its own framework."""
    record = run_check(ex, fw, ex.solution(fw), device="cpu")
    if record.status != PASS:
        bad = [f"`{c.name}`: {c.message.splitlines()[0] if c.message else c.status}"
               for c in record.checks if c.status != PASS]
        why = "; ".join(bad) or f"{record.error_kind}: {record.message}"
        return [f"the {fw} solution does not pass: {why}"]
    other = _OTHER.get(fw, set()) & set(record.loaded)
    if other:
        return [f"the {fw} solution's check imported {sorted(other)}"]
    return []


def _jobs(ex: Exercise) -> list[tuple[str, Callable[[], list[str]]]]:
    jobs: list[tuple[str, Callable[[], list[str]]]] = [("manifest", lambda: manifest_problems(ex))]
    for fw in ex.frameworks:
        if fw != "numpy" and not frameworks.is_installed(fw):
            continue
        if ex.stub(fw).is_file():
            jobs.append((f"{fw} stub", lambda fw=fw: stub_problems(ex, fw)))
        if ex.solution(fw).is_file():
            jobs.append((f"{fw} solution", lambda fw=fw: solution_problems(ex, fw)))
    return jobs


def run(items: Iterable[Exercise], jobs: int | None = None,
        on_done: Callable[[Finding], None] | None = None) -> list[Finding]:
    """Check `items` with up to `jobs` gradings at once; one Finding per exercise, in order."""
    items = list(items)
    findings = {ex.id: Finding(ex.id) for ex in items}
    for ex in items:
        for fw in ex.frameworks:
            if fw != "numpy" and not frameworks.is_installed(fw):
                findings[ex.id].notes.append(
                    f"{fw} not installed, its stub and solution not run ({frameworks.install_command(fw)})"
                )
    work = [(ex, name, fn) for ex in items for name, fn in _jobs(ex)]
    left = {ex.id: sum(1 for e, _, _ in work if e.id == ex.id) for ex in items}

    def one(job: tuple[Exercise, str, Callable[[], list[str]]]) -> tuple[str, list[str]]:
        ex, name, fn = job
        try:
            return ex.id, fn()
        except Exception as exc:  # noqa: BLE001 - a broken exercise must not stop the others
            return ex.id, [f"{name}: {type(exc).__name__}: {exc}"]

    with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 1)) as pool:
        for ex_id, problems in pool.map(one, work):
            findings[ex_id].problems += problems
            left[ex_id] -= 1
            if left[ex_id] == 0 and on_done:
                on_done(findings[ex_id])
    return [findings[ex.id] for ex in items]


def exercises_in(folders: Iterable[Path]) -> list[Exercise]:
    """The exercises of the given folders (a pack, or one exercise folder), or of the whole
    catalogue when none is given. A manifest that does not load is a CatalogError."""
    folders = list(folders)
    if not folders:
        return list(catalog.exercises())
    out = []
    for folder in folders:
        folder = Path(folder).resolve()
        if (folder / "kata.toml").is_file():
            out.append(catalog.load_folder(folder))
        else:
            if not folder.is_dir():
                raise catalog.CatalogError(f"{folder} is not a folder")
            out += [catalog.load_folder(p) for p in sorted(folder.iterdir()) if (p / "kata.toml").is_file()]
    return out
