"""`resnet-kata`: verbs only. Parse, call the layer below, render.

Exit codes: 0 every check passed (or the verb succeeded); 1 a check failed or
the learner's code broke; 2 a usage error, a missing framework or an internal
error.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from . import catalog, devcheck, docsview, drill, frameworks, report, runner
from . import workspace as ws
from .catalog import CatalogError, Exercise, UnknownExercise
from .choose import UsageError
from .choose import current as _current
from .choose import framework as _framework
from .choose import require_framework as _require_framework
from .choose import resolve as _resolve

OK, FAILED, USAGE = 0, 1, 2


def _console() -> Console:
    return Console(stderr=False, highlight=False, soft_wrap=False)


def _err(msg: str) -> None:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]error:[/] {msg}")


def _workspace(args: argparse.Namespace) -> ws.Workspace:
    space = ws.Workspace(ws.locate(args.workspace))
    space.check_usable()
    space.state  # noqa: B018 - read now so a warning about a corrupt file shows first
    for w in space.warnings:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[yellow]warning:[/] {w}")
    return space


# -- verbs ---------------------------------------------------------------------


def _columns(items: tuple[Exercise, ...]) -> tuple[str, ...]:
    """The frameworks to show a column for: torch and tf, and numpy once an exercise offers it."""
    return tuple(fw for fw in ("torch", "tf", "numpy")
                 if fw != "numpy" or any(fw in ex.frameworks for ex in items))


def cmd_list(args: argparse.Namespace) -> int:
    space = _workspace(args)
    items = catalog.exercises()
    columns = _columns(items)
    rows = []
    for ex in items:
        status = {}
        for fw in columns:
            if fw not in ex.frameworks:
                status[fw] = "n/a"
            elif space.passed(ex.id, fw):
                status[fw] = "passed"
            elif space.file(ex, fw).exists():
                status[fw] = "started"
            else:
                status[fw] = "-"
        rows.append((ex, status))
    if args.json:
        print(json.dumps([
            {"id": ex.id, "title": ex.title, "difficulty": ex.difficulty,
             "frameworks": list(ex.frameworks), "status": st} for ex, st in rows
        ], indent=2))
        return OK
    table = Table(title="resnet-kata exercises")
    table.add_column("id", no_wrap=True, min_width=max(len(ex.id) for ex, _ in rows))  # ids are typed
    table.add_column("title", ratio=1)
    for col in ("difficulty", *columns):
        table.add_column(col, no_wrap=True)
    colours = {"passed": "green", "started": "yellow", "-": "dim", "n/a": "dim"}
    for ex, st in rows:
        table.add_row(ex.id, ex.title, ex.difficulty,
                      *(f"[{colours[st[f]]}]{st[f]}[/]" for f in columns))
    _console().print(table)
    return OK


def cmd_start(args: argparse.Namespace) -> int:
    space = _workspace(args)
    ex = _resolve(args.exercise)
    fw = _framework(ex, args.framework, None)
    path, created = space.start(ex, fw)
    space.set_current(ex.id, fw)
    con = _console()
    con.print(Markdown(ex.statement.read_text(encoding="utf-8")))
    con.rule()
    if created:
        con.print(f"Your file: [bold]{path}[/] (a fresh stub, {frameworks.LABELS[fw]})")
    else:
        con.print(f"Your file: [bold]{path}[/] (kept as it was: start never overwrites)")
    con.print("Edit it, then run [bold]resnet-kata check[/] "
              "(or [bold]resnet-kata watch[/] to re-check on every save).")
    if not frameworks.is_installed(fw) and fw != "numpy":
        con.print(f"[yellow]{frameworks.LABELS[fw]} is not installed yet:[/] "
                  f"{frameworks.install_command(fw)}")
    return OK


MAX_SOURCE_BYTES = 5_000_000  # a learner's file is kilobytes; anything this large is a mistake


def gradable_file(path: Path, what: str) -> Path:
    """`path` if it is a readable regular file of sane size, else a one-line UsageError."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: no such file.") from None
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot be read ({exc.strerror or exc}).") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{what} {path} is a folder; name the Python file inside it.")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{what} {path} exists but is not a regular file (a device, a pipe?); "
                         "name a Python file.")
    if info.st_size > MAX_SOURCE_BYTES:
        raise UsageError(f"{what} {path} is {info.st_size / 1e6:.0f} MB; a solution is a few "
                         "kilobytes of Python. Is it the right file?")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot be read ({exc.strerror or exc}).") from None
    return path


