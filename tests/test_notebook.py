"""Notebooks and the Python API: a real ipykernel runs generated notebooks through nbclient."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from resnet_kata import api, catalog

from .conftest import needs
from .packs import write_pack

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

EX = catalog.resolve("01_residual_block")


def _outputs(cell) -> str:
    text = []
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        text.append(data.get("text/html", "") + data.get("text/markdown", "") + data.get("text/plain", "")
                    + out.get("text", ""))
        if out.get("output_type") == "error":
            text.append(out.get("ename", "") + ": " + out.get("evalue", ""))
    return "\n".join(text)


def _run(nb, timeout=240):
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True)
    client.execute()
    return nb


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_KATA_WORKSPACE", str(tmp_path / "ws"))
    return tmp_path / "ws"


@needs("torch")
@pytest.mark.torch
@pytest.mark.slow
def test_the_generated_notebook_fails_then_passes_and_records_the_pass(workspace):
    out = subprocess.run([sys.executable, "-m", "resnet_kata", "notebook", "01", "--framework", "torch"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    path = workspace / "notebooks" / "01_residual_block_torch.ipynb"
    assert path.is_file()
    again = subprocess.run([sys.executable, "-m", "resnet_kata", "notebook", "01", "--framework", "torch"],
                           capture_output=True, text=True)
    assert "never overwritten" in again.stdout
    nb = nbformat.read(path, as_version=4)
    kata = next(i for i, c in enumerate(nb.cells) if c.source.startswith("%%kata"))
    _run(nb)
    stub_out = _outputs(nb.cells[kata])
    assert "FAIL" in stub_out and "conv1" in stub_out, stub_out[:2000]

    nb.cells[kata].source = f"%%kata 01 --framework torch\n{EX.solution('torch').read_text()}"
    nb.cells.insert(kata + 1, nbformat.v4.new_code_cell(
        "import torch\nprint(BasicBlock(4)(torch.zeros(1, 4, 5, 5)).shape)"))
    _run(nb)
    passed = _outputs(nb.cells[kata])
    assert "PASS" in passed and "8/8 checks passed" in passed, passed[:2000]
    assert "torch.Size([1, 4, 5, 5])" in _outputs(nb.cells[kata + 1]), "the cell's class is in the kernel"
    state = json.loads((workspace / "state.json").read_text())
    assert "passed" in state["exercises"][EX.id]["torch"]
    progress = subprocess.run([sys.executable, "-m", "resnet_kata", "progress", "--json"],
                              capture_output=True, text=True)
    assert json.loads(progress.stdout)["torch"]["passed"] == 1


@pytest.mark.slow
def test_an_infinite_loop_times_out_and_the_kernel_survives(workspace, tmp_path, monkeypatch):
    pack = write_pack(tmp_path / "pack")
    monkeypatch.setenv("RESNET_KATA_PATH", str(pack))
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext resnet_kata"),
        nbformat.v4.new_code_cell("%%kata 90 --timeout 4\nwhile True:\n    pass\n"),
        nbformat.v4.new_code_cell("print('kernel alive')"),
        nbformat.v4.new_code_cell("%%kata 90 --raise\ndef dot(a, b):\n    return 0.0\n"),
        nbformat.v4.new_code_cell("%kata hint 90"),
    ])
    _run(nb)
    assert "Time limit reached" in _outputs(nb.cells[1]) and "not run in this kernel" in _outputs(nb.cells[1])
    assert "kernel alive" in _outputs(nb.cells[2])
    assert "KataFailed" in _outputs(nb.cells[3]), "--raise raises on a failure"
    assert "element by element" in _outputs(nb.cells[4])


def test_the_api_grades_a_string_in_a_separate_process_and_records_it(workspace, tmp_path, monkeypatch):
    pack = write_pack(tmp_path / "pack")
    catalog.add_path(pack)
    try:
        bad = api.check("90", source="def dot(a, b):\n    return 1.0\n")
        assert not bad.passed and bad.status == "fail" and not bad
        assert [c.name for c in bad.checks] == ["api", "value"]
        assert "FAIL" in repr(bad) and "value" in repr(bad)
        good = api.check("90", source="def dot(a, b):\n    return float(sum(x * y for x, y in zip(a, b)))\n")
        assert good.passed and good.to_dict()["status"] == "pass"
        html = good._repr_html_()
        root = ET.fromstring(html)  # well-formed
        text = "".join(root.itertext())
        assert all(c.name in text for c in good.checks) and "PASS" in text
        entry = json.loads((workspace / "state.json").read_text())["exercises"]["90_dot_product"]["numpy"]
        assert entry["attempts"] == 2 and entry["passes"] == 1
        assert "Hint 1/3" in api.hint("90")
        assert api.start("90").name == "dot_np.py"
    finally:
        catalog._extra.remove(pack.resolve())
