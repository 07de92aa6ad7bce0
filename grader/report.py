"""Three views of one result record: rich for the terminal, JSON for machines, HTML for notebooks.

Also the live view shown while a check runs: the current check's name and,
for training checks, a progress bar with the loss.
"""

from __future__ import annotations

import html
import json
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .checks.training import sparkline
from .i18n import N_, _
from .record import ERROR, FAIL, PASS, SKIP, CheckResult, ErrorKind, Event, Record

ICONS = {PASS: "[green]✓[/]", FAIL: "[red]✗[/]", ERROR: "[red]![/]", SKIP: "[dim]-[/]"}
VERDICT = {PASS: "[bold green]PASS[/]", FAIL: "[bold red]FAIL[/]", ERROR: "[bold red]ERROR[/]"}
ERROR_TITLES = {
    ErrorKind.SYNTAX: N_("Your file has a syntax error"),
    ErrorKind.IMPORT: N_("Your file raised an exception while being imported"),
    ErrorKind.EXIT: N_("The grading process was ended early"),
    ErrorKind.CRASH: N_("The grading process crashed"),
    ErrorKind.TIMEOUT: N_("Time limit reached"),
    ErrorKind.MISSING_FRAMEWORK: N_("Framework not installed"),
    ErrorKind.DEVICE: N_("Device not available"),
    ErrorKind.INTERNAL: N_("Internal error of the grader"),
    ErrorKind.TAMPERED: N_("The grading was tampered with"),
}


def error_title(kind: ErrorKind) -> str:
    return _(ERROR_TITLES.get(kind, N_("Error")))


def tally(record: Record) -> str:
    """'7/8 checks passed in 2.1 s', or 'in 2.1 s' when no check ran."""
    if record.checks:
        passed = sum(c.status == PASS for c in record.checks)
        return _("{passed}/{total} checks passed in {seconds:.1f} s").format(
            passed=passed, total=len(record.checks), seconds=record.seconds)
    return _("in {seconds:.1f} s").format(seconds=record.seconds)


def to_json(record: Record) -> str:
    return json.dumps(record.to_dict(), indent=2)


def _training_line(check: CheckResult) -> Text | None:
    curve, details = check.loss_curve, check.details
    if not curve:
        return None
    line = Text("    " + _("loss") + " ", style="dim")
    line.append(sparkline(curve), style="cyan")
    line.append(f"  {curve[0]:.3f} → {curve[-1]:.3f}", style="dim")
    if check.accuracy is not None:
        line.append("  " + _("accuracy {value:.1%}").format(value=check.accuracy), style="dim")
    if details.get("device"):
        line.append("  " + _("on {device}").format(device=details["device"]), style="dim")
    return line


def render(record: Record, console: Console, label: str = "") -> None:
    head = f"[bold]{record.exercise}[/] · {label or record.framework}"
    if record.device:
        head += f" · {record.device}"
    console.print(head)
    table = Table(show_header=False, box=None, padding=(0, 1), expand=False)
    table.add_column(width=1)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(ratio=1)
    for c in record.checks:
        style = "dim" if c.status == SKIP else ""
        # fold, never cut: a Chinese sentence has no spaces to wrap at
        table.add_row(ICONS.get(c.status, "?"), c.name, Text(c.message, style=style, overflow="fold"))
        line = _training_line(c)
        if line is not None:
            table.add_row("", "", line)
    if record.checks:
        console.print(table)
    if record.error_kind:
        body = [Text(record.message, overflow="fold")]
        if record.output.strip():
            body += [Text("\n" + _("Output (last lines):"), style="bold"),
                     Text(record.output.rstrip())]
        console.print(
            Panel(Group(*body), title=error_title(record.error_kind),
                  border_style="red", expand=False)
        )
    elif record.output.strip() and record.status != PASS:
        console.print(Panel(Text(record.output.rstrip()), title=_("Your code printed"),
                            border_style="dim", expand=False))
    console.print(f"{VERDICT.get(record.status, record.status)}  {tally(record)}")
    if record.status == PASS:
        console.print(_("Next: read the interview questions with [bold]resnet-kata docs {id}[/] "
                        "({page}), and compare with the reference: [bold]resnet-kata solution "
                        "{id}[/].").format(id=record.exercise, page=escape("docs/" + record.doc)))
        if record.followups:
            console.print(_("Likely follow-up questions:"))
            bullets = Table.grid(padding=(0, 1))  # a long question wraps under its own text
            bullets.add_column(no_wrap=True)
            bullets.add_column()
            for q in record.followups:
                bullets.add_row("  •", Text(q, overflow="fold"))
            console.print(bullets)