def _run_check(args: argparse.Namespace, space: ws.Workspace, ex: Exercise, fw: str,
               spares: runner.SparePool | None = None, impl: Path | None = None) -> int:
    if impl is not None or args.impl:
        impl = gradable_file(impl or Path(args.impl).expanduser().resolve(), "--impl")
    else:
        impl = space.file(ex, fw)
        if not impl.exists():
            raise UsageError(f"You have not started {ex.id} in {fw} yet: "
                             f"resnet-kata start {ex.id} --framework {fw}")
        gradable_file(impl, "your file")
    _require_framework(fw)
    only = [c for c in (args.only or "").split(",") if c] or None
    con = _console()
    if args.json:
        record = runner.run_check(ex, fw, impl, args.device, args.timeout, only, spares=spares)
        print(report.to_json(record))
    else:
        with report.LiveView(con) as live:
            record = runner.run_check(ex, fw, impl, args.device, args.timeout, only, live, spares)
        report.render(record, con, frameworks.LABELS.get(fw, fw))
    if not args.impl and not record.error_kind.is_kit:
        space.record_result(ex.id, fw, record.status == "pass" and not only)
        if not record.passed and drill.mark_due(space, ex.id) and not args.json:
            con.print(f"[dim]The interview questions of {ex.id} are due again: resnet-kata drill "
                      f"--topic {ex.number}[/]")
    return record.exit_code


def cmd_check(args: argparse.Namespace) -> int:
    space = _workspace(args)
    ex = _current(space, args.exercise)
    fw = _framework(ex, args.framework, space)
    return _run_check(args, space, ex, fw)


def cmd_watch(args: argparse.Namespace) -> int:
    from . import watch

    space = _workspace(args)
    ex = _current(space, args.exercise)
    fw = _framework(ex, args.framework, space)
    path = Path(args.impl).resolve() if args.impl else space.file(ex, fw)
    if not path.exists():
        raise UsageError(f"No file to watch at {path}: resnet-kata start {ex.id} --framework {fw}")
    con = _console()

    def check(target: watch.Target, spares: runner.SparePool) -> int:
        _require_framework(target.framework)
        return _run_check(args, space, target.exercise, target.framework, spares,
                          impl=target.path if args.impl else None)

    def hint(exercise: Exercise) -> None:
        _show_hints(con, space, exercise)

    try:
        return watch.watch(watch.Target(ex, fw, path), space, con, check, hint,
                           poll=args.poll, poll_ms=int(args.interval * 1000), once=args.once)
    except KeyboardInterrupt:
        return OK


def cmd_hint(args: argparse.Namespace) -> int:
    space = _workspace(args)
    _refuse_during_interview(space, "Hints")
    _show_hints(_console(), space, _current(space, args.exercise))
    return OK


def _show_hints(con: Console, space: ws.Workspace, ex: Exercise) -> None:
    """The hints shown so far and the next one."""
    if space.hint_level(ex.id) >= len(ex.hints):
        con.print(f"All {len(ex.hints)} hints for {ex.id} are shown below; next step: "
                  f"resnet-kata docs {ex.id}")
        level = len(ex.hints)
    else:
        level = space.next_hint_level(ex.id, len(ex.hints))
    for i in range(level):
        con.print(f"[bold]Hint {i + 1}/{len(ex.hints)}:[/] {ex.hints[i]}")


