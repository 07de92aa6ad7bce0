"""Shared fixtures: grade a source text in-process, or a mutated reference solution."""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

# The tests read the English messages, whatever the locale of the machine they run on; the
# tests of the Chinese path ask for it (tests/test_zh.py).
os.environ["RESNET_KATA_LANG"] = "en"
# Two pytest workers already keep both cores busy, so a check grades in one worker here; the
# tests of the second worker ask for it (tests/test_watch.py).
os.environ.setdefault("RESNET_KATA_WORKERS", "1")

from resnet_kata import catalog, frameworks, i18n  # noqa: E402
from resnet_kata.record import Record  # noqa: E402
from resnet_kata.worker import grade  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _english_again():
    """A test that switched the kit to Chinese leaves it speaking English."""
    yield
    i18n.set_language("en")


def needs(framework: str):
    """Skip marker for a framework that is not installed (CI installs both)."""
    return pytest.mark.skipif(
        framework not in ("numpy",) and not frameworks.is_installed(framework),
        reason=f"{framework} is not installed: {frameworks.install_command(framework)}",
    )


def exercise_framework_params() -> list:
    """One pytest param per exercise and framework, marked with the framework and skipped
    when it is not installed."""
    return [
        pytest.param(ex, fw, marks=[needs(fw), *([getattr(pytest.mark, fw)] if fw != "numpy" else [])],
                     id=f"{ex.id}-{fw}")
        for ex in catalog.exercises()
        for fw in ex.frameworks
    ]


def solution_source(exercise: str, framework: str) -> str:
    return catalog.resolve(exercise).solution(framework).read_text(encoding="utf-8")


def mutate(source: str, *edits: tuple[str, str]) -> str:
    """Apply textual edits to a reference solution; each `old` must occur exactly once."""
    for old, new in edits:
        count = source.count(old)
        assert count == 1, f"mutation target occurs {count} times: {old!r}"
        source = source.replace(old, new)
    return source


@pytest.fixture
def grade_source(tmp_path: Path) -> Callable[..., Record]:
    """grade_source(exercise, framework, source, only=None) -> Record, in this process."""
    counter = iter(range(10_000))

    def _grade(exercise: str, framework: str, source: str, only: list[str] | None = None) -> Record:
        path = tmp_path / f"learner_{next(counter)}_{framework}.py"
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return grade(exercise, framework, path, device="cpu", only=only)

    return _grade


def check_of(record: Record, name: str):
    found = [c for c in record.checks if c.name == name]
    assert found, f"no check named {name!r} in {[c.name for c in record.checks]}"
    return found[0]


def failed_checks(record: Record) -> list[str]:
    return [c.name for c in record.checks if c.status in ("fail", "error")]


# What a message may never show: a traceback, or a frame of the framework, of Python's own
# library or of the grader (its package, or an exercise's check modules). Only the learner's
# own file and line may appear.
_NOT_FOR_LEARNERS = re.compile(
    r"Traceback \(most recent call last\)|site-packages|dist-packages|/lib/python3|"
    r"(grader|resnet_kata)/[\w/]+\.py|exercises/\d\d_\w+/(?!README)\w+\.py|"
    r"File \"/|tensorflow/(python|core)/|\(at \w+\.py:\d+\)|\{\{function_node"
)


def assert_for_learners(message: str) -> None:
    """A message shows the learner's frames only: no traceback, no library or grader path."""
    found = _NOT_FOR_LEARNERS.search(message)
    assert found is None, f"the message shows {found.group(0)!r}:\n{message}"


def assert_caught(record: Record, *expected: tuple[str, str]) -> None:
    """The record is not a pass; each named check failed with a message holding its phrase;
    and no message shows a traceback or a path of the framework or the grader."""
    assert record.status != "pass", "a broken implementation passed"
    for check, phrase in expected:
        result = check_of(record, check)
        assert result.status in ("fail", "error"), (check, failed_checks(record))
        assert phrase in result.message, (check, result.message)
    for result in record.checks:
        assert_for_learners(result.message)
    assert_for_learners(record.message or "")


def assert_passes(record: Record) -> None:
    """A correct implementation passes every check; on failure, show what each failing check said."""
    assert record.status == "pass", [(c.name, c.message) for c in record.checks if c.status != "pass"]


Only = list[str] | Callable[..., list[str] | None] | None

# The checks a named check needs to run after: the api gate, and for the gradients the
# function check they compare against.
_PREREQUISITES = {"function": ["api", "function"], "gradients": ["api", "function", "gradients"]}


def with_prerequisites(named: list[str]) -> list[str]:
    """`only=` for a block bug: its one named check, plus the checks that one needs."""
    return _PREREQUISITES.get(named[0], ["api", named[0]])


