"""`resnet-kata notebook EXERCISE`: the exercise as a Jupyter notebook (written with nbformat).

Cells: the statement, `%load_ext resnet_kata`, the stub under `%%kata` (run it to grade
it), a cell that tries the code on a small input, and where to read on.
"""

from __future__ import annotations

from pathlib import Path

from . import workspace as ws
from .catalog import Exercise

GENERIC_TRYOUT = (
    "# Try what the cell above defines on a small input before you grade it again, e.g.\n"
    "# build it with the statement's arguments and print what it returns.\n"
    "print([name for name in dir() if not name.startswith('_')][-5:])\n"
)


def build(ex: Exercise, framework: str) -> object:
    import nbformat.v4 as nbf

    stub = ex.stub(framework).read_text(encoding="utf-8")
    cells = [
        nbf.new_markdown_cell(ex.statement.read_text(encoding="utf-8")),
        nbf.new_code_cell("%load_ext resnet_kata"),
        nbf.new_markdown_cell(
            f"Implement the stub below, then run the cell: `%%kata` grades it in a separate "
            f"process (the same checks and time limit as `resnet-kata check`) and, when it "
            f"imports cleanly, also defines it in this kernel. `%kata hint {ex.id}` gives the "
            f"next hint."
        ),
        nbf.new_code_cell(f"%%kata {ex.id} --framework {framework}\n{stub}"),
        nbf.new_code_cell(ex.tryout.get(framework, GENERIC_TRYOUT).rstrip("\n")),
        nbf.new_markdown_cell(
            f"After a pass: the interview questions this exercise drills are in "
            f"`docs/{ex.doc}` (`%kata docs {ex.id}` here, or `resnet-kata docs {ex.id}`), and "
            f"`resnet-kata solution {ex.id}` shows the reference solution."
        ),
    ]
    nb = nbf.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["resnet_kata"] = {"exercise": ex.id, "framework": framework}
    return nb


def write(space: ws.Workspace, ex: Exercise, framework: str) -> tuple[Path, bool]:
    """Write `<workspace>/notebooks/<id>_<framework>.ipynb` unless it exists. (path, created)"""
    import nbformat

    path = space.root / "notebooks" / f"{ex.id}_{framework}.ipynb"
    if path.exists():
        return path, False
    space.ensure()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8") as fh:  # never over an existing notebook
        nbformat.write(build(ex, framework), fh)
    return path, True