_HTML_ICONS = {PASS: ("✓", "#1a7f37"), FAIL: ("✗", "#cf222e"), ERROR: ("!", "#cf222e"),
               SKIP: ("-", "#6e7781")}
_HTML_VERDICT = {PASS: ("PASS", "#1a7f37"), FAIL: ("FAIL", "#cf222e"), ERROR: ("ERROR", "#cf222e")}


def to_html(record: Record) -> str:
    """The same content as `render`, as one HTML fragment (for notebooks)."""
    h = html.escape
    rows = []
    for c in record.checks:
        icon, colour = _HTML_ICONS.get(c.status, ("?", "#6e7781"))
        extra = ""
        if c.loss_curve:
            extra = (f'<div style="color:#6e7781;font-family:monospace">{h(_("loss"))} '
                     f"{h(sparkline(c.loss_curve))} {c.loss_curve[0]:.3f} → {c.loss_curve[-1]:.3f}"
                     + (", " + h(_("accuracy {value:.1%}").format(value=c.accuracy))
                        if c.accuracy is not None else "") + "</div>")
        rows.append(
            f'<tr><td style="color:{colour};font-weight:bold">{icon}</td>'
            f'<td style="font-weight:bold;white-space:nowrap">{h(c.name)}</td>'
            f'<td style="text-align:left;white-space:pre-wrap">{h(c.message)}{extra}</td></tr>'
        )
    parts = [f"<div class=\"resnet-kata-result\"><p><b>{h(record.exercise)}</b> · {h(record.framework)}"
             + (f" · {h(record.device)}" if record.device else "") + "</p>"]
    if rows:
        parts.append("<table>" + "".join(rows) + "</table>")
    if record.error_kind:
        title = error_title(record.error_kind)
        parts.append(f'<div style="border-left:4px solid #cf222e;padding-left:8px"><b>{h(title)}</b>'
                     f'<pre style="white-space:pre-wrap">{h(record.message)}</pre>'
                     + (f"<b>{h(_('Output (last lines):'))}</b><pre>{h(record.output.rstrip())}</pre>"
                        if record.output.strip() else "") + "</div>")
    elif record.output.strip() and record.status != PASS:
        parts.append(f"<b>{h(_('Your code printed'))}:</b><pre>{h(record.output.rstrip())}</pre>")
    verdict, colour = _HTML_VERDICT.get(record.status, (str(record.status), "#6e7781"))
    parts.append(f'<p><b style="color:{colour}">{verdict}</b> {h(tally(record))}</p>')
    if record.status == PASS:
        parts.append("<p>" + _("Next: the interview questions, {docs} ({page}), and the reference: "
                               "{solution}.").format(
            docs=f"<code>resnet-kata docs {h(record.exercise)}</code>",
            page=f"docs/{h(record.doc)}",
            solution=f"<code>resnet-kata solution {h(record.exercise)}</code>") + "</p>")
        if record.followups:
            parts.append("<p>" + h(_("Likely follow-up questions:")) + "</p><ul>"
                         + "".join(f"<li>{h(q)}</li>" for q in record.followups) + "</ul>")
    parts.append("</div>")
    return "".join(parts)


class LiveView:
    """Shows which check is running; a bar with the loss during training checks."""

    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = None

    def __enter__(self) -> LiveView:
        self.progress.__enter__()
        self.task = self.progress.add_task(_("starting"), total=None, info="")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == Event.START:
            self.progress.update(self.task, description=event.get("title", event["check"]),
                                 total=None, completed=0, info="")
        elif kind == Event.PROGRESS:
            info = _("step {step}/{total}").format(step=event["step"], total=event["total"])
            if "loss" in event:
                info += "  " + _("loss {value:.4f}").format(value=event["loss"])
            self.progress.update(self.task, total=event["total"], completed=event["step"],
                                 info=info)
