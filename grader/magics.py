"""IPython magics: grade a notebook cell with the kit's isolated grader.

    %load_ext resnet_kata
    %%kata NN_slug --framework torch
    class BasicBlock(nn.Module): ...

The cell is graded in a separate process first (the same time limit and verdicts as
`resnet-kata check`); then, when its code imported cleanly there, it is also run in the
kernel so that its classes can be tried. A cell that hangs, exits or crashes while
imported is not run in the kernel, which survives it. A failed check never raises
unless `--raise` is given (for nbgrader or otter-grader test cells).
`%kata hint EXERCISE`, `%kata docs EXERCISE` and `%kata check EXERCISE` work on a line.
"""

from __future__ import annotations

import argparse
import html
import shlex
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import HTML, Markdown, display

from . import api
from .choose import UsageError
from .record import ErrorKind, Event


class KataFailed(AssertionError):
    """Raised by `%%kata --raise` when the cell does not pass."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="%%kata", add_help=False, exit_on_error=False)
    parser.add_argument("exercise")
    parser.add_argument("--framework", "-f", choices=("torch", "tf", "numpy"))
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--raise", dest="raise_", action="store_true")
    parser.add_argument("--no-run", action="store_true", help="grade only; do not run the cell here")
    return parser


class _Progress:
    """One line updated in place while a check runs: its title, and the step and loss."""

    def __init__(self) -> None:
        self.handle = display(HTML("<i>grading…</i>"), display_id=True)

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == Event.START:
            self.handle.update(HTML(f"<i>{html.escape(event.get('title', event.get('check', '')))}…</i>"))
        elif kind == Event.PROGRESS:
            loss = f" · loss {event['loss']:.4f}" if "loss" in event else ""
            self.handle.update(HTML(f"<i>{html.escape(event['check'])}: step {event['step']}/"
                                    f"{event['total']}{loss}</i>"))

    def show(self, obj: Any) -> None:
        self.handle.update(obj)


@magics_class
class KataMagics(Magics):
    @line_cell_magic
    def kata(self, line: str, cell: str | None = None) -> Any:
        try:
            if cell is None:
                return self._line(line)
            return self._cell(line, cell)
        except UsageError as exc:
            display(HTML(f'<span style="color:#cf222e">resnet-kata: {html.escape(str(exc))}</span>'))
            return None

    def _line(self, line: str) -> Any:
        words = shlex.split(line)
        if not words or words[0] not in ("hint", "docs", "check"):
            raise UsageError("use %kata hint EXERCISE, %kata docs EXERCISE, %kata check EXERCISE, "
                             "or %%kata EXERCISE as the first line of a cell")
        verb, rest = words[0], words[1:]
        if verb == "hint":
            display(Markdown(api.hint(rest[0] if rest else None).replace("\n", "\n\n")))
        elif verb == "docs":
            if not rest:
                raise UsageError("%kata docs EXERCISE")
            display(Markdown(api.docs(rest[0])))
        else:
            progress = _Progress()
            result = api.check(rest[0] if rest else None, on_event=progress)
            progress.show(result)
            return None
        return None

    def _cell(self, line: str, cell: str) -> Any:
        try:
            args = _parser().parse_args(shlex.split(line))
        except (argparse.ArgumentError, SystemExit) as exc:
            raise UsageError(f"%%kata {line}: {exc}. Use %%kata EXERCISE [--framework torch|tf] "
                             "[--device auto|cpu|cuda] [--raise]") from None
        progress = _Progress()
        result = api.check(args.exercise, framework=args.framework, source=cell, device=args.device,
                           timeout=args.timeout, on_event=progress)
        progress.show(result)
        imported = result.record.error_kind in (ErrorKind.NONE,)
        if imported and not args.no_run:
            self.shell.run_cell(cell, store_history=False, silent=True)
        elif not imported:
            display(HTML("<i>The cell was not run in this kernel: it did not import cleanly in the "
                         "grader, and it could hang or end the kernel here.</i>"))
        if args.raise_ and not result.passed:
            raise KataFailed(f"{result.record.exercise}: {result.status}")
        return None


def register(ipython: Any) -> None:
    ipython.register_magics(KataMagics)
