"""The command line as a learner uses it: start, check, hint, solution, reset, docs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from resnet_kata import catalog, cli, frameworks

from .conftest import needs

EX = catalog.resolve("01_residual_block")


@pytest.fixture
def kata(tmp_path, monkeypatch, capsys):
    """Run `resnet-kata ARGS` in-process against a fresh workspace; returns (code, out, err)."""
    monkeypatch.setenv("RESNET_KATA_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str):
        capsys.readouterr()
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    run.workspace = tmp_path / "ws"
    return run


def learner_file(kata, fw="torch"):
    return kata.workspace / EX.id / EX.files[fw]


@needs("torch")
def test_start_check_fail_then_pass_flow(kata):
    code, out, _ = kata("start", "01_residual_block")
    assert code == 0
    assert "BasicBlock" in out and str(learner_file(kata)) in out.replace("\n", "")
    code, out, _ = kata("check")
    assert code == 1
    assert "has no attribute `conv1`" in out and "FAIL" in out
    shutil.copy(EX.solution("torch"), learner_file(kata))
    code, out, _ = kata("check")
    assert code == 0, out
    assert "PASS" in out and "resnet-kata docs 01_residual_block" in out
    code, out, _ = kata("list", "--json")
    row = [r for r in json.loads(out) if r["id"] == EX.id][0]
    assert row["status"]["torch"] == "passed" and row["status"]["tf"] == "-"


def test_start_never_overwrites_the_learners_file(kata):
    kata("start", "01", "--framework", "torch")
    learner_file(kata).write_text("# precious\n")
    code, out, _ = kata("start", "01", "--framework", "torch")
    assert code == 0 and "kept as it was" in out
    assert learner_file(kata).read_text() == "# precious\n"


@pytest.mark.parametrize("name", ["01", "1", "residual_block", "residual-block", "01_residual_block"])
def test_names_resolve_by_id_number_or_slug(kata, name):
    code, _, _ = kata("start", name, "--framework", "torch")
    assert code == 0


@pytest.mark.parametrize("name", ["residul_block", "99", "zzz"])
def test_unknown_exercise_exits_2_with_suggestions(kata, name):
    code, out, err = kata("start", name)
    assert code == 2 and "No exercise named" in err
    if name == "residul_block":
        assert "01_residual_block" in err


@needs("tf")
def test_check_json_prints_only_the_record(kata):
    sol = str(EX.solution("tf"))
    code, out, _ = kata("check", "01_residual_block", "--framework", "tf", "--impl", sol, "--json")
    assert code == 0
    record = json.loads(out)
    assert record["status"] == "pass" and record["framework"] == "tf"
    assert {c["name"] for c in record["checks"]} >= {"api", "function", "gradients", "training"}
    assert all({"name", "status", "message", "seconds"} <= set(c) for c in record["checks"])


@needs("torch")
def test_device_cuda_without_a_gpu_is_a_clear_usage_error(kata):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the cuda path is graded like the cpu one")
    sol = str(EX.solution("torch"))
    code, out, _ = kata("check", "01", "--framework", "torch", "--impl", sol,
                        "--device", "cuda", "--json")
    record = json.loads(out)
    assert code == 2 and record["status"] == "error" and record["error_kind"] == "device"
    assert "--device cuda" in record["message"] and "CUDA" in record["message"]


def test_check_without_a_current_exercise_says_how_to_start(kata):
    code, _, err = kata("check")
    assert code == 2 and "resnet-kata start" in err


def test_check_of_an_exercise_not_started_says_how_to_start(kata):
    code, _, err = kata("check", "01", "--framework", "torch")
    assert code == 2 and "resnet-kata start 01_residual_block" in err


def test_missing_framework_prints_the_exact_install_command(kata, monkeypatch):
    kata("start", "01", "--framework", "tf")
    monkeypatch.setattr(frameworks, "is_installed", lambda fw: False)
    code, _, err = kata("check")
    assert code == 2
    assert "pip install 'tensorflow-cpu==" in err.replace("\n", "")


def test_hints_are_progressive_and_recorded(kata):
    kata("start", "01", "--framework", "torch")
    seen = []
    for _ in range(4):
        code, out, _ = kata("hint")
        assert code == 0
        seen.append(out.count("Hint "))
    assert seen == [1, 2, 3, 3]
    state = json.loads((kata.workspace / "state.json").read_text())
    assert state["exercises"][EX.id]["hint_level"] == 3


def test_solution_is_hidden_until_a_pass_or_giving_up(kata):
    kata("start", "01", "--framework", "torch")
    code, out, _ = kata("solution", "01")
    assert code == 1 and "class BasicBlock" not in out and "--give-up" in out
    code, _, err = kata("solution", "01", "--give-up")  # stdin is not a terminal
    assert code == 2 and "--yes" in err
    code, out, _ = kata("solution", "01", "--give-up", "--yes")
    assert code == 0 and "class BasicBlock" in out


def test_reset_restores_the_stub_and_keeps_a_backup(kata):
    kata("start", "01", "--framework", "torch")
    learner_file(kata).write_text("# my attempt\n")
    code, _, err = kata("reset", "01")
    assert code == 2 and "--yes" in err
    assert learner_file(kata).read_text() == "# my attempt\n"
    code, out, _ = kata("reset", "01", "--yes")
    assert code == 0
    assert learner_file(kata).read_text() == EX.stub("torch").read_text()
    backups = list((kata.workspace / ".backups" / EX.id).iterdir())
    assert [b.read_text() for b in backups] == ["# my attempt\n"]


def test_corrupt_state_warns_and_carries_on(kata):
    kata("start", "01", "--framework", "torch")
    (kata.workspace / "state.json").write_text("\x00garbage")
    code, out, err = kata("progress")
    assert code == 0 and "warning" in err and "set aside" not in out
    assert list(kata.workspace.glob("state.json.corrupt-*"))


def test_progress_and_list_render(kata):
    kata("start", "01", "--framework", "torch")
    code, out, _ = kata("progress")
    assert code == 0 and "0/" in out and "Current: 01_residual_block" in out
    code, out, _ = kata("list")
    assert code == 0 and "01_residual_block" in out and "started" in out


def test_list_and_docs_show_whole_names_on_an_80_column_terminal(kata, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    _, out, _ = kata("list")
    for ex in catalog.exercises():
        assert ex.id in out, f"{ex.id} is cut in the list table"
    _, out, _ = kata("docs")
    assert "02_projection_shortcut" in out and "07_depthwise_separable" in out


def test_docs_lists_pages_and_renders_an_exercise_page(kata):
    code, out, _ = kata("docs")
    assert code == 0 and "01_residual_block" in out
    code, out, _ = kata("docs", "01")
    assert code == 0 and "01_residual_block" in out
    code, _, err = kata("docs", "no_such_topic_at_all")
    assert code == 2 and "No docs page" in err


def test_doctor_reports_python_frameworks_and_workspace(kata):
    code, out, _ = kata("doctor")
    assert code == 0
    assert "Python" in out and "PyTorch" in out and "Workspace" in out


@needs("torch")
def test_watch_once_checks_and_returns(kata):
    kata("start", "01", "--framework", "torch")
    code, out, _ = kata("watch", "--once")
    assert code == 1 and "FAIL" in out


@pytest.mark.parametrize("verb", ["list", "start", "check", "hint", "solution", "reset",
                                  "progress", "watch", "docs", "doctor"])
def test_every_verb_has_help(verb):
    out = subprocess.run([sys.executable, "-m", "grader", verb, "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "usage:" in out.stdout


def test_console_script_is_installed():
    # The script lands next to the interpreter that installed the kit; the venv need not be
    # on PATH (CI calls .venv/bin/python directly).
    beside = Path(sys.executable).parent / ("resnet-kata.exe" if os.name == "nt" else "resnet-kata")
    exe = str(beside) if beside.exists() else shutil.which("resnet-kata")
    assert exe, "pip install -e . installs the resnet-kata command"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "start" in out.stdout
