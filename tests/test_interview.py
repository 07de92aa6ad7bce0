"""Interview mode and the drill: a timed round, an oral round, a report; FSRS schedules the
cards (with a fixed clock), failing checks make an exercise's cards due, and the practice
file is never touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .packs import SOLUTION, write_pack

NOW = "2026-01-05T09:00:00+00:00"


def _env(ws: Path, pack: Path | None = None, now: str | None = NOW) -> dict[str, str]:
    env = dict(os.environ, RESNET_KATA_WORKSPACE=str(ws), COLUMNS="120")
    env.pop("RESNET_KATA_NOW", None)
    if now:
        env["RESNET_KATA_NOW"] = now
    if pack:
        env["RESNET_KATA_PATH"] = str(pack)
    return env


def _kata(env: dict[str, str], *args: str, stdin: str = ""):
    out = subprocess.run([sys.executable, "-m", "resnet_kata", *args], input=stdin, capture_output=True,
                         text=True, env=env, timeout=180)
    return out.returncode, out.stdout, out.stderr


def test_ten_cards_reviewed_easy_are_scheduled_days_ahead(tmp_path):
    env = _env(tmp_path / "ws")
    code, out, _ = _kata(env, "drill", "--json")
    due = json.loads(out)
    assert code == 0 and len(due) == 10, "ten new cards at first"
    assert all(c["question"] and "id" in c and isinstance(c["exercises"], list) for c in due)
    code, out, err = _kata(env, "drill", stdin="\n4\n" * 10)
    assert code == 0, err
    assert "10 card(s) reviewed" in out
    rows = json.loads(_kata(env, "drill", "--list", "--json")[1])
    reviewed = [r for r in rows if r["reviewed"]]
    assert len(reviewed) == 10 and not any(r["due_now"] for r in reviewed)
    from datetime import datetime
    ahead = [(datetime.fromisoformat(r["due"]) - datetime.fromisoformat(NOW)).days for r in reviewed]
    assert min(ahead) >= 1, ahead
    listing = _kata(env, "drill", "--list")[1]
    assert "in " in listing and "days" in listing
    later = _env(tmp_path / "ws", now="2026-03-01T09:00:00+00:00")
    again = json.loads(_kata(later, "drill", "--json", "--new", "0")[1])
    assert {c["id"] for c in again} == {r["id"] for r in reviewed}, "due again two months later"


def test_a_failing_check_makes_the_exercise_cards_due(tmp_path):
    pytest.importorskip("torch")
    env = _env(tmp_path / "ws")
    code, _, err = _kata(env, "drill", "--topic", "03", "--new", "20", stdin="\n4\n" * 20)
    assert code == 0, err
    assert json.loads(_kata(env, "drill", "--json", "--topic", "03", "--new", "0")[1]) == []
    assert _kata(env, "start", "03", "--framework", "torch")[0] == 0
    code, out, _ = _kata(env, "check", "03")
    assert code == 1 and "due again" in out
    due = json.loads(_kata(env, "drill", "--json", "--topic", "03", "--new", "0")[1])
    assert due and all("03_bottleneck" in c["exercises"] for c in due)


def test_concurrent_reviews_are_all_kept(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    from resnet_kata import cards

    ids = [c.id for c in cards.all_cards()[:8]]
    code = ("import sys\nfrom resnet_kata import drill, workspace\n"
            "drill.review(workspace.Workspace(sys.argv[1]), sys.argv[2], 3)\n")

    def one(card_id: str) -> int:
        return subprocess.run([sys.executable, "-c", code, str(ws), card_id], env=_env(ws)).returncode

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(one, ids)) == [0] * 8
    state = json.loads((ws / "state.json").read_text())
    assert set(state["drill"]) == set(ids)


def _interview(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "resnet_kata", "interview", *args], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _interview_file(ws: Path, timeout: float = 60) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = list((ws / "interviews").glob("*-90_dot_product/dot_np.py"))
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError("no interview file")


def test_an_interview_passed_in_time_then_the_oral_round_and_the_report(tmp_path):
    pack = write_pack(tmp_path / "pack")
    ws = tmp_path / "ws"
    env = _env(ws, pack, now=None)
    practice = ws / "90_dot_product" / "dot_np.py"
    assert _kata(env, "start", "90")[0] == 0
    before = practice.read_text()
    proc = _interview(env, "90", "--minutes", "2")
    learner = _interview_file(ws)
    time.sleep(1.5)  # the watcher is up
    code, _, err = _kata(env, "hint", "90")
    assert code == 2 and "not available during an interview" in err
    assert _kata(env, "solution", "90", "--give-up", "--yes")[0] == 2
    learner.write_text(SOLUTION.lstrip())
    out, _ = proc.communicate("my notes on cosines\n3\n", timeout=120)
    assert proc.returncode == 0, out
    assert "Passed in" in out and "Oral round" in out and "cosine similarity" in out
    assert practice.read_text() == before, "the practice file is never touched"
    (report,) = (ws / "interviews").glob("*.json")
    data = json.loads(report.read_text())
    assert data["passed"] and data["ended"] == "pass" and data["checks_run"] >= 1
    assert data["oral"][0]["rating"] == 3 and data["oral"][0]["notes"] == "my notes on cosines"
    assert report.with_suffix(".md").read_text().startswith("# Interview: 90_dot_product")
    history = _kata(env, "interview", "--history")[1]
    assert "90_dot_product" in history and "passed in" in history
    assert _kata(env, "hint", "90")[0] == 0, "hints come back after the interview"
    progress = json.loads(_kata(env, "progress", "--json")[1])
    assert progress["interviews"] == {"passed": 1, "total": 1}
    assert progress["drill"]["reviewed"] == 1, "the oral score is a review in the drill's schedule"


def test_an_interview_that_runs_out_of_time(tmp_path):
    pack = write_pack(tmp_path / "pack")
    ws = tmp_path / "ws"
    env = _env(ws, pack, now=None)
    proc = _interview(env, "90", "--minutes", "0.06")
    learner = _interview_file(ws)
    time.sleep(1.0)
    learner.write_text("def dot(a, b):\n    return 0.0\n")  # a failing save on the way
    out, _ = proc.communicate("\n2\n", timeout=120)
    assert proc.returncode == 1, out
    assert "Time is up" in out and "FAIL" in out
    data = json.loads(next((ws / "interviews").glob("*.json")).read_text())
    assert not data["passed"] and data["ended"] == "time"
    assert "value" in data["failed_on_the_way"]
