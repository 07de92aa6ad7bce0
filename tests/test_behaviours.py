"""Each exercise's BEHAVIOURS.md: what its statement promises, the wrong versions of each
promise, and the bug case that proves the grader tells each one apart. Every bug the page
names must be a case of the exercise's table, so the page cannot promise a catch that no
test makes."""

from __future__ import annotations

import importlib
import re

import pytest

from resnet_kata import catalog

from .conftest import Bug, Variant

# a reference in a bullet: (`bug_name`, torch and tf) or (`bug_name`)
NAMED = re.compile(r"\(`([a-z][a-z0-9_]*)`(?=[,)])")


def _cases(ex: catalog.Exercise) -> dict[str, set[str]]:
    """The exercise's case names (bugs and variants), each with its frameworks."""
    module = importlib.import_module(f"tests.test_{ex.id}")
    found: dict[str, set[str]] = {}
    for mark in getattr(module.test_cases, "pytestmark", []):
        if mark.name == "parametrize":
            for param in mark.args[1]:
                case = param.values[0]
                if isinstance(case, (Bug, Variant)):
                    found.setdefault(case.name, set()).add(case.framework)
    return found


@pytest.mark.parametrize("ex", catalog.exercises(), ids=lambda ex: ex.id)
def test_every_exercise_has_its_behaviours_page(ex):
    page = ex.dir / "BEHAVIOURS.md"
    assert page.exists(), f"{ex.id} has no BEHAVIOURS.md"
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {ex.id}: behaviours and the wrong versions that break them\n")
    assert text.count("\n## ") >= 2, "a section per behaviour the statement promises"


@pytest.mark.parametrize("ex", catalog.exercises(), ids=lambda ex: ex.id)
def test_every_bug_the_page_names_is_a_case(ex):
    """A bullet's reference is a case of the exercise's table, a test of its module, or (where
    the bullet points at the scenario) one of its checks."""
    from resnet_kata.worker import load_checks

    lines = (ex.dir / "BEHAVIOURS.md").read_text(encoding="utf-8").splitlines()
    named = {name for line in lines if line.lstrip().startswith("- ") for name in NAMED.findall(line)}
    cases = _cases(ex)
    module = importlib.import_module(f"tests.test_{ex.id}")
    checks = {c.name for fw in ex.frameworks for c in load_checks(ex).checks(fw)}
    assert set(cases) & named, "the page names no bug case"
    missing = sorted(n for n in named if n not in cases and n not in checks
                     and not (n.startswith("test_") and hasattr(module, n)))
    assert not missing, f"{ex.id}/BEHAVIOURS.md names cases its tests do not have: {missing}"
