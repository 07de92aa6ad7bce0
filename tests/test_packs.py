"""Exercise packs: a folder written outside the kit is a whole exercise, with no change to grader/."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .packs import write_pack


def _kata(tmp_path, *args, env_path: str | None = None):
    env = dict(os.environ, RESNET_KATA_WORKSPACE=str(tmp_path / "ws"), COLUMNS="200")
    env.pop("RESNET_KATA_PATH", None)
    if env_path is not None:
        env["RESNET_KATA_PATH"] = env_path
    out = subprocess.run([sys.executable, "-m", "resnet_kata", *args], capture_output=True,
                         text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
    return out.returncode, out.stdout, out.stderr


@pytest.fixture
def pack(tmp_path):
    return write_pack(tmp_path / "pack")


def test_a_pack_goes_through_list_start_check_hint_solution(tmp_path, pack):
    flag = ["--exercises", str(pack)]
    code, out, err = _kata(tmp_path, *flag, "list", "--json")
    assert code == 0, err
    ids = [e["id"] for e in json.loads(out)]
    assert "90_dot_product" in ids and "01_residual_block" in ids, ids

    code, out, err = _kata(tmp_path, *flag, "start", "dot_product")
    assert code == 0, err
    assert "Write dot(a, b)" in out  # the statement, rendered
    learner = tmp_path / "ws" / "90_dot_product" / "dot_np.py"
    assert learner.is_file()

    code, out, err = _kata(tmp_path, *flag, "check", "90", "--json")
    record = json.loads(out)
    assert code == 1 and record["status"] == "fail", (out, err)
    assert "Not implemented yet" in record["checks"][0]["message"] + record["checks"][1]["message"]

    code, out, _ = _kata(tmp_path, *flag, "hint", "90")
    assert code == 0 and "element by element" in out
    code, out, err = _kata(tmp_path, *flag, "solution", "90")
    assert code != 0 and "pass" in (out + err).lower()  # refused before a pass

    learner.write_text((pack / "90_dot_product" / "solution" / "dot_np.py").read_text())
    code, out, err = _kata(tmp_path, *flag, "check", "90")
    assert code == 0, out + err
    assert "PASS" in out and "2/2" in out
    code, out, err = _kata(tmp_path, *flag, "solution", "90")
    assert code == 0, err
    assert "zip(a, b, strict=True)" in out


def test_resnet_kata_path_adds_the_pack_too(tmp_path, pack):
    code, out, err = _kata(tmp_path, "list", "--json", env_path=str(pack))
    assert code == 0, err
    assert "90_dot_product" in [e["id"] for e in json.loads(out)]
    code, out, err = _kata(tmp_path, "check", "90", "--impl",
                           str(pack / "90_dot_product" / "solution" / "dot_np.py"), "--json",
                           env_path=str(pack))
    assert code == 0, out + err
    assert json.loads(out)["status"] == "pass"


def test_a_clashing_id_is_a_clear_error(tmp_path, pack):
    clash = pack / "01_residual_block"
    (pack / "90_dot_product").rename(clash)
    code, out, err = _kata(tmp_path, "--exercises", str(pack), "list")
    assert code == 2
    assert "01_residual_block is defined twice" in err and "Traceback" not in err


def test_a_missing_pack_folder_is_a_clear_error(tmp_path):
    code, _, err = _kata(tmp_path, "--exercises", str(tmp_path / "nowhere"), "list")
    assert code == 2
    assert "does not exist" in err and "Traceback" not in err


def test_dev_check_is_green_on_a_sound_pack(tmp_path, pack):
    code, out, err = _kata(tmp_path, "dev", "check", str(pack / "90_dot_product"), "--json")
    assert code == 0, out + err
    (finding,) = json.loads(out)
    assert finding == {"exercise": "90_dot_product", "ok": True, "problems": [], "notes": []}


def test_dev_check_is_red_on_a_passing_stub_and_an_undeclared_file(tmp_path):
    pack = write_pack(tmp_path / "pack", passing_stub=True)
    (pack / "90_dot_product" / "scratch.py").write_text("x = 1\n")
    code, out, err = _kata(tmp_path, "dev", "check", str(pack / "90_dot_product"))
    assert code == 1, out + err
    assert "the untouched numpy stub passes every check" in out
    assert "scratch.py is not declared" in out
    assert "0/1 exercises sound" in out