def cmd_solution(args: argparse.Namespace) -> int:
    space = _workspace(args)
    _refuse_during_interview(space, "Solutions")
    ex = _resolve(args.exercise)
    fw = _framework(ex, args.framework, space)
    con = _console()
    if not space.passed(ex.id, fw):
        if not args.give_up:
            con.print(f"The solution of {ex.id} opens after you pass it in {fw}. "
                      f"To see it now: resnet-kata solution {ex.id} --give-up")
            return FAILED
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError("--give-up needs a confirmation: add --yes.")
            answer = input(f"Show the {fw} solution of {ex.id} before passing it? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                con.print("Kept hidden. `resnet-kata hint` gives the next hint.")
                return OK
        space.gave_up(ex.id)
    path = ex.solution(fw)
    con.print(f"[bold]{ex.id}[/] reference solution ({frameworks.LABELS[fw]}): {path}")
    con.print(Syntax(path.read_text(encoding="utf-8"), "python", line_numbers=True))
    return OK


def cmd_reset(args: argparse.Namespace) -> int:
    space = _workspace(args)
    ex = _resolve(args.exercise)
    fw = _framework(ex, args.framework, space)
    target = space.file(ex, fw)
    con = _console()
    if target.exists() and not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("reset replaces your file with the stub; confirm with --yes.")
        answer = input(f"Replace {target} with the stub? A backup is kept. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            con.print("Nothing changed.")
            return OK
    backup = space.reset(ex, fw)
    space.set_current(ex.id, fw)
    if backup:
        con.print(f"Your previous file is saved as [bold]{backup}[/]")
    con.print(f"{target} is the stub again.")
    return OK


def cmd_progress(args: argparse.Namespace) -> int:
    space = _workspace(args)
    items = catalog.exercises()
    per_fw = {}
    for fw in _columns(items):
        offered = [ex for ex in items if fw in ex.frameworks]
        per_fw[fw] = (sum(space.passed(ex.id, fw) for ex in offered), len(offered))
    from . import interview

    interviews = interview.history(space)
    passed_interviews = sum(1 for r in interviews if r.get("passed"))
    due = drill.cards_due_count(space)
    reviewed = len(drill.schedule(space))
    if args.json:
        data: dict[str, Any] = {fw: {"passed": p, "total": t} for fw, (p, t) in per_fw.items()}
        data["interviews"] = {"passed": passed_interviews, "total": len(interviews)}
        data["drill"] = {"due": due, "reviewed": reviewed}
        print(json.dumps(data))
        return OK
    con = _console()
    for fw, (p, t) in per_fw.items():
        bar = "█" * p + "░" * (t - p)
        con.print(f"{frameworks.LABELS[fw]:<18} {bar} {p}/{t}")
    con.print(f"Interviews: {passed_interviews} passed of {len(interviews)}")
    con.print(f"Drill: {due} card(s) due now, {reviewed} reviewed so far"
              + (" (resnet-kata drill)" if due else ""))
    cur = space.current()
    if cur:
        con.print(f"Current: {cur[0]} ({cur[1]})")
    return OK


def _doc_pages() -> dict[str, Path]:
    docs = catalog.kit_root() / "docs"
    return {p.stem: p for p in sorted(docs.glob("*.md"))} if docs.is_dir() else {}


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def cmd_docs(args: argparse.Namespace) -> int:
    _refuse_during_interview(_workspace(args), "The docs")
    pages = _doc_pages()
    con = _console()
    if not args.name:
        table = Table(title="resnet-kata docs (resnet-kata docs NAME)")
        table.add_column("name", no_wrap=True, min_width=max(map(len, pages)))
        table.add_column("title", ratio=1)
        for stem, path in pages.items():
            table.add_row(stem, _title(path))
        con.print(table)
        return OK
    key = args.name.strip().lower().replace("-", "_").removesuffix(".md")
    page = pages.get(key)
    if page is None:
        try:
            page = catalog.resolve(key).doc_path()
        except UnknownExercise:
            topical = [s for s in pages if key in s]
            if len(topical) == 1:
                page = pages[topical[0]]
            else:
                close = difflib.get_close_matches(key, list(pages), n=3, cutoff=0.5) or topical[:3]
                hint = f" Did you mean: {', '.join(close)}?" if close else ""
                raise UsageError(f"No docs page named {args.name!r}.{hint}") from None
    if not page.exists():
        raise UsageError(f"The page {page.name} is missing from docs/.")
    docsview.show(con, page, pager=not args.no_pager)
    return OK


def cmd_notebook(args: argparse.Namespace) -> int:
    try:
        import nbformat  # noqa: F401

        from . import notebook
    except ImportError:
        raise UsageError('the notebook route needs its extra: pip install -e ".[notebook]"') from None
    space = _workspace(args)
    ex = _resolve(args.exercise)
    fw = _framework(ex, args.framework, space)
    path, created = notebook.write(space, ex, fw)
    con = _console()
    state = "written" if created else "kept as it was: never overwritten"
    con.print(f"Notebook: [bold]{path}[/] ({state})")
    con.print(f"Open it with [bold]jupyter lab {path}[/] (or VS Code), run the cells, and grade the "
              "stub cell until it passes.")
    return OK


def _ask(prompt: str) -> str:
    """A line from standard input (a terminal or a pipe); EOF ends the session."""
    try:
        return input(prompt)
    except EOFError:
        raise KeyboardInterrupt from None


def _refuse_during_interview(space: ws.Workspace, what: str) -> None:
    from . import interview

    under_way = interview.active(space)
    if under_way:
        raise UsageError(f"{what} are not available during an interview ({under_way['exercise']}, "
                         f"until {under_way['until'][11:16]} UTC). Finish or stop it (Ctrl-C) first.")


def cmd_interview(args: argparse.Namespace) -> int:
    from . import interview

    space = _workspace(args)
    con = _console()
    if args.history:
        rows = interview.history(space)
        if args.json:
            print(json.dumps(rows, indent=2, ensure_ascii=False))
            return OK
        table = Table(title="Interviews")
        for col in ("started", "exercise", "framework", "result", "checks", "oral"):
            table.add_column(col)
        for r in rows:
            result = (f"passed in {r['seconds_to_pass']:.0f} s" if r["passed"]
                      else f"not passed ({r['ended']})")
            oral = ", ".join(drill.RATING_NAMES[o["rating"]] for o in r["oral"]) or "-"
            table.add_row(r["started"][:16].replace("T", " "), r["exercise"], r["framework"], result,
                          str(r["checks_run"]), oral)
        con.print(table if rows else "No interviews yet: resnet-kata interview")
        return OK
    if args.exercise:
        ex = _resolve(args.exercise)
        fw = _framework(ex, args.framework, space)
    else:
        picked = interview.pick(space, args.framework)
        if picked is None:
            raise UsageError("every exercise is passed; name one: resnet-kata interview 04")
        ex, fw = picked
    _require_framework(fw)
    minutes = args.minutes if args.minutes is not None else interview.MINUTES[ex.difficulty]
    if minutes <= 0:
        raise UsageError("--minutes must be positive")
    interactive = sys.stdin.isatty() and con.is_terminal
    rep, path = interview.coding_round(space, ex, fw, minutes, con, interactive, poll=args.poll)
    if rep.ended != "interrupted":
        try:
            interview.oral_round(space, ex, rep, con, _ask)
        except KeyboardInterrupt:
            con.print("[dim]Oral round stopped.[/]")
    js, md = interview.write_report(space, rep)
    con.print(f"Report: [bold]{md}[/] (and {js.name})")
    return OK if rep.passed else FAILED


def cmd_drill(args: argparse.Namespace) -> int:
    space = _workspace(args)
    con = _console()
    at = drill.now()
    if args.list:
        rows = [r for r in drill.listing(space, at)
                if not args.topic or args.topic in r["id"] or any(args.topic in e for e in r["exercises"])]
        if args.json:
            print(json.dumps(rows, indent=2, ensure_ascii=False))
            return OK
        table = Table(title=f"Drill cards ({sum(r['reviewed'] for r in rows)} reviewed of {len(rows)})")
        table.add_column("due", no_wrap=True)
        table.add_column("card", overflow="fold")
        table.add_column("exercises", overflow="fold")
        for r in sorted(rows, key=lambda r: (r["due"] is None, r["due"] or "")):
            table.add_row(drill.when(r["due"], at), r["question"], ", ".join(r["exercises"]))
        con.print(table)
        return OK
    items = drill.due(space, at, new=args.new, topic=args.topic)
    if args.json:
        print(json.dumps(drill.as_json(items), indent=2, ensure_ascii=False))
        return OK
    if not items:
        con.print("Nothing is due. `resnet-kata drill --list` shows when each card is.")
        return OK
    docs = catalog.kit_root() / "docs"
    done = 0
    try:
        for n, card in enumerate(items, 1):
            con.rule(f"card {n}/{len(items)} · {', '.join(card.exercises) or card.topic}")
            con.print(f"[bold]{card.question}[/]" + (f"\n[dim]{card.source}[/]" if card.source else ""))
            _ask("Answer it (aloud, or type notes), then press Enter for the model answer: ")
            con.print(docsview.PageMarkdown(docsview.prepare(card.answer, docs)))
            rating = None
            while rating is None:
                rating = drill.parse_rating(_ask("How did you do? 1 again · 2 hard · 3 good · 4 easy: "))
            next_due = drill.review(space, card.id, rating, at=drill.now())
            con.print(f"[dim]Next time: {drill.when(next_due.isoformat(), drill.now())}.[/]")
            done += 1
    except KeyboardInterrupt:
        pass
    con.print(f"{done} card(s) reviewed; the schedule is saved.")
    return OK


def cmd_doctor(args: argparse.Namespace) -> int:
    con = _console()
    table = Table(title="resnet-kata doctor", show_header=False)
    table.add_column()
    table.add_column()
    table.add_row("Python", f"{sys.version.split()[0]} ({sys.executable})")
    try:
        root = catalog.kit_root()
        table.add_row("Kit", f"{root} ({len(catalog.exercises())} exercises)")
    except CatalogError as exc:
        table.add_row("Kit", f"[red]{exc}[/]")
    space = _workspace(args)
    table.add_row("Workspace", f"{space.root}" + ("" if space.root.exists() else " (not created yet)"))
    table.add_row("State", "ok" if not space.warnings else "[yellow]was corrupt, set aside[/]")
    for fw in ("torch", "tf"):
        fi = frameworks.info(fw)
        value = f"[green]{fi.version}[/]" if fi.installed else f"[red]missing[/]: {fi.install_command}"
        table.add_row(fi.label, value)
    table.add_row("CUDA", _probe_cuda() if frameworks.is_installed("torch") else "n/a (no torch)")
    con.print(table)
    return OK


def _probe_cuda() -> str:
    code = ("import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() "
            "else 'not available (checks run on the CPU)')")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60)
        return out.stdout.strip() or f"probe failed: {out.stderr.strip()[-200:]}"
    except subprocess.TimeoutExpired:
        return "probe timed out"


def cmd_dev_check(args: argparse.Namespace) -> int:
    items = devcheck.exercises_in(Path(d) for d in args.dirs)
    if not items:
        raise UsageError("no exercise folders (with a kata.toml) found there")
    con = _console()

    def show(f: devcheck.Finding) -> None:
        if args.json:
            return
        mark = "[green]ok[/]  " if f.ok else "[red]FAIL[/]"
        con.print(f"{mark} {f.exercise}")
        for line in f.problems:
            con.print(f"       [red]-[/] {escape(line)}")
        for line in f.notes:
            con.print(f"       [dim]{escape(line)}[/]")

    findings = devcheck.run(items, jobs=args.jobs or None, on_done=show)
    bad = [f for f in findings if not f.ok]
    if args.json:
        print(json.dumps([{"exercise": f.exercise, "ok": f.ok, "problems": f.problems,
                           "notes": f.notes} for f in findings], indent=2))
    else:
        con.print(f"{len(findings) - len(bad)}/{len(findings)} exercises sound"
                  + (f"; to fix: {', '.join(f.exercise for f in bad)}" if bad else ""))
    return FAILED if bad else OK


# -- parser ----------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error printed as one line (and exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _err(f"{message} (see `{self.prog} --help`)")
        raise SystemExit(USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="resnet-kata",
        description="ResNet interview katas: implement, check, read the questions.",
    )
    parser.add_argument("--workspace", help=f"your exercise files and state (default "
                        f"<kit>/workspace, or ${ws.ENV})")
    parser.add_argument("--exercises", action="append", default=[], metavar="DIR",
                        help=f"also use the exercise folders in DIR (a pack; repeatable; "
                        f"or ${catalog.PATH_ENV}, {os.pathsep}-separated)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    def verb(name: str, help_: str, fn, exercise: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(fn=fn)
        if exercise == "required":
            p.add_argument("exercise", help="id (NN_slug), number (NN) or slug")
        elif exercise == "optional":
            p.add_argument("exercise", nargs="?", help="default: the current exercise")
        return p

    p = verb("list", "List the exercises with their status per framework.", cmd_list)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = verb("start", "Copy an exercise's stub into your workspace and show its statement.",
             cmd_start, "required")
    p.add_argument("--framework", "-f", choices=("torch", "tf", "numpy"))

    for name, help_, fn in (
        ("check", "Grade your file (or --impl PATH) for an exercise.", cmd_check),
        ("watch", "Re-check the current exercise every time its file is saved.", cmd_watch),
    ):
        p = verb(name, help_, fn, "optional")
        p.add_argument("--framework", "-f", choices=("torch", "tf", "numpy"))
        p.add_argument("--impl", help="grade this file instead of your workspace file")
        p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                       help="torch checks run on CUDA when available (auto)")
        p.add_argument("--json", action="store_true", help="print the result record as JSON")
        p.add_argument("--timeout", type=float, help="seconds (default: the exercise's budget)")
        p.add_argument("--only", help="comma-separated check names to run")
        if name == "watch":
            p.add_argument("--poll", action="store_true",
                           help="poll for changes (file systems without events: network, WSL mounts)")
            p.add_argument("--interval", type=float, default=0.3, help="seconds between polls (--poll)")
            p.add_argument("--once", action="store_true", help="stop after the first check")

    verb("hint", "Show the next of up to three progressive hints.", cmd_hint, "optional")

    p = verb("solution", "Show the reference solution (after a pass, or with --give-up).",
             cmd_solution, "required")
    p.add_argument("--framework", "-f", choices=("torch", "tf", "numpy"))
    p.add_argument("--give-up", action="store_true", help="show it before passing")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    p = verb("reset", "Put the stub back; your file is kept as a backup.", cmd_reset, "required")
    p.add_argument("--framework", "-f", choices=("torch", "tf", "numpy"))
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    p = verb("progress", "Your progress per framework.", cmd_progress)
    p.add_argument("--json", action="store_true")

    p = verb("interview", "A timed coding round with no hints, then an oral round, and a report.",
             cmd_interview, "optional")
    p.add_argument("--framework", "-f", choices=("torch", "tf", "numpy"))
    p.add_argument("--minutes", type=float, help="default by difficulty: easy 20, medium 30, hard 45")
    p.add_argument("--history", action="store_true", help="list the interviews so far")
    p.add_argument("--json", action="store_true", help="with --history: print JSON")
    p.add_argument("--poll", action="store_true", help="poll for saves (file systems without events)")

    p = verb("drill", "Flashcards of the interview questions, scheduled by spaced repetition (FSRS).",
             cmd_drill)
    p.add_argument("--new", type=int, default=10, help="new cards at most in this session (10)")
    p.add_argument("--topic", help="only cards of this exercise or page (e.g. 03, batchnorm)")
    p.add_argument("--list", action="store_true", help="every card and when it is due")
    p.add_argument("--json", action="store_true", help="print JSON and ask nothing")

    p = verb("notebook", "Write the exercise as a Jupyter notebook (graded with %%%%kata).",
             cmd_notebook, "required")
    p.add_argument("--framework", "-f", choices=("torch", "tf", "numpy"))

    p = verb("docs", "List the docs pages, or render one (exercise id or topic).", cmd_docs)
    p.add_argument("name", nargs="?")
    p.add_argument("--no-pager", action="store_true", help="print the whole page, never page it")

    verb("doctor", "Python, frameworks, CUDA and workspace: what the kit sees.", cmd_doctor)

    dev = sub.add_parser("dev", help="For maintainers and pack authors.",
                         description="For maintainers and pack authors.")
    dev_sub = dev.add_subparsers(dest="dev_verb", metavar="DEV_VERB")
    p = dev_sub.add_parser(
        "check", help="Check exercises: manifests, declared files, failing stubs, passing solutions.",
        description="Every manifest valid, every file of a folder declared, every untouched stub "
        "failing with messages, every solution passing. Exit 0 when all are sound, else 1.")
    p.set_defaults(fn=cmd_dev_check)
    p.add_argument("dirs", nargs="*", metavar="DIR",
                   help="a pack or one exercise folder (default: the whole catalogue)")
    p.add_argument("--jobs", "-j", type=int, default=0, help="gradings at once (default: the CPUs)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    dev.set_defaults(fn=lambda args: (dev.print_help(), USAGE)[1])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return USAGE
    try:
        for folder in args.exercises:
            catalog.add_path(folder)
        return args.fn(args)
    except UsageError as exc:
        _err(str(exc))
        return USAGE
    except CatalogError as exc:
        _err(f"an exercise folder is broken: {exc}")
        return USAGE
    except ws.WorkspaceError as exc:
        _err(str(exc))
        return USAGE
    except KeyboardInterrupt:
        return FAILED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK


if __name__ == "__main__":
    sys.exit(main())
