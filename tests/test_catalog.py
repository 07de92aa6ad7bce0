"""Invariants over every exercise: sound manifests, failing stubs, passing solutions.

Parametrized over the catalogue, so a new exercise folder is covered without
a change here. Stubs and solutions go through the real runner (a child process).
"""

from __future__ import annotations

import ast

import pytest

from resnet_kata import catalog, devcheck

from .conftest import ROOT, exercise_framework_params

EXERCISES = catalog.exercises()
PAIRS = exercise_framework_params()


def test_catalog_is_not_empty_and_ordered():
    assert EXERCISES, "no exercises found"
    orders = [ex.order for ex in EXERCISES]
    assert len(set(orders)) == len(orders), "two exercises share an order number"
    assert [ex.id for ex in EXERCISES] == sorted(ex.id for ex in EXERCISES)


@pytest.mark.parametrize("ex", EXERCISES, ids=[ex.id for ex in EXERCISES])
def test_manifest_is_valid_and_complete(ex):
    assert catalog.validate(ex) == []
    assert len(ex.hints) == 3, "every exercise has three progressive hints"
    assert all(len(h) > 40 for h in ex.hints), "a hint must say something"
    assert ex.statement.is_file(), "the statement (README.md) is missing"
    assert ex.checks_file.is_file(), "checks.py is missing"
    assert ex.doc_path().is_file(), f"docs/{ex.doc} is missing"
    assert ex.followups, "a pass should point to likely follow-up questions"
    for fw in ex.frameworks:
        assert ex.stub(fw).is_file(), f"stub for {fw} is missing"
        assert ex.solution(fw).is_file(), f"solution for {fw} is missing"
        ast.parse(ex.stub(fw).read_text(encoding="utf-8"))
        assert ex.files[fw].split(".")[0] not in ("torch", "tf", "keras", "tensorflow", "numpy")


@pytest.mark.parametrize("ex", EXERCISES, ids=[ex.id for ex in EXERCISES])
def test_statement_names_the_api(ex):
    text = ex.statement.read_text(encoding="utf-8")
    assert text.startswith("# "), "the statement starts with a title"
    for fw in ex.frameworks:
        stub = ex.stub(fw).read_text(encoding="utf-8")
        public = [n.name for n in ast.parse(stub).body
                  if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and not n.name.startswith("_")]
        assert public, f"the {fw} stub defines nothing to implement"
        for name in public:
            assert name in text, f"the statement never names `{name}`"


@pytest.mark.parametrize("ex", EXERCISES, ids=[ex.id for ex in EXERCISES])
def test_dev_check_finds_the_folder_sound(ex):
    """`resnet-kata dev check`'s manifest part: every file declared, statement, docs page."""
    assert devcheck.manifest_problems(ex) == []


@pytest.mark.parametrize(("ex", "fw"), PAIRS)
def test_untouched_stub_fails_with_messages(ex, fw):
    """`dev check`'s stub part, through the real runner."""
    assert devcheck.stub_problems(ex, fw) == []


@pytest.mark.parametrize(("ex", "fw"), PAIRS)
def test_reference_solution_passes(ex, fw):
    """`dev check`'s solution part: it passes and imports only its own framework."""
    assert devcheck.solution_problems(ex, fw) == []


def test_solutions_and_exercises_folders_match():
    ex_ids = {p.name for p in (ROOT / "exercises").iterdir() if p.is_dir()}
    sol_ids = {p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()}
    assert ex_ids == sol_ids


@pytest.mark.parametrize("ex", [e for e in EXERCISES if e.beside], ids=lambda e: e.id)
def test_checks_graded_beside_are_checks_that_decide_nothing_for_the_others(ex):
    from resnet_kata import worker

    for fw, names in ex.beside.items():
        battery = worker.load_checks(ex).checks(fw)
        worker._can_go_aside(battery, set(names))  # raises for a gate, a needed or an unknown check


def test_a_check_graded_beside_may_not_be_a_gate_or_needed():
    from resnet_kata import worker
    from resnet_kata.checks import Check

    def run(ctx):
        return ""

    battery = [Check("api", "", run, gate=True), Check("a", "", run), Check("b", "", run, needs=("a",))]
    worker._can_go_aside(battery, {"b"})
    for aside in ({"api"}, {"a"}, {"nope"}):
        with pytest.raises(RuntimeError, match="beside"):
            worker._can_go_aside(battery, aside)
