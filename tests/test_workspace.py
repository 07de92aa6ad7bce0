"""Workspace and state: nothing a learner wrote is lost, state survives corruption."""

from __future__ import annotations

import json

from resnet_kata import catalog
from resnet_kata import workspace as ws

EX = catalog.resolve("01_residual_block")


def test_start_copies_the_stub_once_and_never_overwrites(tmp_path):
    space = ws.Workspace(tmp_path)
    path, created = space.start(EX, "torch")
    assert created and path.read_text() == EX.stub("torch").read_text()
    path.write_text("# my work\n")
    again, created = space.start(EX, "torch")
    assert again == path and not created
    assert path.read_text() == "# my work\n"


def test_reset_keeps_a_backup_of_every_version(tmp_path):
    space = ws.Workspace(tmp_path)
    path, _ = space.start(EX, "torch")
    path.write_text("# attempt 1\n")
    first = space.reset(EX, "torch")
    path.write_text("# attempt 2\n")
    second = space.reset(EX, "torch")
    assert first != second
    assert first.read_text() == "# attempt 1\n" and second.read_text() == "# attempt 2\n"
    assert path.read_text() == EX.stub("torch").read_text()


def test_state_is_written_atomically_and_read_back(tmp_path):
    space = ws.Workspace(tmp_path)
    space.set_current(EX.id, "tf")
    space.record_result(EX.id, "tf", passed=True)
    space.set_hint_level(EX.id, 2)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".state.json")]
    assert leftovers == []
    again = ws.Workspace(tmp_path)
    assert again.current() == (EX.id, "tf")
    assert again.passed(EX.id, "tf") and not again.passed(EX.id, "torch")
    assert again.passed(EX.id) and again.hint_level(EX.id) == 2


def test_corrupt_state_is_set_aside_with_a_warning(tmp_path):
    (tmp_path / "state.json").write_text("{not json")
    space = ws.Workspace(tmp_path)
    assert space.current() is None
    assert space.warnings and "could not be read" in space.warnings[0]
    aside = list(tmp_path.glob("state.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == "{not json"
    space.set_current(EX.id, "torch")
    assert json.loads((tmp_path / "state.json").read_text())["current"]["exercise"] == EX.id


def test_state_with_a_wrong_layout_is_also_set_aside(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({"exercises": [], "current": 3}))
    space = ws.Workspace(tmp_path)
    assert space.current() is None and space.warnings


def test_workspace_location_flag_beats_env_beats_default(tmp_path, monkeypatch):
    monkeypatch.setenv(ws.ENV, str(tmp_path / "env"))
    assert ws.locate(None) == (tmp_path / "env").resolve()
    assert ws.locate(tmp_path / "flag") == (tmp_path / "flag").resolve()
    monkeypatch.delenv(ws.ENV)
    assert ws.locate(None) == catalog.kit_root() / "workspace"
