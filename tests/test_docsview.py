"""The terminal reader of docs/: nothing cut, code never re-wrapped, links as commands."""

from __future__ import annotations

import contextlib
import io
import re

import pytest
from rich.cells import cell_len
from rich.console import Console

from resnet_kata import docsview

from .conftest import ROOT

PAGES = sorted((ROOT / "docs").glob("*.md"))


def _render(text_or_path, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), force_terminal=False, color_system=None,
                      legacy_windows=False)
    page = docsview.page(text_or_path) if not isinstance(text_or_path, str) else \
        docsview.PageMarkdown(docsview.prepare(text_or_path, ROOT / "docs"))
    console.print(page)
    return console.file.getvalue().splitlines()


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("path", PAGES, ids=[p.stem for p in PAGES])
def test_a_page_fits_the_terminal_and_cuts_nothing(path, width):
    lines = _render(path, width)
    wide = [line for line in lines if cell_len(line.rstrip()) > width]
    assert not wide, f"{len(wide)} lines wider than {width}: {wide[:2]}"
    source = path.read_text(encoding="utf-8")
    if "…" not in source:
        cut = [line for line in lines if "…" in line]
        assert not cut, f"cut with an ellipsis at {width} columns: {cut[:3]}"


def test_a_long_code_line_continues_behind_a_mark_and_loses_nothing():
    code = "x = " + " + ".join(f"value_{i}" for i in range(20))
    lines = _render(f"# t\n\n```python\n{code}\n```\n", 60)
    body = [line.strip() for line in lines[2:] if line.strip()]
    assert len(body) > 1 and all(line.startswith(docsview.CONTINUED.strip()) for line in body[1:])
    mark = docsview.CONTINUED.strip()
    joined = body[0] + "".join(line.removeprefix(mark) for line in body[1:])
    assert joined.replace(" ", "") == code.replace(" ", "")


def test_a_short_code_line_is_shown_as_written():
    lines = _render("# t\n\n```python\ndef f(x):\n    return x  # same\n```\n", 80)
    assert any(line.strip() == "return x  # same" for line in lines)
    assert any("    return x" in line for line in lines), "indentation is kept"


def test_links_read_as_the_command_that_opens_them():
    text = ("# t\n\nSee the [errata](errata.md), [the block](03_bottleneck.md#why) and "
            "[the paper](https://arxiv.org/abs/1512.03385).\n")
    out = " ".join(" ".join(_render(text, 120)).split())
    assert "errata (resnet-kata docs errata)" in out
    assert "the block (resnet-kata docs 03_bottleneck)" in out
    assert "the paper (https://arxiv.org/abs/1512.03385)" in out


def test_a_norun_block_says_why():
    text = "# t\n\n<!-- norun: downloads ImageNet weights -->\n```python norun\nx = 1\n```\n"
    out = " ".join(" ".join(_render(text, 80)).split())
    assert "Not run by the kit's tests: downloads ImageNet weights" in out


def test_a_diagram_shows_as_its_text_drawing(tmp_path):
    (tmp_path / "diagrams").mkdir()
    (tmp_path / "diagrams" / "box.txt").write_text("+-----+\n| box |\n+-----+\n")
    page = tmp_path / "p.md"
    page.write_text("# t\n\n![a box](diagrams/box.svg)\n")
    out = "\n".join(_render(page, 80))
    assert "| box |" in out and "[image" not in out


def test_a_long_page_goes_through_the_pager(monkeypatch):
    used = []

    @contextlib.contextmanager
    def pager(self, *a, **k):
        used.append(True)
        yield

    monkeypatch.setattr(Console, "pager", pager)
    console = Console(width=80, height=20, file=io.StringIO(), force_terminal=True)
    docsview.show(console, ROOT / "docs" / "04_resnet.md")
    assert used
    used.clear()
    docsview.show(console, ROOT / "docs" / "04_resnet.md", pager=False)
    assert not used
    assert re.search(r"ResNet", console.file.getvalue())