def bug_test(exercise: str, framework: str, bugs: dict, only: Only = None) -> Callable:
    """A test parametrized over `bugs`: each broken version of the reference solution fails in
    the named checks with a message holding a phrase that names the mistake.

    `bugs` maps a name to `(edits, check, phrase)` or `(edits, [(check, phrase), ...])`.
    `only` picks the checks to run: a list, a function of the named checks' list, or None
    for just the named checks. Assign the result to a `test_...` name in the test module."""

    @needs(framework)
    @pytest.mark.parametrize("bug", list(bugs))
    def test(grade_source, bug):
        edits, *rest = bugs[bug]
        expected = rest[0] if len(rest) == 1 else [tuple(rest)]
        named = [check for check, _ in expected]
        checks = only(named) if callable(only) else (named if only is None else only)
        source = mutate(solution_source(exercise, framework), *edits)
        assert_caught(grade_source(exercise, framework, source, only=checks), *expected)

    return test


def variant_test(exercise: str, framework: str, variants: dict[str, str], only: Only = None) -> Callable:
    """A test parametrized over `variants`: each correct implementation written differently
    from the reference passes. `only`: the checks to run, or a function of the variant's name."""

    @needs(framework)
    @pytest.mark.parametrize("variant", list(variants))
    def test(grade_source, variant):
        checks = only(variant) if callable(only) else only
        assert_passes(grade_source(exercise, framework, variants[variant], only=checks))

    return test


# -- one shape for every exercise's cases --------------------------------------------


@dataclass(frozen=True)
class Bug:
    """A broken version of the reference solution: it must fail in each named check with a
    message holding the phrase that names the mistake."""

    name: str
    framework: str
    edits: tuple[tuple[str, str], ...]
    expect: tuple[tuple[str, str], ...]  # (check, phrase)
    only: tuple[str, ...] | None = None  # the checks to run; None: just the named ones


@dataclass(frozen=True)
class Variant:
    """A correct implementation written differently from the reference: it must pass."""

    name: str
    framework: str
    source: str
    only: tuple[str, ...] | None = None  # the checks to run; None: all of them


def bugs(framework: str, table: dict, only: Only = None) -> list[Bug]:
    """`Bug`s from a table mapping a name to `(edits, check, phrase)` or
    `(edits, [(check, phrase), ...])`; `only` as in `bug_test`."""
    out = []
    for name, (edits, *rest) in table.items():
        expected = rest[0] if len(rest) == 1 else [tuple(rest)]
        named = [check for check, _ in expected]
        checks = only(named) if callable(only) else (named if only is None else only)
        out.append(Bug(name, framework, tuple(map(tuple, edits)), tuple(map(tuple, expected)),
                       tuple(checks) if checks is not None else None))
    return out


def variants(framework: str, table: dict[str, str], only: Only = None) -> list[Variant]:
    """`Variant`s from a table mapping a name to a source; `only`: checks, or a function of the name."""
    out = []
    for name, source in table.items():
        checks = only(name) if callable(only) else only
        out.append(Variant(name, framework, source, tuple(checks) if checks is not None else None))
    return out


def run_case(grade_source: Callable[..., Record], exercise: str, case: Bug | Variant) -> None:
    """Grade one case and assert its verdict."""
    only = list(case.only) if case.only is not None else None
    if isinstance(case, Bug):
        named = [check for check, _ in case.expect]
        source = mutate(solution_source(exercise, case.framework), *case.edits)
        record = grade_source(exercise, case.framework, source, only=only or named)
        assert_caught(record, *case.expect)
    else:
        assert_passes(grade_source(exercise, case.framework, case.source, only=only))


def case_test(exercise: str, items: Iterable[Bug | Variant], slow: Iterable[str] = ()) -> Callable:
    """The one parametrized test of an exercise's cases. Each case is marked with its framework
    (`-m torch`, `-m tf`), skipped when that framework is missing, and marked `slow` when its
    name is in `slow`. Assign the result to `test_cases` in the test module."""
    slow = set(slow)
    params = []
    for case in items:
        kind = "bug" if isinstance(case, Bug) else "variant"
        marks = [needs(case.framework)]
        if case.framework in ("torch", "tf"):
            marks.append(getattr(pytest.mark, case.framework))
        if case.name in slow or f"{case.framework}-{case.name}" in slow:
            marks.append(pytest.mark.slow)
        params.append(pytest.param(case, id=f"{case.framework}-{kind}-{case.name}", marks=marks))
    names = [p.id for p in params]
    dupes = sorted({n for n in names if names.count(n) > 1})
    assert not dupes, f"{exercise}: cases named twice: {dupes}"

    @pytest.mark.parametrize("case", params)
    def test(grade_source, case):
        run_case(grade_source, exercise, case)

    return test


# -- the quick suite ------------------------------------------------------------------

# Tests outside the exercises' case tables that take more than a few seconds each on 2
# cores: every page's code blocks (a fresh interpreter that imports the frameworks), the
# Keras stubs and solutions through the real runner, and the time-out tests.
SLOW_NODES = (
    "tests/test_docs.py::test_code_blocks_run",
    "tests/test_catalog.py::test_reference_solution_passes[",
    "tests/test_catalog.py::test_untouched_stub_fails_with_messages[",
    "tests/test_runner.py::test_infinite_loop_times_out",
    "tests/test_trust.py::test_bad_input_gets_one_clear_line",
    "tests/test_trust.py::test_eight_concurrent_passing_checks",
    "tests/test_watch.py::test_the_spare_path_gives_the_same_verdicts",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith(SLOW_NODES):
            item.add_marker(pytest.mark.slow)
