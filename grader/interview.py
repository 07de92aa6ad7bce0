"""`resnet-kata interview`: a timed coding round with no hints, then an oral round.

The coding round writes a fresh stub to `<workspace>/interviews/<stamp>-<id>/` (the
practice file is never touched), shows the statement and a countdown, and re-checks on
every save (file events, a spare worker) until the first pass, the end of the time, or
Ctrl-C. Hints, solutions and docs are refused meanwhile. The oral round asks two or three
of the exercise's questions; the learner rates each answer, and the rating is a review
of that card in the drill's FSRS schedule. A report is written as JSON and Markdown.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown

from . import cards as C
from . import docsview, drill, report, runner
from . import workspace as ws
from .catalog import Exercise
from .i18n import _
from .record import Record
from .watch import stamp

MINUTES = {"easy": 20, "medium": 30, "hard": 45}
KEY = "interview"


@dataclass
class Oral:
    card: str
    question: str
    notes: str
    rating: int


@dataclass
class Report:
    exercise: str
    framework: str
    started: str
    minutes: float
    passed: bool = False
    seconds_to_pass: float | None = None
    ended: str = ""  # pass | time | interrupted
    checks_run: int = 0
    failed_on_the_way: list[str] = field(default_factory=list)
    oral: list[Oral] = field(default_factory=list)


def active(space: ws.Workspace, at: datetime | None = None) -> dict[str, Any] | None:
    """The interview under way in this workspace, if any (a stale one has ended)."""
    entry = space.state.get(KEY)
    if not isinstance(entry, dict) or "until" not in entry:
        return None
    at = at or drill.now()
    return entry if datetime.fromisoformat(entry["until"]) > at else None


@contextlib.contextmanager
def _under_way(space: ws.Workspace, ex: Exercise, framework: str, minutes: float) -> Iterator[None]:
    until = drill.now() + timedelta(minutes=minutes)
    with space.update() as state:
        state[KEY] = {"exercise": ex.id, "framework": framework, "until": until.isoformat()}
    try:
        yield
    finally:
        with space.update() as state:
            state.pop(KEY, None)


def pick(space: ws.Workspace, framework: str | None) -> tuple[Exercise, str] | None:
    """The first exercise not passed yet (in the framework, when one is named)."""
    from . import catalog

    for ex in catalog.exercises():
        fws = [framework] if framework else list(ex.frameworks)
        for fw in fws:
            if fw in ex.frameworks and not space.passed(ex.id, fw):
                return ex, fw
    return None


def coding_round(space: ws.Workspace, ex: Exercise, framework: str, minutes: float,
                 console: Console, interactive: bool, poll: bool = False) -> tuple[Report, Path]:
    """The timed round; returns the report so far and the interview file."""
    import watchfiles

    when = time.strftime("%Y%m%d-%H%M%S")
    folder = space.root / "interviews" / f"{when}-{ex.id}"
    folder.mkdir(parents=True, exist_ok=False)
    path = folder / ex.files[framework]
    with open(path, "x", encoding="utf-8") as fh:
        fh.write(ex.stub(framework).read_text(encoding="utf-8"))
    rep = Report(ex.id, framework, drill.now().isoformat(), minutes)
    console.print(Markdown(docsview.join_wide_lines(ex.statement.read_text(encoding="utf-8"))))
    console.rule()
    console.print(_("[bold]Interview: {title}[/], {minutes:g} minutes, no hints. Edit "
                    "[bold]{path}[/]; every save is checked. Ctrl-C ends the round.").format(
                        title=ex.title, minutes=minutes, path=path))
    started = time.monotonic()
    deadline = started + minutes * 60
    failed: list[str] = []
    with runner.SparePool() as spares, _under_way(space, ex, framework, minutes):
        spares.warm_for(ex, framework)
        events = watchfiles.watch(folder, debounce=400, step=30, rust_timeout=250, yield_on_timeout=True,
                                  force_polling=poll, raise_interrupt=False, recursive=False)
        shown = -1
        last = stamp(path)
        try:
            for changes in events:
                left = deadline - time.monotonic()
                if left <= 0:
                    rep.ended = "time"
                    console.print(_("[bold red]Time is up.[/]"))
                    break
                label = _("{clock} left").format(clock=f"{int(left // 60):02d}:{int(left % 60):02d}")
                if interactive:
                    console.print(f"[dim]{label}[/]", end="\r")
                elif int(left // 60) != shown:
                    shown = int(left // 60)
                    console.print(label)
                saved = any(Path(p).resolve() == path.resolve() for _, p in changes)
                if not saved and stamp(path) == last:
                    continue
                last = stamp(path)
                record: Record = runner.run_check(ex, framework, path, spares=spares)
                rep.checks_run += 1
                failed += [c.name for c in record.checks if c.status in ("fail", "error")]
                if record.error_kind:
                    failed.append(str(record.error_kind))
                report.render(record, console, framework)
                if record.passed:
                    rep.passed, rep.ended = True, "pass"
                    rep.seconds_to_pass = round(time.monotonic() - started, 1)
                    console.print(_("[bold green]Passed in {seconds:.0f} s.[/]").format(
                        seconds=rep.seconds_to_pass))
                    break
        except KeyboardInterrupt:
            rep.ended = "interrupted"
        finally:
            events.close()
        if not rep.ended:
            rep.ended = "interrupted"
    rep.failed_on_the_way = list(dict.fromkeys(failed))
    if rep.passed:
        space.record_result(ex.id, framework, True)
    return rep, path


def oral_round(space: ws.Workspace, ex: Exercise, rep: Report, console: Console,
               ask: Callable[[str], str], count: int = 3) -> None:
    """Two or three questions; each answer's self-rating is a review in the drill schedule."""
    items = C.for_exercise(ex.id)
    seen = drill.schedule(space)
    items.sort(key=lambda c: (c.id in seen, seen.get(c.id, {}).get("due", "")))
    chosen = items[:count] if len(items) >= 2 else items
    if not chosen:
        return
    console.rule(_("Oral round"))
    for n, card in enumerate(chosen, 1):
        console.print(_("[bold]Question {k}/{n}:[/] {question}").format(
            k=n, n=len(chosen), question=card.question)
                      + (f"\n[dim]{card.source}[/]" if card.source else ""))
        notes = ask(_("Answer aloud or type notes, then Enter: "))
        console.print(docsview.PageMarkdown(docsview.prepare(card.answer, C.answers_folder())))
        rating = None
        while rating is None:
            rating = drill.parse_rating(ask(_("How did you do? 1 again · 2 hard · 3 good · 4 easy: ")))
        drill.review(space, card.id, rating)
        rep.oral.append(Oral(card.id, card.question, notes, rating))


