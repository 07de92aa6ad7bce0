"""The docs pages in the terminal: rich's Markdown, made to lose nothing.

- Table cells wrap (wide characters counted by their cells) instead of ending in "…".
- Code blocks are never re-wrapped: a line wider than the terminal is cut where it
  must be and goes on in the next line behind a "↪" mark.
- Links read as the command that opens them (`resnet-kata docs NN_slug`) or as
  their address; a diagram shows as its text drawing (`docs/diagrams/<name>.txt`).
- A `python norun` block says why it is not run (the reason in its `<!-- norun: -->`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import CodeBlock, Markdown, TableElement
from rich.syntax import Syntax
from rich.table import Table

from .i18n import _

CONTINUED = "↪ "
_FENCE = re.compile(r"^\s*(```+|~~~+)")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")
_IMAGE = re.compile(r"^\s*!\[([^\]]*)\]\(([^)\s]+)\)\s*$")
_NORUN = re.compile(r"^<!-- norun: (.+?) -->$")
_ANCHOR = re.compile(r'^<a id="[^"]+"></a>\s*$')  # a translated page's English anchors


def _link_text(text: str, target: str) -> str:
    if re.match(r"^[a-z]+://", target):
        return f"{text} ({target})"
    page, _sep, _anchor = target.partition("#")
    if not page:  # an anchor on the same page
        return text
    path = Path(page)
    if path.suffix == ".md" and len(path.parts) == 1:
        return f"{text} (`resnet-kata docs {path.stem}`)"
    return f"{text} ({page})"


_WIDE = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_WIDE_END = re.compile(f"[{_WIDE}]$")
_MARK_END = re.compile("[\u3000-\u303f\uff00-\uffef]$")  # full-width punctuation
_WIDE_START = re.compile(f"^[{_WIDE}]")
_NO_JOIN_AFTER = re.compile(r"^\s*(?:#|\|)")  # a heading or a table row ends where it ends
_BLOCK_START = re.compile(r"^\s*(?:[-*+]\s|[>|#]|\d+[.)]\s|```|~~~|<)")


def _lines(markdown: str) -> Iterator[tuple[str, bool]]:
    """Each line of the Markdown, and whether it is prose (not a fence or inside one)."""
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            yield line, False
        else:
            yield line, not fenced


def join_wide_lines(markdown: str) -> str:
    """Join a paragraph's lines where one ends in a Chinese character or full-width mark.

    Markdown turns a line break inside a paragraph into a space, which English needs
    and Chinese does not: "都要，\nBN" would read "都要， BN" and "残差\n分支" "残差 分支".
    Between a Chinese character and Latin text the space stays. Code blocks are left alone.
    """
    out: list[str] = []
    for line, prose in _lines(markdown):
        joinable = (prose and out and line.strip() and not _BLOCK_START.match(line)
                    and _WIDE_END.search(out[-1]) and not _NO_JOIN_AFTER.match(out[-1]))
        if joinable:
            text = line.lstrip()
            tight = _MARK_END.search(out[-1]) or _WIDE_START.match(text)
            out[-1] += text if tight else " " + text  # 使用 ReLU: a space before Latin text
        else:
            out.append(line)
    return "\n".join(out) + ("\n" if markdown.endswith("\n") else "")


def prepare(markdown: str, folder: Path) -> str:
    """The page's Markdown with links, diagrams and norun notes turned into text."""
    out: list[str] = []
    for line, prose in _lines(markdown):
        if not prose:
            out.append(line)
            continue
        if _ANCHOR.match(line):
            continue
        image = _IMAGE.match(line)
        if image:
            drawing = (folder / image.group(2)).with_suffix(".txt")
            if drawing.is_file():
                out += ["```text", *drawing.read_text(encoding="utf-8").rstrip("\n").splitlines(), "```"]
            else:
                out.append("[" + _("image: {what}").format(what=image.group(1) or image.group(2)) + "]")
            continue
        norun = _NORUN.match(line.strip())
        if norun:
            out.append("*" + _("Not run by the kit's tests: {reason}").format(reason=norun.group(1)) + "*")
            out.append("")
            continue
        out.append(_LINK.sub(lambda m: _link_text(m.group(1), m.group(2)), line))
    return join_wide_lines("\n".join(out) + "\n")


class _Code(CodeBlock):
    """A code block whose lines are never re-wrapped: an over-long line continues behind ↪."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(20, options.max_width - 2)  # Syntax's padding of one on each side
        lines: list[str] = []
        marks: list[int] = []
        for line in str(self.text).rstrip().splitlines():
            while len(line) > width:
                lines.append(line[:width])
                line = line[width:]
                marks.append(len(lines))
                line = CONTINUED + line
            lines.append(line)
        syntax = Syntax("\n".join(lines), self.lexer_name, theme=self.theme, word_wrap=False,
                        padding=1)
        for n in marks:
            syntax.stylize_range("dim", (n + 1, 0), (n + 1, len(CONTINUED)))
        yield syntax


class _Table(TableElement):
    """A table whose cells wrap; no cell is cut short."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(box=box.SIMPLE, pad_edge=False, style="markdown.table.border",
                      show_edge=True, collapse_padding=True)
        if self.header is not None and self.header.row is not None:
            for column in self.header.row.cells:
                heading = column.content.copy()
                heading.stylize("markdown.table.header")
                table.add_column(heading, overflow="fold")
        if self.body is not None:
            for row in self.body.rows:
                cells = []
                for element in row.cells:
                    cell = element.content.copy()
                    cell.overflow = "fold"
                    cells.append(cell)
                table.add_row(*cells)
        yield table


class PageMarkdown(Markdown):
    elements = {**Markdown.elements, "fence": _Code, "code_block": _Code, "table_open": _Table}


def page(path: Path) -> PageMarkdown:
    """A docs page, ready to print."""
    return PageMarkdown(prepare(path.read_text(encoding="utf-8"), path.parent), hyperlinks=False)


def show(console: Console, path: Path, pager: bool = True) -> None:
    """Print the page; through a pager when it is longer than the terminal."""
    rendered = page(path)
    if pager and console.is_terminal:
        height = len(console.render_lines(rendered, console.options, pad=False))
        if height > console.height:
            import os

            os.environ.setdefault("LESS", "-R")  # keep the colours
            with console.pager(styles=True):
                console.print(rendered)
            return
    console.print(rendered)