def write_report(space: ws.Workspace, rep: Report) -> tuple[Path, Path]:
    folder = space.root / "interviews"
    stem = datetime.fromisoformat(rep.started).strftime("%Y%m%d-%H%M%S") + f"-{rep.exercise}"
    data = asdict(rep)
    js = folder / f"{stem}.json"
    ws.atomic_write(js, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    result = f"passed in {rep.seconds_to_pass:.0f} s" if rep.passed else "not passed"
    lines = [f"# Interview: {rep.exercise} ({rep.framework})", "",
             f"- started: {rep.started}, {rep.minutes:g} minutes",
             f"- result: {result} (ended: {rep.ended})",
             f"- checks run: {rep.checks_run}",
             f"- checks that failed on the way: {', '.join(rep.failed_on_the_way) or 'none'}", ""]
    if rep.oral:
        lines += ["## Oral round", ""]
        for o in rep.oral:
            lines += [f"- {o.question} — **{drill.RATING_NAMES[o.rating]}**"
                      + (f"  \n  notes: {o.notes}" if o.notes else "")]
    md = folder / f"{stem}.md"
    ws.atomic_write(md, "\n".join(lines) + "\n")
    return js, md


def history(space: ws.Workspace) -> list[dict[str, Any]]:
    out = []
    for path in sorted((space.root / "interviews").glob("*.json")):
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")) | {"file": str(path)})
        except (OSError, ValueError):
            continue
    return out
